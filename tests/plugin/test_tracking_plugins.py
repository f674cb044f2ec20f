"""The tracker plugins in ``plugins/``: ``automl-mlflow`` and ``automl-tensorboard``.

The fast tests call each tracker directly with made-up events (the packages' folders on
``sys.path``). The slow ones install both packages with pip into a virtual environment
made for the test (as ``test_install`` does: nothing downloaded, this environment left as
it was), run ``automl search`` there with both trackers on, and read what they wrote back
with MLflow's client and TensorBoard's event reader, against the study's leaderboard.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import automl
from automl.errors import UsageError
from automl.plugin import TrackingContext
from tests.helpers import REPO
from tests.plugin.test_install import CLI, _env, make_venv, pip, run

pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

PLUGINS = REPO / "plugins"
PACKAGES = {"automl_mlflow": PLUGINS / "automl-mlflow",
            "automl_tensorboard": PLUGINS / "automl-tensorboard"}
FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"  # MLflow 3 refuses its file store without it

STUDY = "tracked"
SPEC = """\
study: tracked
trainer: mlp
dataset: {{name: iris}}
objective: {{metric: val_accuracy, direction: maximize}}
budget: {{trials: 3, max_epochs: 3}}
sampler: {{name: random, seed: 0}}
pruner: none
execution: {{workers: 1}}
report: {{dir: {report}}}
tracking: {tracking}
params:
  lr: {{type: float, low: 1.0e-3, high: 3.0e-2, log: true}}
  n_layers: {{type: int, low: 1, high: 2}}
  layers:
    repeat: n_layers
    params:
      units: {{type: int, low: 4, high: 16}}
  activation: [relu, tanh]
"""


def tracker_module(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A tracker plugin's module, imported from its folder in ``plugins/``."""
    monkeypatch.syspath_prepend(str(PACKAGES[name]))
    return importlib.import_module(name)


def context(report_dir: Path) -> TrackingContext:
    return TrackingContext(study_name="unit", objectives=(("val_accuracy", "maximize"),),
                           report_dir=report_dir, spec={"study": "unit"}, trainers=("mlp",))


def attrs(state: str, best_epoch: int | None, **metrics: float) -> dict[str, Any]:
    return {"params": {}, "stop_reason": {"complete": "completed"}.get(state, state),
            "epochs": best_epoch, "best_epoch": best_epoch, "metrics": metrics,
            "history": [], "duration_s": 0.1, "device": "cpu",
            "error": "boom" if state == "failed" else None}


def feed(tracker: Any, best_dir: Path) -> None:
    """Four trials, interleaved as several workers would: 0 completes, 1 is pruned, 2 fails
    and 3 is still running when the tracker closes."""
    tracker.trial_started(0, {"lr": 0.01, "layers": [{"units": 4}, {"units": 8}],
                              "act": "relu", "sizes": [1, 2]})
    tracker.trial_started(1, {"lr": 0.02, "layers": [{"units": 5}], "act": "tanh",
                              "sizes": [3]})
    for epoch in (1, 2, 3):
        tracker.epoch_finished(0, epoch, {"train_loss": 1.0 / epoch, "val_loss": 0.9 / epoch,
                                          "val_accuracy": 0.3 * epoch, "t": 0.1 * epoch})
        if epoch < 3:
            tracker.epoch_finished(1, epoch, {"val_loss": 1.0, "val_accuracy": math.nan})
    tracker.trial_finished(1, "pruned", None, attrs("pruned", 1, val_loss=1.0))
    tracker.trial_finished(0, "complete", [0.9], attrs("complete", 3, val_loss=0.3,
                                                       val_accuracy=0.9, n_params=63))
    tracker.trial_started(2, {"lr": 0.03, "layers": [], "act": "relu", "sizes": []})
    tracker.trial_finished(2, "failed", None, attrs("failed", None))
    tracker.trial_started(3, {"lr": 0.04, "layers": [{"units": 6}], "act": "relu",
                              "sizes": []})
    tracker.epoch_finished(3, 1, {"val_loss": 0.8, "fold": 0.0})
    tracker.study_finished(4, {"number": 0, "values": [0.9], "params": {},
                               "metrics": {"val_accuracy": 0.9, "test_accuracy": 0.85}},
                           "budget", best_dir)
    tracker.close()


