"""Smaller faults: a library's warnings before a clear error, scaffold names pip refuses,
a worker's traceback while the command succeeds, an error that blames the command when
the data is at fault.
"""

from __future__ import annotations

import io
import random
import string
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.utils import canonicalize_name
from sklearn.datasets import load_wine

from automl.cli import main
from automl.errors import UsageError
from automl.library_warnings import held_back, one_line, release, show_in_worker
from automl.plugin.scaffold import Names
from tests.helpers import FAULTY_SPEC, REPO, run_cli

MLP = str(REPO / "search_spaces" / "mlp.yaml")
AUTOML = str(Path(sys.executable).with_name("automl"))


def automl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOML, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


# -- a library's warnings before a clear error ------------------------------------------

# Each option is deprecated in Optuna (a FutureWarning when the sampler is built); the
# spec then fails on something else, or on the option's own type.
@pytest.mark.parametrize("sets", [
    ["sampler={name: tpe, gamma: 3}"],
    ["sampler={name: tpe, prior_weight: 2.0}", "dataset.name=nope"],
    ["sampler={name: cmaes, sigma0: 1.0}", "params.lr={type: float, low: 1, high: 0.1}"],
])
@pytest.mark.parametrize("command", ["validate", "search"])
def test_a_clear_error_is_the_only_line(command: str, sets: list[str], in_tmp: Path) -> None:
    args = [command, "--space", MLP, *(["--study", "w"] if command == "search" else [])]
    for item in sets:
        args += ["--set", item]
    done = automl(*args, cwd=in_tmp)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Warning" not in done.stdout + done.stderr
    assert not (in_tmp / "reports").exists()


def test_a_refused_search_removes_only_what_it_made(in_tmp: Path) -> None:
    # reports/ is new to this run, but another study's folder appears in it meanwhile
    # (made here before the run, inside the folder the run would have to make).
    from automl.engine.controller import _remove_made

    mine = in_tmp / "reports" / "nested" / "w"
    mine.mkdir(parents=True)
    (mine / "study.db").write_bytes(b"")
    other = in_tmp / "reports" / "other-study"
    other.mkdir()
    (other / "leaderboard.csv").write_text("rank\n")
    _remove_made(mine, in_tmp / "reports")
    assert not (in_tmp / "reports" / "nested").exists()
    assert (other / "leaderboard.csv").read_text() == "rank\n"
    _remove_made(in_tmp / "reports" / "other-study", in_tmp / "reports")
    assert not (in_tmp / "reports").exists()  # empty up to the outermost: all gone


def test_a_warning_of_a_run_that_goes_on_is_one_line_once(in_tmp: Path) -> None:
    done = automl("search", "--space", MLP, "--study", "w", "--trials", "2",
                  "--set", "budget.max_epochs=1", "--set",
                  "sampler={name: tpe, prior_weight: 2.0, seed: 0}", cwd=in_tmp)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "prior_weight" in line]
    assert said == [line for line in said if line.startswith(
        "warning: optuna FutureWarning: `prior_weight` has been deprecated")] and len(said) == 1
    assert "optuna_warn(" not in done.stderr  # Python's second line: the source


def test_the_gate_holds_drops_and_restores() -> None:
    before = warnings.showwarning
    with pytest.raises(UsageError), held_back():
        warnings.warn("noise", FutureWarning, stacklevel=1)
        raise UsageError("the clear error")
    assert warnings.showwarning is before
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        show_in_worker(stream)
        for _ in range(3):
            warnings.warn("from a library\nsecond line", UserWarning, stacklevel=1)
    assert stream.getvalue().splitlines() == [
        "warning: test_hostile_smaller UserWarning: from a library"]
    assert one_line("x", DeprecationWarning,
                    "/v/lib/python3.11/site-packages/sklearn/base.py") == \
        "sklearn DeprecationWarning: x"
    release()  # outside a command: nothing to do, nothing raised


