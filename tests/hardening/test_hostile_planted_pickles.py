"""A pickle planted anywhere in a study's report folder never runs.

``tests/models/test_planted_files.py`` plants in ``best/``; here the other folders a
resume, an export, a per-trial load or a report reads: the checkpoints, the saved data of
an in-memory search, the trial bundles, and a data file given to ``automl predict``. Each
planted file, if unpickled, creates a marker; every command either ignores the file or
refuses it with one line, and the marker never appears.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets

import automl
from automl.errors import AutomlError
from tests.helpers import PicklePayload, plant_pickle

pytestmark = pytest.mark.slow

AUTOML = str(Path(sys.executable).with_name("automl"))
MLP = {"lr": 0.01, "n_layers": 1, "layers": {"repeat": "n_layers", "params": {"units": 8}}}


def _spec(study: str, trials: int) -> dict:
    return {"study": study, "trainer": "mlp", "dataset": {"name": "iris"},
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "budget": {"trials": trials, "max_epochs": 2}, "execution": {"workers": 0},
            "params": MLP}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOML, *args], capture_output=True, text=True, timeout=180)


def _one_line_or_ok(run: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    if run.returncode != 0:
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_planted_checkpoints_and_trial_bundles_never_run(in_tmp: Path) -> None:
    automl.search(_spec("planted", 2), progress=False)
    reports = in_tmp / "reports" / "planted"
    marker = in_tmp / "MARKER"
    for checkpoint in (reports / "checkpoints").glob("trial_*.pt"):
        plant_pickle(checkpoint, marker)
    bundle = reports / "bundles" / "trial_1"
    bundle.mkdir(parents=True)
    for name in ("model.pt", "model.pkl", "model.joblib"):
        plant_pickle(bundle / name, marker)

    for args in (["export", "planted", "--trial", "0", "--out", "out0"],
                 ["report", "planted"], ["leaderboard", "planted"],
                 ["predict", "planted", "--trial", "1", "--data", "new.npy"]):
        np.save(in_tmp / "new.npy", datasets.load_iris().data[:5])
        _one_line_or_ok(_cli(*args))
        assert not marker.exists(), args
    with pytest.raises(AutomlError):  # the planted model.pt is refused, not unpickled
        automl.load(reports, trial=1).predict(datasets.load_iris().data[:5])
    # resuming reads the study and the checkpoints' folder: still nothing runs
    automl.search(_spec("planted", 3), progress=False)
    assert not marker.exists()


def test_planted_saved_data_of_an_in_memory_search_never_runs(in_tmp: Path) -> None:
    iris = datasets.load_iris(as_frame=True).frame
    spec = {**_spec("frame", 1), "dataset": None}
    spec.pop("dataset")
    automl.search(spec, data=iris, target="target", progress=False)
    marker = in_tmp / "MARKER"
    saved = in_tmp / "reports" / "frame" / "data"
    for name in ("x.npy", "y.npy"):
        plant_pickle(saved / name, marker)
    (in_tmp / "reports" / "frame" / "checkpoints" / "trial_0.pt").unlink()
    # export must train the trial again, from the saved data: refused, never unpickled
    run = _cli("export", "frame", "--trial", "0", "--out", "out")
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "x.npy" in run.stderr
    assert "never unpickles" in run.stderr and "allow_pickle" not in run.stderr
    _one_line_or_ok(_cli("report", "frame"))
    # a resume with the same data saves it again over the planted files
    spec["budget"] = {**spec["budget"], "trials": 2}
    automl.search(spec, data=iris, target="target", progress=False)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pkl", ".csv"])
def test_a_pickled_data_file_for_predict_is_refused(in_tmp: Path, suffix: str) -> None:
    automl.search(_spec("target", 1), progress=False)
    marker = in_tmp / "MARKER"
    data = in_tmp / f"new{suffix}"
    if suffix == ".npy":  # an object array: numpy stores it as a pickle inside the .npy
        np.save(data, np.array([PicklePayload(marker)], dtype=object), allow_pickle=True)
    elif suffix == ".npz":
        np.savez(data, x=np.array([PicklePayload(marker)], dtype=object))
    else:
        plant_pickle(data, marker)
    run = _cli("predict", "target", "--data", str(data))
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and data.name in run.stderr
    assert not marker.exists()
    with pytest.raises(AutomlError):
        automl.load("reports/target").predict(str(data))
    assert not marker.exists()