def best_folder(root: Path) -> Path:
    best = root / "best"
    best.mkdir()
    (best / "bundle.json").write_text("{}")
    return best


def test_the_mlflow_tracker_makes_a_parent_run_and_a_child_run_per_trial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    # unset for the test, and unset again after it (the tracker sets it for a file store)
    monkeypatch.setenv(FILE_STORE, "unset")
    monkeypatch.delenv(FILE_STORE)
    module = tracker_module("automl_mlflow", monkeypatch)
    feed(module.open_tracker({}, context(tmp_path / "report")), best_folder(tmp_path))
    assert os.environ[FILE_STORE] == "true"

    client = MlflowClient(f"file:{tmp_path / 'report' / 'mlruns'}")  # the default store
    experiment = client.get_experiment_by_name("unit")  # the study's name by default
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["trial-0", "trial-1", "trial-2", "trial-3", "unit"]
    parent = runs.pop("unit")
    assert parent.info.status == "FINISHED"
    assert parent.data.params == {"objective.metric": "val_accuracy",
                                  "objective.direction": "maximize", "trainer": "mlp"}
    assert parent.data.metrics == {"val_accuracy": 0.9, "test_accuracy": 0.85}
    tags = parent.data.tags
    assert (tags["automl.study"], tags["best_trial"], tags["automl.reason"]) == \
        ("unit", "0", "budget")
    assert tags["best_run_id"] == runs["trial-0"].info.run_id
    assert "mlflow.parentRunId" not in tags
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "best_model")}
    assert artifacts == {"best_model/bundle.json"}

    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {parent.info.run_id}
    assert {name: r.info.status for name, r in runs.items()} == {
        "trial-0": "FINISHED", "trial-1": "KILLED", "trial-2": "FAILED", "trial-3": "KILLED"}
    done = runs["trial-0"]
    assert done.data.params == {"lr": "0.01", "layers.0.units": "4", "layers.1.units": "8",
                                "act": "relu", "sizes": "[1, 2]"}
    history = client.get_metric_history(done.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (2, 0.45), (3, 0.3)]
    assert done.data.metrics["final/val_loss"] == 0.3
    assert done.data.metrics["final/n_params"] == 63
    assert done.data.metrics["objective/val_accuracy"] == 0.9
    assert {k: done.data.tags[k] for k in ("state", "stop_reason", "device", "best_epoch")} \
        == {"state": "complete", "stop_reason": "completed", "device": "cpu", "best_epoch": "3"}
    pruned = runs["trial-1"]
    # the NaN accuracy is left out; the loss is not
    assert client.get_metric_history(pruned.info.run_id, "val_accuracy") == []
    assert len(client.get_metric_history(pruned.info.run_id, "val_loss")) == 2
    assert pruned.data.tags["state"] == "pruned"
    failed = runs["trial-2"]
    assert failed.data.tags["error"] == "boom" and "best_epoch" not in failed.data.tags
    # a fold's epochs are told apart by name: they restart at 1 each fold
    assert runs["trial-3"].data.metrics == {"fold_0/val_loss": 0.8}


def test_the_mlflow_tracker_takes_its_uri_and_experiment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv(FILE_STORE, "true")
    module = tracker_module("automl_mlflow", monkeypatch)
    uri = f"file:{tmp_path / 'elsewhere'}"
    for _ in range(2):  # the second run finds the experiment the first one made
        tracker = module.open_tracker({"uri": uri, "experiment": "shared"},
                                      context(tmp_path / "report"))
        tracker.close()  # closed before study_finished: the search stopped on an error
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("shared")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED", "FAILED"]
    assert not (tmp_path / "report").exists()

    client.delete_experiment(experiment.experiment_id)
    with pytest.raises(UsageError, match="'shared' was deleted"):
        module.open_tracker({"uri": uri, "experiment": "shared"}, context(tmp_path))


