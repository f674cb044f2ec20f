"""Hostile data files (issue 15, class 7): CSV, Parquet, ``.npy`` and ``.npz`` files with
infinite values, the wrong separator or encoding, binary garbage, nested or complex
values, 0-d arrays, array headers that claim terabytes, or nothing in them. Both readers
(the dataset loaders of ``automl search`` and ``automl predict --data``) answer exit 2 with
one line naming the file and the problem, before any trial runs, within bounded memory."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import automl
import automl.plugin.host
from automl.cli import main
from automl.errors import DataError
from automl.models.model import iter_chunks
from automl.tables import check_array_file
from tests.helpers import REPO

TERABYTES = (10**7, 10**6)  # float64: 80 TB


def _forged_npy(shape: tuple[int, ...] = TERABYTES, dtype: str = "<f8") -> bytes:
    """A valid .npy header that claims ``shape`` of ``dtype``, and 64 bytes of data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return out.getvalue() + b"\0" * 64


def _npz(path: Path, **arrays: Any) -> None:
    np.savez(path, **arrays)


def _forged_npz(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", _forged_npy())
        zf.writestr("y.npy", _forged_npy((10**7,)))


def _csv(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(textwrap.dedent(text).lstrip().encode(encoding))


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _parquet(frame: dict[str, Any]) -> Callable[[Path], None]:
    return lambda path: pd.DataFrame(frame).to_parquet(path)


ROWS = "1,2,x\n2,3,y\n3,4,x\n4,5,y\n5,6,x\n6,7,y\n"
LABELS = ["x", "y"] * 3
Y = np.array([0, 1] * 3)

# name -> (file name, how to write it, words the message must hold)
TABLES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "csv-infinite": ("data.csv", _csv("a,b,label\n1,inf,x\n" + ROWS), "infinite values"),
    "csv-minus-infinite": ("data.csv", _csv("a,b,label\n-inf,1,x\n" + ROWS),
                           "infinite values"),
    "csv-latin-1": ("data.csv", _csv("a,b,label\n1,2,café\n" + ROWS, "latin-1"),
                    "not utf-8 text"),
    "csv-utf-16": ("data.csv", _csv("a,b,label\n" + ROWS, "utf-16"), "UTF-16"),
    "csv-binary": ("data.csv", _bytes(os.urandom(4096) + b"\x00"), "binary data"),
    "csv-semicolons": ("data.csv", _csv("a;b;label\n" + ROWS.replace(",", ";")),
                       "separator looks like semicolon"),
    "csv-tabs": ("data.csv", _csv("a\tb\tlabel\n" + ROWS.replace(",", "\t")),
                 "separator looks like tab"),
    "csv-empty": ("data.csv", _bytes(b""), "empty"),
    "parquet-lists": ("data.parquet", _parquet({"a": [[1, 2], [3]] * 3, "b": [1.0] * 6,
                                                "label": LABELS}), "holds ndarray values"),
    "parquet-dicts": ("data.parquet", _parquet({"a": [{"k": 1}] * 6, "b": [1.0] * 6,
                                                "label": LABELS}), "holds dict values"),
    "parquet-infinite": ("data.parquet", _parquet({"a": [1.0, np.inf] * 3, "label": LABELS}),
                         "infinite values"),
    "parquet-empty": ("data.parquet", _bytes(b""), "0 bytes"),
    "parquet-garbage": ("data.parquet", _bytes(os.urandom(2048)), "cannot be read"),
}
ARRAYS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "npz-header-claims-terabytes": ("data.npz", _forged_npz, "claims shape"),
    "npz-complex": ("data.npz", lambda p: _npz(p, x=np.ones((6, 2)) * 1j, y=Y),
                    "complex numbers"),
    "npz-0d-x": ("data.npz", lambda p: _npz(p, x=np.array(5.0), y=Y), "0-d"),
    "npz-infinite": ("data.npz", lambda p: _npz(p, x=np.array([[1.0, np.inf]] * 6), y=Y),
                     "infinite values"),
    "npz-objects": ("data.npz", lambda p: _npz(p, x=np.array([[1], [1, 2]] * 3, dtype=object),
                                               y=Y), "Python objects"),
    "npz-empty": ("data.npz", _bytes(b""), "cannot be read"),
}
DATASETS = {".csv": "{name: csv, path: %s, target: label}",
            ".parquet": "{name: parquet, path: %s, target: label}",
            ".npz": "{name: npz, path: %s}"}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line(result: Any, name: str, words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert name in lines[0] and words in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("case", [*TABLES, *ARRAYS])
def test_search_refuses_the_file_before_any_trial(in_tmp: Path, monkeypatch: pytest.MonkeyPatch,
                                                  case: str) -> None:
    monkeypatch.setattr(automl.plugin.host, "_default", None)
    name, make, words = {**TABLES, **ARRAYS}[case]
    make(in_tmp / name)
    trainer = "mlp" if name.endswith(".npz") else "logistic"
    (in_tmp / "spec.yaml").write_text(
        f"study: hostile\ntrainer: {trainer}\ndataset: {DATASETS[Path(name).suffix] % name}\n"
        "budget: {trials: 1, max_epochs: 1}\nexecution: {workers: 0}\n")
    before = _files(in_tmp)
    result = CliRunner().invoke(main, ["search", "--space", "spec.yaml"])
    line = _one_line(result, name, words)
    if case in ("parquet-lists", "parquet-dicts"):  # what to set in the spec to leave it out
        assert "(drop: [a])" in line
    if case.endswith("infinite") and case.startswith(("csv", "parquet")):
        assert "mark them missing or drop the column" in line
    assert _files(in_tmp) == before  # no reports/, no study.db: no trial ran


# -- automl predict --data ------------------------------------------------------------------
PREDICT_ONLY: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "npy-header-claims-terabytes": ("new.npy", _bytes(_forged_npy()), "claims shape"),
    "npy-0d": ("new.npy", lambda p: np.save(p, np.array(3.0)), "0-d"),
    "npy-complex": ("new.npy", lambda p: np.save(p, np.ones((3, 2)) * 1j), "complex numbers"),
    "npy-objects": ("new.npy", _bytes(_forged_npy((3,), "|O")), "Python objects"),
    "npy-truncated": ("new.npy", _bytes(_forged_npy((1000, 4))), "claims shape"),
    "npz-header-claims-terabytes": ("new.npz", _forged_npz, "claims shape"),
    "npz-0d": ("new.npz", lambda p: _npz(p, x=np.array(5.0)), "0-d"),
    "npz-complex": ("new.npz", lambda p: _npz(p, x=np.ones((3, 2)) * 1j), "complex numbers"),
    "npz-empty": ("new.npz", _bytes(b""), "cannot be read"),
}
PREDICT_ONLY["npy-infinite"] = ("new.npy", lambda p: np.save(p, np.array([[1.0, -np.inf]])),
                                "infinite values")
