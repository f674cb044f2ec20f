"""What a reader of the bare Optuna study sees (optuna-dashboard, ``trials_dataframe``):
metric names, an intermediate value per epoch, flat attributes, artifacts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta

from automl.engine.controller import search
from automl.engine.recorder import FLAT_KEYS
from automl.engine.studies import load_study
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC, MULTI_SPEC


def _search(write_spec: Callable[..., Path], host: PluginHost, text: str) -> optuna.Study:
    spec = load_spec(write_spec(text))
    result = search(spec, host)
    return load_study(spec.study, result.storage)


def test_the_study_names_its_metrics_and_holds_every_epoch_and_flat_attrs(
        write_spec: Callable[..., Path], host: PluginHost, in_tmp: Path) -> None:
    study = _search(write_spec, host, CURVE_SPEC)  # pruner: none
    assert study.metric_names == ["val_accuracy"]
    trials = study.get_trials()
    assert len(trials) == 6
    for t in trials:
        epochs = t.user_attrs["epochs"]
        # every epoch's objective, with pruning off
        assert sorted(t.intermediate_values) == list(range(1, epochs + 1))
        assert t.intermediate_values[epochs] == t.user_attrs["automl"]["history"][-1][
            "val_accuracy"]
        for key in FLAT_KEYS:
            assert key in t.user_attrs, key
        assert t.user_attrs["stop_reason"] in ("completed", "early_stopped")
        assert 1 <= t.user_attrs["best_epoch"] <= epochs
        assert t.user_attrs["device"] == "cpu"
        assert t.user_attrs["n_params"] == t.user_attrs["automl"]["metrics"]["n_params"]
        assert abs(t.user_attrs["gap"] - (t.user_attrs["automl"]["metrics"]["val_loss"]
                                          - t.user_attrs["automl"]["metrics"]["train_loss"])
                   ) < 1e-6
        # flat: scalars a table shows, each small
        for key in FLAT_KEYS:
            value = t.user_attrs[key]
            assert isinstance(value, (int, float, str)) and len(json.dumps(value)) < 100
    frame = study.trials_dataframe()
    assert {"user_attrs_stop_reason", "user_attrs_best_epoch", "user_attrs_gap"} <= \
        set(frame.columns)


def test_each_trial_has_its_learning_curve_and_the_study_its_best_model_as_artifacts(
        write_spec: Callable[..., Path], host: PluginHost, in_tmp: Path) -> None:
    study = _search(write_spec, host, CURVE_SPEC)
    store = FileSystemArtifactStore(str(in_tmp / "reports" / "curve-study" / "artifacts"))
    for t in study.get_trials():
        metas = get_all_artifact_meta(t, storage=study._storage)
        assert [m.filename for m in metas] == ["learning_curve.json"]
        out = in_tmp / f"curve_{t.number}.json"
        download_artifact(artifact_store=store, artifact_id=metas[0].artifact_id,
                          file_path=str(out))
        curve = json.loads(out.read_text())
        assert curve["trial"] == t.number
        assert [e["epoch"] for e in curve["epochs"]] == list(range(1, t.user_attrs["epochs"]
                                                                   + 1))
        assert {"train_loss", "val_loss", "val_accuracy"} <= set(curve["epochs"][0])
    best = study.best_trial.number
    names = sorted(m.filename for m in get_all_artifact_meta(study))
    bundle = sorted(p.name for p in (in_tmp / "reports" / "curve-study" / "best").iterdir()
                    if p.is_file())
    assert names == sorted(f"best_trial_{best}_{n}" for n in bundle) and names


def test_a_resumed_run_with_the_same_best_trial_saves_its_model_once(
        write_spec: Callable[..., Path], host: PluginHost, in_tmp: Path) -> None:
    path = write_spec(CURVE_SPEC)
    search(load_spec(path), host)
    spec = load_spec(path, overrides={"budget.trials": "7"})
    result = search(spec, host)
    study = load_study(spec.study, result.storage)
    names = [m.filename for m in get_all_artifact_meta(study)]
    assert len(names) == len(set(names))


def test_several_objectives_are_named_and_keep_their_curves_as_artifacts(
        write_spec: Callable[..., Path], host: PluginHost, in_tmp: Path) -> None:
    study = _search(write_spec, host, MULTI_SPEC)
    assert study.metric_names == ["val_accuracy", "n_params"]
    for t in study.get_trials():
        # Optuna keeps no intermediate values for several objectives: the curve is a file
        assert t.intermediate_values == {}
        assert [m.filename for m in get_all_artifact_meta(t, storage=study._storage)] == \
            ["learning_curve.json"]


def test_a_best_model_file_replaced_by_another_process_is_skipped(
        write_spec: Callable[..., Path], host: PluginHost, in_tmp: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL workers share the report folder: one may replace best/ while another
    # saves it (seen as a FileNotFoundError crashing the worker at its very end).
    real = Path.read_bytes

    def gone(self: Path) -> bytes:
        if self.name == "params.yaml" and self.parent.name == "best":
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", gone)
    study = _search(write_spec, host, CURVE_SPEC)
    names = {m.filename for m in get_all_artifact_meta(study)}
    best = study.best_trial.number
    assert f"best_trial_{best}_params.yaml" not in names
    assert f"best_trial_{best}_metrics.json" in names  # the others are still saved