def test_the_tensorboard_tracker_writes_a_folder_per_trial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    module = tracker_module("automl_tensorboard", monkeypatch)
    feed(module.open_tracker({}, context(tmp_path / "report")), best_folder(tmp_path))
    root = tmp_path / "report" / "tensorboard"  # the default folder
    assert sorted(p.name for p in root.iterdir()) == ["trial_0", "trial_1", "trial_2",
                                                      "trial_3"]

    def read(number: int) -> EventAccumulator:
        return EventAccumulator(str(root / f"trial_{number}")).Reload()

    def scalars(acc: EventAccumulator, tag: str) -> list[tuple[int, float]]:
        return [(e.step, round(float(_tensor(e)), 4)) for e in acc.Tensors(tag)]

    def hparams(acc: EventAccumulator) -> dict[str, HParamsPluginData]:
        return {tag.rsplit("/", 1)[1]: HParamsPluginData.FromString(content)
                for tag, content in acc.PluginTagToContent("hparams").items()}

    done = read(0)
    assert scalars(done, "val_loss") == [(1, 0.9), (2, 0.45), (3, 0.3)]
    assert scalars(done, "final/val_loss") == [(3, 0.3)]
    assert scalars(done, "final/n_params") == [(3, 63.0)]
    summary = hparams(done)
    start = summary["session_start_info"].session_start_info.hparams
    # the flattened params; a list of numbers is not an hparam
    assert {k: v.WhichOneof("kind") for k, v in start.items()} == {
        "lr": "number_value", "layers.0.units": "number_value", "layers.1.units": "number_value",
        "act": "string_value"}
    assert start["layers.1.units"].number_value == 8
    metrics = {m.name.tag for m in summary["experiment"].experiment.metric_infos}
    assert metrics == {"final/val_loss", "final/val_accuracy", "final/n_params"}
    assert summary["session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS

    pruned = read(1)
    assert scalars(pruned, "val_loss") == [(1, 1.0), (2, 1.0)]
    assert "val_accuracy" not in pruned.Tags()["tensors"]  # NaN: left out
    assert hparams(read(2))["session_end_info"].session_end_info.status == 2  # FAILURE
    # trial 3 never finished: its epoch is on disk all the same (closed with the tracker)
    assert scalars(read(3), "fold_0/val_loss") == [(1, 0.8)]


def _tensor(event: Any) -> float:
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(event.tensor_proto))


@pytest.mark.parametrize(("module", "options", "message"), [
    ("automl_mlflow", {"urii": "file:x"},
     "unknown option 'urii' (did you mean 'uri'?); it takes: uri, experiment"),
    ("automl_mlflow", {"experiment": ""}, "option 'experiment' must be a non-empty string"),
    ("automl_mlflow", {"uri": 5}, "option 'uri' must be a non-empty string, got 5"),
    ("automl_tensorboard", {"folder": "x"}, "unknown option 'folder'; it takes: dir"),
    ("automl_tensorboard", {"dir": ["x"]}, "option 'dir' must be a folder path"),
])
def test_a_bad_option_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       module: str, options: dict[str, Any],
                                       message: str) -> None:
    tracker = tracker_module(module, monkeypatch)
    with pytest.raises(UsageError) as caught:
        tracker.open_tracker(options, context(tmp_path / "report"))
    assert message in str(caught.value)
    assert not (tmp_path / "report").exists()