PREDICT_TABLES = dict(TABLES)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A model of a small CSV (columns a, b; target label)."""
    root = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    a = rng.normal(size=60)
    pd.DataFrame({"a": a, "b": rng.normal(size=60), "label": np.where(a > 0, "x", "y")}
                 ).to_csv(root / "train.csv", index=False)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        automl.search({"study": "m", "trainer": "logistic",
                       "dataset": {"name": "csv", "path": "train.csv", "target": "label"},
                       "budget": {"trials": 1}, "execution": {"workers": 0}}, progress=False)
    finally:
        os.chdir(cwd)
    yield root / "reports" / "m"


@pytest.mark.parametrize("case", [*PREDICT_TABLES, *PREDICT_ONLY])
def test_predict_refuses_the_file_with_one_line(in_tmp: Path, model_dir: Path,
                                                case: str) -> None:
    name, make, words = {**PREDICT_TABLES, **PREDICT_ONLY}[case]
    name = "new" + Path(name).suffix
    make(in_tmp / name)
    before = _files(in_tmp)
    result = CliRunner().invoke(main, ["predict", str(model_dir), "--data", name,
                                       "--out", "p.csv"])
    line = _one_line(result, name, words)
    assert "drop:" not in line and "dataset." not in line  # predict has no spec to edit
    assert _files(in_tmp) == before  # no predictions, not even a half file


def _chunked_csv(path: Path, bad_row: int | None = None, value: str = "inf") -> None:
    """120 rows of columns a, b; data row ``bad_row`` (1-based, after the header) holds
    ``value`` in column a."""
    lines = ["a,b"] + [f"{i / 100},{1 - i / 100}" for i in range(120)]
    if bad_row is not None:
        lines[bad_row] = f"{value},0.5"
    path.write_text("\n".join(lines) + "\n")


def _small_chunks(monkeypatch: pytest.MonkeyPatch, rows: int = 50) -> None:
    """``automl predict`` reads its CSV in chunks of ``rows`` rows."""
    import functools

    import automl.models.model

    monkeypatch.setattr(automl.models.model, "iter_chunks",
                        functools.partial(automl.models.model.iter_chunks, rows=rows))


def _count_finite_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import automl.tables

    calls: list[int] = []
    check = automl.tables.check_finite

    def counted(data: Any, source: str, *args: Any, **kwargs: Any) -> None:
        calls.append(len(data))
        check(data, source, *args, **kwargs)

    monkeypatch.setattr(automl.tables, "check_finite", counted)
    return calls


@pytest.mark.parametrize(("value", "words"), [
    ("inf", "column 'a' holds infinite values (rows 55)"),
    ("oops", "column 'a' must be numeric, but row 55 holds 'oops'"),
])
def test_a_bad_value_past_the_first_chunk_is_named_by_its_file_row(
        in_tmp: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str,
        words: str) -> None:
    _small_chunks(monkeypatch)  # rows 51-100: the 2nd chunk
    calls = _count_finite_checks(monkeypatch)
    _chunked_csv(in_tmp / "new.csv", bad_row=55, value=value)
    result = CliRunner().invoke(main, ["predict", str(model_dir), "--data", "new.csv",
                                       "--out", "p.csv"])
    line = _one_line(result, "new.csv", words)  # not "(rows 5)": the chunk's own count
    assert line == f"error: new.csv: {words}"
    assert calls == [50, 50]  # each chunk checked once (the 2nd refused), not twice


def test_a_csv_read_in_chunks_is_checked_once_per_chunk(
        in_tmp: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_chunks(monkeypatch)
    calls = _count_finite_checks(monkeypatch)
    _chunked_csv(in_tmp / "new.csv")
    result = CliRunner().invoke(main, ["predict", str(model_dir), "--data", "new.csv",
                                       "--out", "p.csv"])
    assert result.exit_code == 0, result.output
    assert calls == [50, 50, 20]
    whole = automl.load(model_dir).predict(pd.read_csv(in_tmp / "new.csv"))
    assert list(pd.read_csv(in_tmp / "p.csv")["prediction"]) == list(whole)


def _raw_pickle(path: Path) -> None:
    import pickle

    path.write_bytes(pickle.dumps({"x": [1.0, 2.0]}))


@pytest.mark.parametrize(("name", "make", "words"), [
    ("new.npy", _raw_pickle, "holds pickled Python objects, not a plain array"),
    ("new.npz", _raw_pickle, "holds pickled Python objects, not a plain array"),
    ("new.npy", lambda p: np.save(p, np.array([{"x": 1}], dtype=object), allow_pickle=True),
     "holds Python objects, not numbers"),
])
def test_a_pickle_under_a_numpy_name_is_refused_in_automls_words(
        in_tmp: Path, model_dir: Path, name: str, make: Callable[[Path], None],
        words: str) -> None:
    # numpy's own message ("you can load it unsafely using the allow_pickle= keyword")
    # invites unpickling a file that may come from anyone: never shown
    make(in_tmp / name)
    result = CliRunner().invoke(main, ["predict", str(model_dir), "--data", name])
    line = _one_line(result, name, words)
    assert "never unpickles" in line and "allow_pickle" not in result.output
    with pytest.raises(DataError) as caught:
        automl.load(model_dir).predict(str(in_tmp / name))
    assert words in str(caught.value) and "allow_pickle" not in str(caught.value)


def test_a_saved_dataset_and_predict_refuse_a_pickle_alike(tmp_path: Path) -> None:
    from automl.models.model import read_data
    from automl.saved_data import load_saved_dataset

    (tmp_path / "dataset.json").write_text('{"name": "d", "task": "classification", '
                                           '"schema": {}}')
    _raw_pickle(tmp_path / "x.npy")
    np.save(tmp_path / "y.npy", np.arange(4))
    with pytest.raises(DataError) as saved:
        load_saved_dataset(path=str(tmp_path))
    with pytest.raises(DataError) as given:
        read_data(tmp_path / "x.npy")
    assert str(given.value) == (f"{tmp_path / 'x.npy'} holds pickled Python objects, not a "
                                "plain array: refused (automl never unpickles a file)")
    assert str(given.value) in str(saved.value)


def test_a_forged_header_is_refused_without_allocating(tmp_path: Path) -> None:
    # Under an address-space limit of 4 GiB, allocating the 80 TB the header claims would
    # fail with MemoryError; the header check answers first, reading a few bytes.
    (tmp_path / "x.npy").write_bytes(_forged_npy())
    _forged_npz(tmp_path / "x.npz")
    code = textwrap.dedent(f"""
        from automl.models.model import read_data
        from automl.errors import DataError
        for f in ("x.npy", "x.npz"):
            try:
                read_data({str(tmp_path)!r} + "/" + f)
            except DataError as exc:
                print("refused:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", _limited(code)], capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("refused:") == 2 and "claims shape" in out.stdout, out.stdout


