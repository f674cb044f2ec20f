"""The data-file datasets: csv, parquet, npz, image_folder; their encoding, and clear
errors for bad data (exit 2 at the command line)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import automl.plugin.host
from automl.cli import main
from automl.engine.controller import search
from automl.errors import DataError
from automl.plugin.testing import check_dataset, plugin_host
from automl.spec import load_spec
from automl_plugins import data_files
from automl_plugins.data_files import load_csv, load_image_folder, load_npz, load_parquet


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


MIXED = """
    size,color,flag,label
    1.5,red,true,cat
    2.0,blue,false,dog
    ,red,true,cat
    4.0,,false,dog
    5.5,blue,true,cat
    6.0,red,false,dog
    """


def test_csv_numeric_boolean_and_categorical_columns(tmp_path: Path) -> None:
    ds = load_csv(path=str(write(tmp_path, MIXED)), target="label")
    assert ds.name == "data" and ds.task == "classification"
    assert ds.feature_names == ("size", "flag", "color=(missing)", "color=blue", "color=red")
    assert ds.class_names == ("cat", "dog")
    assert ds.y.tolist() == [0, 1, 0, 1, 0, 1]
    assert ds.x.dtype == np.float32 and ds.x.shape == (6, 5)
    assert np.isnan(ds.x[2, 0])  # a missing number stays missing: imputed per trial
    assert ds.x[:, 1].tolist() == [1, 0, 1, 0, 1, 0]
    assert ds.x[3, 2:].tolist() == [1, 0, 0]  # a missing category is a category
    assert ds.x[0, 2:].tolist() == [0, 0, 1]


def test_the_encoding_of_a_row_does_not_depend_on_other_rows_values(tmp_path: Path) -> None:
    # Nothing is fitted from value statistics in the loader, so what the engine later
    # splits off as validation or test cannot leak into the training rows.
    a = load_csv(path=str(write(tmp_path, MIXED, "a.csv")), target="label")
    changed = MIXED.replace("5.5,blue", "550.0,blue").replace("6.0,red", "-9.0,red")
    b = load_csv(path=str(write(tmp_path, changed, "b.csv")), target="label")
    np.testing.assert_array_equal(a.x[:4], b.x[:4])


def test_the_csv_loader_keeps_the_dataset_contract(tmp_path: Path) -> None:
    rows = "".join(f"{i * 0.5},{'red' if i % 3 else 'blue'},{i % 2 == 0},"
                   f"{'cat' if i % 2 else 'dog'}\n" for i in range(40))
    csv = write(tmp_path, "size,color,flag,label\n" + rows)
    ds = check_dataset(plugin_host(data_files).datasets.get("csv"), path=str(csv),
                       target="label", drop=["flag"])
    assert ds.feature_names == ("size", "color=blue", "color=red")


@pytest.mark.parametrize(("target", "args", "task", "classes"), [
    ("0\n1\n2\n" * 4, {}, "classification", ("0", "1", "2")),
    ("0.5\n1.25\n2\n" * 4, {}, "regression", ()),
    ("0\n1\n2\n" * 4, {"task": "regression"}, "regression", ()),
    ("0\n1\n2\n" * 4, {"classes": [2, 0, 1]}, "classification", ("2", "0", "1")),
    ("".join(f"{i}\n" for i in range(30)) * 2, {}, "regression", ()),  # > 20 integer values
    ("b\na\nc\n" * 4, {"classes": ["c", "b", "a"]}, "classification", ("c", "b", "a")),
])
def test_the_task_and_the_class_order(tmp_path: Path, target: str, args: dict[str, Any],
                                      task: str, classes: tuple[str, ...]) -> None:
    rows = target.strip().split("\n")
    text = "x,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(rows))
    ds = load_csv(path=str(write(tmp_path, text)), target="y", **args)
    assert ds.task == task and ds.class_names == classes
    if classes:
        assert [ds.class_names[i] for i in ds.y[:3]] == rows[:3]


@pytest.mark.parametrize(("text", "args", "message"), [
    (None, {}, "not found"),
    ("", {}, "is empty"),
    ("a,b,label\n", {}, "header but no data rows"),
    ("a,b,labl\n1,2,x\n3,4,y\n", {}, "no target column 'label' (did you mean 'labl'?)"),
    ("a,label\n1,x\n2,\n3,y\n4,x\n5,y\n", {}, "missing in 1 row(s) (rows 2)"),
    ("a,label\n1,x\n2,x\n3,y\n4,y\n5,z\n", {}, "class 'z' of target column 'label' has a "
                                              "single row"),
    ("a,label\n1,x\n2,x\n", {}, "single class ('x')"),
    ("a,label\n1,x\n2,y\n", {"task": "regression"}, "not numeric (for example 'x')"),
    ("a,label\n1,x\n2,y\n", {"task": "ordinal"}, "task must be classification or regression"),
    ("".join(["a,label\n", *[f"{i},{i % 2}\n" for i in range(30)], "?,1\n"]), {},
     "column 'a' is numeric but for 1 value(s) such as '?' (rows 31); mark them missing"),
    ("".join(["id,label\n", *[f"u{i},{i % 2}\n" for i in range(30)]]), {"max_categories": 10},
     "'id' has 30 distinct values"),
    ("a,label\n1,x\n2,y\n", {"drop": ["b"]}, "drop names column 'b'"),
    ("a,label\n1,x\n2,y\n", {"categorical": "label"}, "cannot be a feature"),
    ("a,label\n1,x\n2,y\n3,x\n4,y\n", {"classes": ["x"]}, "missing from classes: y"),
    ("a,label\n1,x\n2,y\n3,x\n4,y\n", {"classes": ["x", "y", "z"]}, "lists z, which no row"),
    ("a,b,label\n,1,x\n,2,y\n,1,x\n,2,y\n", {"features": ["a"]}, "no feature columns left"),
])
def test_bad_csv_files_get_one_clear_message(tmp_path: Path, text: str | None,
                                             args: dict[str, Any], message: str) -> None:
    path = tmp_path / "data.csv" if text is None else write(tmp_path, text)
    with pytest.raises(DataError) as exc:
        load_csv(path=str(path), target="label", **args)
    assert message in str(exc.value)


def test_na_values_mark_a_stray_string_missing(tmp_path: Path) -> None:
    text = "".join(["a,label\n", *[f"{i},{i % 2}\n" for i in range(30)], "?,1\n"])
    ds = load_csv(path=str(write(tmp_path, text)), target="label", na_values=["?"])
    assert np.isnan(ds.x[-1, 0]) and ds.feature_names == ("a",)


def test_an_all_empty_column_is_dropped_with_a_warning(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    ds = load_csv(path=str(write(tmp_path, "a,b,label\n1,,x\n2,,y\n3,,x\n4,,y\n")),
                  target="label")
    assert ds.feature_names == ("a",)
    assert "data.csv': column(s) b hold no values and are dropped" in caplog.text


def test_a_bad_csv_is_exit_2_with_one_line_at_the_command_line(
        tmp_path: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automl.plugin.host, "_default", None)
    write(in_tmp, "a,labl\n1,x\n2,y\n")
    spec = write(in_tmp, """
        trainer: logistic
        dataset: {name: csv, path: data.csv, target: label}
        """, "spec.yaml")
    result = CliRunner().invoke(main, ["search", "--space", str(spec)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("error: csv file 'data.csv': no target column 'label' "
                                     "(did you mean 'labl'?); columns: a, labl")


# -- parquet -------------------------------------------------------------------------------------

def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    csv = write(tmp_path, MIXED)
    frame = pd.read_csv(csv)
    frame.to_parquet(tmp_path / "data.parquet")
    a = load_csv(path=str(csv), target="label")
    b = load_parquet(path=str(tmp_path / "data.parquet"), target="label")
    assert a.feature_names == b.feature_names and a.class_names == b.class_names
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


def test_parquet_dates_are_refused_with_a_hint(tmp_path: Path) -> None:
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=4), "v": [1, 2, 3, 4],
                          "label": ["a", "b", "a", "b"]})
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"'when' holds dates.*drop: \[when\]"):
        load_parquet(path=str(tmp_path / "d.parquet"), target="label")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")

    def no_engine(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow'")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(DataError, match=r"needs pyarrow: pip install 'automl\[parquet\]'"):
        load_parquet(path=str(path), target="y")


def test_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b\n1,2\n", "fake.parquet")
    with pytest.raises(DataError, match="'.*fake.parquet' cannot be read as parquet"):
        load_parquet(path=str(path), target="b")


# -- npz -----------------------------------------------------------------------------------------

def test_npz_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", feats=rng.normal(size=(12, 3)),
             labels=np.array(["no", "yes", "maybe"] * 4))
    ds = load_npz(path=str(tmp_path / "a.npz"), x="feats", y="labels")
    assert ds.x.shape == (12, 3) and ds.x.dtype == np.float32
    assert ds.class_names == ("maybe", "no", "yes") and ds.y[:3].tolist() == [1, 2, 0]
    check_dataset(ds)


def test_npz_images_get_a_channel_and_float_targets_are_regression(tmp_path: Path) -> None:
    np.savez(tmp_path / "i.npz", x=np.zeros((10, 5, 5), np.uint8), y=np.linspace(0, 1, 10))
    ds = load_npz(path=str(tmp_path / "i.npz"))
    assert ds.x.shape == (10, 1, 5, 5) and ds.task == "regression"


@pytest.mark.parametrize(("arrays", "args", "message"), [
    ({"x": np.zeros((4, 2)), "y": np.arange(4)}, {"y": "labels"},
     "has no array 'labels' (set y: to one of x, y)"),
    ({"x": np.zeros((4, 2)), "y": np.arange(3)}, {}, "4 rows in 'x' but 3 in 'y'"),
    ({"x": np.array([["a"], ["b"]]), "y": np.arange(2)}, {}, "is <U1, not numbers"),
    ({"x": np.array([[np.inf], [1.0]]), "y": np.arange(2)}, {}, "infinite values"),
    ({"x": np.zeros((4, 2)), "y": np.zeros((4, 2))}, {}, "must be 1-D"),
    ({"x": np.zeros((4, 2)), "y": np.array([0.0, np.nan, 1.0, 1.0])}, {},
     "missing in 1 row(s) (rows 2)"),
    ({"x": np.zeros((4, 2)), "y": np.array([{}, {}, {}, {}], dtype=object)}, {},
     "array 'y' holds Python objects"),
])
def test_bad_npz_files(tmp_path: Path, arrays: dict[str, np.ndarray], args: dict[str, Any],
                       message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as exc:
        load_npz(path=str(tmp_path / "bad.npz"), **args)
    assert message in str(exc.value)


def test_a_single_npy_array_is_explained(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match="holds a single array"):
        load_npz(path=str(tmp_path / "one.npy"))


# -- image folders ---------------------------------------------------------------------------------

def make_images(root: Path, classes: dict[str, int], mode: str = "L",
                size: tuple[int, int] = (12, 10)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for index, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            channels = () if mode == "L" else (3,)
            pixels = (rng.random((size[1], size[0], *channels)) * 60 + 80 * index)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_image_folder_gray_images(tmp_path: Path) -> None:
    root = make_images(tmp_path / "imgs", {"circle": 4, "square": 3})
    ds = load_image_folder(path=str(root), size=8)
    assert ds.x.shape == (7, 1, 8, 8) and ds.x.dtype == np.float32
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert ds.class_names == ("circle", "square") and ds.y.tolist() == [0] * 4 + [1] * 3
    assert ds.x[ds.y == 1].mean() > ds.x[ds.y == 0].mean()  # class 1 was drawn brighter
    check_dataset(ds)


def test_image_folder_color_and_size(tmp_path: Path) -> None:
    root = make_images(tmp_path / "imgs", {"a": 2, "b": 2}, mode="RGB")
    assert load_image_folder(path=str(root), size=[6, 9]).x.shape == (4, 3, 6, 9)
    assert load_image_folder(path=str(root), size=5, color="gray").x.shape == (4, 1, 5, 5)


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda r: make_images(r, {"only": 3}), {}, "has 1 class folder(s)"),
    (lambda r: (make_images(r, {"a": 2}), (r / "b").mkdir()), {}, "'b' holds no images"),
    (lambda r: make_images(r, {"a": 2, "b": 1}), {}, "class 'b' has a single image"),
    (lambda r: (make_images(r, {"a": 2, "b": 2}), (r / "b" / "9.png").write_text("no")), {},
     "cannot read image"),
    (lambda r: make_images(r, {"a": 2, "b": 2}), {"size": [0, 4]}, "size must be"),
    (lambda r: make_images(r, {"a": 2, "b": 2}), {"color": "cmyk"}, "color must be"),
])
def test_bad_image_folders(tmp_path: Path, setup: Callable[[Path], Any], args: dict[str, Any],
                           message: str) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    setup(root)
    with pytest.raises(DataError) as exc:
        load_image_folder(path=str(root), **args)
    assert message in str(exc.value)


def test_image_folder_without_pillow_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match=r"needs Pillow: pip install 'automl\[images\]'"):
        load_image_folder(path=str(tmp_path))


@pytest.mark.slow
def test_an_image_folder_trains_the_cnn(tmp_path: Path, in_tmp: Path) -> None:
    root = make_images(tmp_path / "imgs", {"dark": 12, "light": 12})
    spec_path = write(tmp_path, f"""
        study: images
        trainer: cnn
        dataset: {{name: image_folder, path: {root}, size: 8}}
        split: {{val: 0.25, test: 0.25}}
        budget: {{trials: 2, max_epochs: 10}}
        pruner: {{name: none}}
        execution: {{workers: 0}}
        params:
          lr: 0.01
          batch_size: 4
        """, "images.yaml")
    result = search(load_spec(spec_path), plugin_host(entry_points=True))
    assert result.counts == {"complete": 2}
    # dark against light images is separable: a CNN that learns gets every one right
    assert result.best is not None and result.best["metrics"]["val_accuracy"] == 1.0