# -- installed with pip, through a real search -----------------------------------------------
@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with both tracker packages pip-installed (from copies: a build writes
    ``build/`` and ``*.egg-info`` next to the sources)."""
    root = tmp_path_factory.mktemp("trackers")
    python = make_venv(root / "venv")
    copies = [shutil.copytree(src, root / src.name, ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info")) for src in PACKAGES.values()]
    pip(python, "install", "--no-deps", "--no-build-isolation", "--no-index",
        *map(str, copies), cwd=root)
    yield python


@pytest.mark.slow
def test_installed_trackers_record_a_real_search(venv_python: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    listing = json.loads(run([venv_python, "-c", CLI, "plugins", "list", "--json"], tmp_path))
    provided = {p["distribution"]: p["provides"] for p in listing["plugins"]
                if p["distribution"] in ("automl-mlflow", "automl-tensorboard")}
    assert provided == {"automl-mlflow": {"tracker": ["mlflow"]},
                        "automl-tensorboard": {"tracker": ["tensorboard"]}}

    report, uri, tb = tmp_path / "report", f"file:{tmp_path / 'mlruns'}", tmp_path / "tb"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(report=report, tracking=json.dumps(
        [{"name": "mlflow", "uri": uri}, {"name": "tensorboard", "dir": str(tb)}])))
    out = run([venv_python, "-c", CLI, "search", "--space", spec], tmp_path)
    assert f"study {STUDY}: 3 trials (3 complete)" in out, out
    assert "tracker '" not in out, out  # no tracker raised or was turned off
    board = automl.leaderboard(STUDY, f"sqlite:///{report / 'study.db'}")
    assert len(board) == 3
    param_columns = [c for c in board.columns
                     if c in ("lr", "n_layers", "activation") or c.startswith("layers.")]

    monkeypatch.setenv(FILE_STORE, "true")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_name for p in parents] == [STUDY]
    parent = parents[0]
    children = {int(r.data.tags["automl.trial"]): r for r in runs if r is not parent}
    assert sorted(children) == sorted(board["trial"])
    assert parent.data.tags["best_trial"] == str(board["trial"].iloc[0])  # rank 1
    bundle = {a.path for a in client.list_artifacts(parent.info.run_id, "best_model")}
    assert "best_model/bundle.json" in bundle

    for row in board.to_dict("records"):
        number, epochs = row["trial"], int(row["epochs"])
        child = children[number]
        assert child.info.run_name == f"trial-{number}"
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        sampled = {c: row[c] for c in param_columns if not _missing(row[c])}
        assert sorted(child.data.params) == sorted(sampled)
        for key, value in sampled.items():
            logged = child.data.params[key]
            assert (float(logged) == float(value) if isinstance(value, int | float)
                    else logged == value), (key, logged, value)
        assert child.data.tags["best_epoch"] == str(row["best_epoch"])
        assert child.data.metrics["final/val_loss"] == pytest.approx(row["val_loss"])
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert [m.step for m in history] == list(range(1, epochs + 1))

        events = EventAccumulator(str(tb / f"trial_{number}"))
        events.Reload()
        curve = events.Scalars("val_loss")
        assert [e.step for e in curve] == list(range(1, epochs + 1))
        # the same curve in both (TensorBoard keeps float32)
        assert [e.value for e in curve] == pytest.approx([m.value for m in history], rel=1e-6)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        str(value) == "<NA>"


@pytest.mark.slow
def test_an_unknown_tracker_option_stops_the_search_with_exit_2(venv_python: Path,
                                                                tmp_path: Path) -> None:
    report = tmp_path / "report"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(report=report, tracking="[{name: mlflow, urii: 'file:x'}]"))
    proc = subprocess.run([str(venv_python), "-c", CLI, "search", "--space", str(spec)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "tracking.0" in output and "tracker 'mlflow': unknown option 'urii' (did you " \
        "mean 'uri'?); it takes: uri, experiment" in output, output
    assert "Traceback" not in output
    assert not (report / "study.db").exists()  # stopped before any trial