def _limited(code: str) -> str:
    """``code`` run under an address-space limit of 4 GiB (far below 80 TB)."""
    return (f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({4 << 30}, {4 << 30}))\n"
            + code)


def test_check_array_file_checks_only_the_named_arrays(tmp_path: Path) -> None:
    # A 0-d array of metadata next to the data does no harm when it is not used.
    path = tmp_path / "a.npz"
    np.savez(path, x=np.ones((4, 2)), y=np.arange(4), meta=np.array(1.0))
    check_array_file(path, "a.npz", ["x", "y"])
    with pytest.raises(DataError, match="'meta' is 0-d"):
        check_array_file(path, "a.npz")


def test_a_clean_csv_still_reads_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    (frame,) = list(iter_chunks(path))
    assert frame.shape == (2, 2)


@pytest.mark.parametrize("array", ["x.npy", "y.npy"])
def test_a_saved_dataset_with_a_forged_header_is_refused(tmp_path: Path, array: str) -> None:
    from automl.saved_data import load_saved_dataset

    (tmp_path / "dataset.json").write_text('{"name": "d", "task": "classification", '
                                           '"schema": {}}')
    np.save(tmp_path / "x.npy", np.ones((4, 2), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(4))
    (tmp_path / array).write_bytes(_forged_npy())
    with pytest.raises(DataError, match=f"{array}: the array claims shape"):
        load_saved_dataset(path=str(tmp_path))


@pytest.mark.parametrize("name", ["train.npz", "train.npy"])
def test_a_pickle_given_as_the_npz_dataset_is_refused_in_automls_words(
        tmp_path: Path, name: str) -> None:
    """The npz dataset plugin reads with the loader predict uses: same words, no unpickling."""
    from automl_plugins.data_files import load_npz

    path = tmp_path / name
    _raw_pickle(path)
    with pytest.raises(DataError) as caught:
        load_npz(path=str(path))
    message = str(caught.value)
    assert "holds pickled Python objects, not a plain array" in message, message
    assert "allow_pickle" not in message
