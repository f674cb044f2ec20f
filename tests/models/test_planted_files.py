"""A pickle planted in ``best/`` never runs: not beside the model, not in its place.

The planted file's pickle, when unpickled, creates a marker file. Loading the bundle and
predicting (in Python and with ``automl predict``) must leave no marker: beside the model
it is never read; in the model's place it is refused with one line.
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
from tests.helpers import plant_pickle

pytestmark = pytest.mark.slow

AUTOML = str(Path(sys.executable).with_name("automl"))


def _spec(study: str, trainer: str, dataset: str, params: dict) -> dict:
    return {"study": study, "trainer": trainer, "dataset": {"name": dataset},
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "budget": {"trials": 1, "max_epochs": 2}, "execution": {"workers": 0},
            "params": params}


@pytest.mark.parametrize("trainer, dataset, params, model_file", [
    ("logistic", "iris", {"C": 1.0}, "model.skops"),
    ("mlp", "iris", {"lr": 0.01, "n_layers": 1,
                     "layers": {"repeat": "n_layers", "params": {"units": 8}}}, "model.pt"),
])
def test_a_planted_pickle_in_best_is_never_executed(trainer: str, dataset: str, params: dict,
                                                    model_file: str, in_tmp: Path) -> None:
    automl.search(_spec("planted", trainer, dataset, params), progress=False)
    best = in_tmp / "reports" / "planted" / "best"
    assert (best / model_file).is_file()
    marker = in_tmp / "MARKER"
    iris = datasets.load_iris()
    np.save(in_tmp / "new.npy", iris.data[:10])

    # Beside the model, under every name a loader might look for: never opened.
    for name in ("model.pkl", "model.joblib", "preprocessing.pkl", "schema.pkl"):
        plant_pickle(best / name, marker)
    if model_file != "model.pt":
        plant_pickle(best / "model.pt", marker)
    assert len(automl.load("reports/planted").predict(iris.data[:10])) == 10
    cli = subprocess.run([AUTOML, "predict", "reports/planted", "--data", "new.npy"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert len(cli.stdout.strip().splitlines()) == 11  # header + a row per sample
    assert not marker.exists()

    # In the model's place: refused, with one line and no traceback.
    plant_pickle(best / model_file, marker)
    with pytest.raises(AutomlError, match="cannot be used|not trust|not a"):
        automl.load("reports/planted").predict(iris.data[:10])
    cli = subprocess.run([AUTOML, "predict", "reports/planted", "--data", "new.npy"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2, cli.stderr  # the file is at fault: bad input
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and model_file in lines[0]
    assert "Traceback" not in cli.stderr
    assert not marker.exists()


def test_a_bundle_json_that_is_not_a_bundle_is_one_line(in_tmp: Path) -> None:
    folder = in_tmp / "fake"
    folder.mkdir()
    (folder / "bundle.json").write_text('{"format": 1, "trainer": {"name": "x"}}')
    out = subprocess.run([AUTOML, "predict", str(folder), "--data", "x.csv"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "not a readable model bundle" in out.stderr
    (folder / "bundle.json").write_text('{"format": 1, "model_file": "../../etc/passwd"}')
    with pytest.raises(AutomlError):
        automl.load(folder)