# -- scaffold names pip refuses ---------------------------------------------------------

@pytest.mark.parametrize("bad", ["tiny-", "tiny_", "a__", "automl", "automl-", "automl_",
                                 "Automl--", "x" * 65, "ok\n", "tab\tx", "Ünï", "a.b",
                                 "a b", "", "9a", "a/b", "..", "a\x00"])
def test_a_name_pip_would_refuse_is_refused_with_one_line(bad: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plugins", "new", bad, "--dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: plugin name") and \
        result.output.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_every_name_the_scaffold_takes_is_a_valid_pip_name() -> None:
    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits + "-_"
    accepted = 0
    for _ in range(3000):
        name = rng.choice(string.ascii_letters) + "".join(
            rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        try:
            names = Names.from_name(name)
        except UsageError:
            continue
        accepted += 1
        assert canonicalize_name(names.dist, validate=True) == names.dist
        assert names.module.isidentifier() and names.trainer.isidentifier()
    assert accepted > 1000


# -- a worker's traceback while the command succeeds ------------------------------------

def test_a_failing_evaluation_or_a_broken_worker_is_one_line_not_a_traceback(
        worker_env: dict[str, str], in_tmp: Path) -> None:
    spec = FAULTY_SPEC.split("enqueue:")[0].replace(
        "mode: [ok, raise, nan, oom, crash, hang, slow]",
        "mode: [ok, warn, eval_raise, interrupt]").replace(
        "trials: 7", "trials: 4").replace("max_failures: 0", "max_failures: 2")
    spec += "enqueue:\n" + "".join(f"  - {{mode: {m}, x: 0.3}}\n"
                                   for m in ("eval_raise", "warn", "interrupt", "ok"))
    spec += "report: {top_k: 4}\n"
    (in_tmp / "faulty.yaml").write_text(spec)
    run = run_cli(["search", "--space", "faulty.yaml"], worker_env)
    out, _ = run.communicate(timeout=180)
    assert run.returncode == 0, out
    assert "Traceback" not in out and 'File "' not in out, out
    assert "test evaluation of trial 0 failed: ValueError: evaluation broke" in out
    assert "trial 2 failed" in out and "the worker process failed: KeyboardInterrupt" in out, \
        out
    warned = [line for line in out.splitlines() if "option q is deprecated" in line]
    assert warned == ["warning: worker_plugin FutureWarning: option q is deprecated"], out
    assert "4 trials" in out


# -- an error that blames the command when the data is at fault -------------------------

@pytest.fixture(scope="module")
def wine_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wine")
    done = automl("search", "--space", "tabular", "--study", "wine", "--trials", "2",
                  "--set", "dataset.name=wine", "--set", "trainer=logistic",
                  "--set", "execution.workers=0", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "reports" / "wine" / "best"


def test_a_damaged_model_file_is_bad_input_in_the_trainers_words(
        wine_model: Path, tmp_path: Path) -> None:
    import shutil

    rows = tmp_path / "rows.csv"
    load_wine(as_frame=True).frame.drop(columns="target").head(4).to_csv(rows, index=False)
    for damage in (b"garbage", b"PK\x03\x04" + b"\x00" * 40, b""):
        bundle = tmp_path / f"b{len(damage)}"
        shutil.copytree(wine_model, bundle)
        (bundle / "model.skops").write_bytes(damage)
        done = automl("predict", str(bundle), "--data", str(rows))
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {bundle}/model.skops is not a logistic model "
                                      "file"), done.stderr
        assert "TrialFailed" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(("suffix", "sep", "ok"), [
    (".csv", ";", False), (".csv", "\t", False), (".csv", "|", False),
    (".tsv", "\t", True), (".tsv", ",", False), (".txt", ";", False)])
def test_a_file_given_to_predict_is_named_as_the_fault(
        wine_model: Path, tmp_path: Path, suffix: str, sep: str, ok: bool) -> None:
    rows = tmp_path / f"rows{suffix}"
    load_wine(as_frame=True).frame.drop(columns="target").head(4).to_csv(
        rows, index=False, sep=sep)
    done = automl("predict", str(wine_model), "--data", str(rows))
    if ok:
        assert done.returncode == 0 and len(done.stdout.splitlines()) == 5, done.stderr
        return
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {rows} reads as a single column")
    assert "set dataset.sep" not in done.stderr  # predict has no spec to set it in
    assert "separated, as the model reads it" in done.stderr


def test_a_spec_dataset_with_another_separator_names_the_spec_key(in_tmp: Path) -> None:
    load_wine(as_frame=True).frame.to_csv(in_tmp / "wine.csv", index=False, sep=";")
    (in_tmp / "wine.tsv").write_text((in_tmp / "wine.csv").read_text().replace(";", "\t"))
    for name in ("wine.csv", "wine.tsv"):
        done = automl("search", "--space", "tabular", "--set", "dataset.name=csv",
                      "--set", f"dataset.path={name}", "--set", "dataset.target=target",
                      cwd=in_tmp)
        assert done.returncode == 2, done.stderr
        assert "(set dataset.sep: " in done.stderr and done.stderr.count("\n") == 1
    (in_tmp / "u16.csv").write_bytes("a,target\n1,0\n".encode("utf-16"))
    done = automl("search", "--space", "tabular", "--set", "dataset.name=csv",
                  "--set", "dataset.path=u16.csv", "--set", "dataset.target=target",
                  cwd=in_tmp)
    assert done.returncode == 2 and "set dataset.encoding: utf-16" in done.stderr


def test_infinite_values_are_the_datas_fault_in_python_too(wine_model: Path,
                                                           tmp_path: Path) -> None:
    import numpy as np

    import automl as automl_api
    from automl.errors import DataError

    model = automl_api.load(wine_model)
    frame = load_wine(as_frame=True).frame.drop(columns="target").head(4)
    frame.iloc[2, 1] = np.inf
    frame.to_csv(tmp_path / "inf.csv", index=False)
    frame.to_parquet(tmp_path / "inf.parquet")
    array = frame.to_numpy()
    np.save(tmp_path / "inf.npy", array)
    for given in (frame, array, tmp_path / "inf.csv", str(tmp_path / "inf.parquet"),
                  tmp_path / "inf.npy"):
        with pytest.raises(DataError, match="infinite values"):
            model.predict(given)
    assert len(model.predict(frame.replace(np.inf, 1.0))) == 4


def test_a_data_hint_names_what_the_user_can_set(in_tmp: Path) -> None:
    import numpy as np
    import pandas as pd

    import automl as automl_api
    from automl.errors import DataError

    spec = {"trainer": "logistic", "budget": {"trials": 1},
            "objective": {"metric": "val_accuracy", "direction": "maximize"}}
    frame = pd.DataFrame({"a": np.arange(40.0).astype(object), "y": ["p", "q"] * 20})
    frame.loc[3, "a"] = "abc"
    with pytest.raises(DataError) as given:  # in memory: no spec key to point at
        automl_api.search(spec, frame, target="y", study="h1", progress=False)
    assert "replace them with NaN in the DataFrame" in str(given.value)
    assert "dataset." not in str(given.value)
    with pytest.raises(DataError, match=r"give task='classification'"):
        automl_api.search(spec, frame.assign(a=1.0), target="y", task="regression",
                          study="h2", progress=False)
    frame.to_csv(in_tmp / "t.csv", index=False)
    done = automl("search", "--space", "tabular", "--set", "dataset.name=csv",
                  "--set", "dataset.path=t.csv", "--set", "dataset.target=y", cwd=in_tmp)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "(set dataset.na_values: ['abc']) or list the column in dataset.categorical" \
        in done.stderr
