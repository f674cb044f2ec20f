"""The controller on the synthetic trainer: budget, resume, failures, stop reasons, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import automl
from automl.engine.controller import TooManyFailures, search
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC, CurvePlugin, quality
from tests.helpers import WriteSpec as Spec


@pytest.mark.slow
def test_budget_leaderboard_and_resume(in_tmp: Path, write_spec: Spec, host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC)
    result = search(load_spec(path), host)
    assert (result.n_trials, result.n_new, result.stop_reason) == (6, 6, "budget")
    frame = automl.leaderboard("curve-study")
    assert len(frame) == 6
    assert list(frame["rank"]) == [1, 2, 3, 4, 5, 6]
    assert frame["val_accuracy"].is_monotonic_decreasing
    # the reported objective is the value at the best epoch, which the synthetic curve fixes
    best = frame.iloc[0]
    assert best["val_accuracy"] == pytest.approx(quality(best["x"]) * (1 - 0.5 ** 8))
    assert set(frame["stop_reason"]) == {"completed"}
    assert (frame["epochs"] == 8).all() and (frame["best_epoch"] == 8).all()
    # test metrics for the top K only (top_k defaults to 10: all six here)
    assert frame["test_accuracy"].notna().all()
    assert (in_tmp / "reports/curve-study/leaderboard.csv").exists()
    md = (in_tmp / "reports/curve-study/leaderboard.md").read_text()
    assert "rank" in md.splitlines()[4] and "curve-study" in md
    assert (in_tmp / "reports/curve-study/best/params.yaml").exists()

    again = search(load_spec(path, {"budget.trials": "9"}), host)
    assert (again.n_trials, again.n_new) == (9, 3)
    assert len(automl.leaderboard("curve-study")) == 9


def test_top_k_limits_test_metrics_and_checkpoints(in_tmp: Path, write_spec: Spec,
                                                   host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC + "report: {top_k: 2}\n")
    search(load_spec(path), host)
    frame = automl.leaderboard("curve-study")
    assert frame["test_accuracy"].notna().sum() == 2
    assert list(frame.head(2)["test_accuracy"].notna()) == [True, True]
    kept = sorted(p.name for p in (in_tmp / "reports/curve-study/checkpoints").iterdir())
    assert kept == sorted(f"trial_{n}.pt" for n in frame.head(2)["trial"])


def test_failed_trials_are_recorded_and_the_study_goes_on(
        in_tmp: Path, write_spec: Spec, host: PluginHost, curve_plugin: CurvePlugin) -> None:
    path = write_spec(CURVE_SPEC.replace("x: {type: float, low: 0.0, high: 1.0}",
                                         "x: {type: float, low: 0.0, high: 1.0}\n"
                                         "  mode: [ok, raise, nan, overfit]")
                      .replace("early_stopping: {monitor: val_loss, patience: 3}",
                               "early_stopping: {monitor: val_loss, patience: 3, max_gap: 0.1}")
                      .replace("trials: 6", "trials: 16"))
    result = search(load_spec(path), host)
    assert result.n_trials == 16
    frame = automl.leaderboard("curve-study")
    modes = dict(zip(frame["trial"], frame["mode"], strict=True))
    for _, row in frame.iterrows():
        mode = modes[row["trial"]]
        if mode == "raise":
            assert row["state"] == "failed" and "RuntimeError: boom" in row["error"]
        elif mode == "nan":
            assert row["state"] == "failed" and "non-finite val_loss" in row["error"]
            assert row["epochs"] == 2  # the NaN epoch is not recorded as history
        elif mode == "overfit":
            assert row["state"] == "complete" and row["stop_reason"] == "overfitting"
            assert row["best_epoch"] == 3
        else:
            assert row["state"] == "complete" and row["stop_reason"] == "completed"
    assert set(modes.values()) == {"ok", "raise", "nan", "overfit"}


def test_too_many_failures_in_a_row_stop_the_study(in_tmp: Path, write_spec: Spec,
                                                   host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC.replace("budget: {trials: 6, max_epochs: 8}",
                                         "budget: {trials: 20, max_epochs: 5, max_failures: 3}")
                      .replace("x: {type: float, low: 0.0, high: 1.0}", "mode: raise"))
    with pytest.raises(TooManyFailures, match="3 trials failed in a row.*boom"):
        search(load_spec(path), host)
    frame = automl.leaderboard("curve-study")
    assert len(frame) == 3 and (frame["state"] == "failed").all()


def test_target_and_no_improvement_stop_the_study(in_tmp: Path, write_spec: Spec,
                                                  host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC.replace("budget: {trials: 6, max_epochs: 8}",
                                         "budget: {trials: 50, max_epochs: 8, target: 0.5}"))
    result = search(load_spec(path), host)
    assert result.stop_reason == "target" and result.n_trials < 50

    path = write_spec(CURVE_SPEC.replace("study: curve-study", "study: plateau")
                      .replace("budget: {trials: 6, max_epochs: 8}",
                               "budget: {trials: 50, max_epochs: 8, no_improvement_trials: 3}")
                      .replace("x: {type: float, low: 0.0, high: 1.0}", "x: [0.3, 0.9]"))
    result = search(load_spec(path), host)
    assert result.stop_reason == "no_improvement"
    frame = automl.leaderboard("plateau")
    best_number = int(frame.iloc[0]["trial"])
    assert frame["trial"].max() == best_number + 3


def test_pruning_records_pruned_trials(in_tmp: Path, write_spec: Spec, host: PluginHost) -> None:
    spec_text = (CURVE_SPEC.replace("pruner: {name: none}",
                                    "pruner: {name: median, n_startup_trials: 2, "
                                    "n_warmup_steps: 1}")
                 .replace("trials: 6", "trials: 14")
                 .replace("x: {type: float, low: 0.0, high: 1.0}", "x: [0.3, 0.0, 1.0]"))
    search(load_spec(write_spec(spec_text)), host)
    frame = automl.leaderboard("curve-study")
    pruned = frame[frame["state"] == "pruned"]
    assert len(pruned) > 0
    assert (pruned["stop_reason"] == "pruned").all() and pruned["rank"].isna().all()
    assert (pruned["epochs"] < 8).all()
    # only the worse configs lose to the median
    assert set(pruned["x"]) <= {0.0, 1.0}


def test_enqueued_configs_run_first(in_tmp: Path, write_spec: Spec, host: PluginHost,
                                    curve_plugin: CurvePlugin) -> None:
    path = write_spec(CURVE_SPEC + "enqueue:\n  - {x: 0.3}\n  - {x: 0.75}\n")
    search(load_spec(path), host)
    xs = [p["x"] for p in curve_plugin.trainer.fitted]
    assert xs[:2] == [0.3, 0.75]
    frame = automl.leaderboard("curve-study")
    assert frame.iloc[0]["x"] == 0.3


def test_leaderboard_dtypes(in_tmp: Path, write_spec: Spec, host: PluginHost) -> None:
    search(load_spec(write_spec(CURVE_SPEC)), host)
    frame = automl.leaderboard("curve-study")
    assert str(frame["rank"].dtype) == "Int64" and str(frame["epochs"].dtype) == "Int64"
    assert pd.api.types.is_float_dtype(frame["val_accuracy"])
    csv = pd.read_csv(in_tmp / "reports/curve-study/leaderboard.csv")
    assert list(csv.columns) == list(frame.columns)


def test_refit_through_the_controller(in_tmp: Path, write_spec: Spec, host: PluginHost) -> None:
    import json

    path = write_spec(CURVE_SPEC + "report: {top_k: 3, refit: true}\n")
    search(load_spec(path), host)
    study = automl.load_study("curve-study")
    refit = study.user_attrs["automl_refit"]
    frame = automl.leaderboard("curve-study")
    assert refit["trial"] == frame.iloc[0]["trial"] and refit["epochs"] == 8
    best = json.loads((in_tmp / "reports/curve-study/best/metrics.json").read_text())
    assert any(k.startswith("refit_test_") for k in best)
    refit_cols = [c for c in frame.columns if c.startswith("refit_test_")]
    assert refit_cols and frame[refit_cols].iloc[0].notna().all()  # the refit trial's row
    assert frame[refit_cols].iloc[1:].isna().all().all()  # and no other
    assert frame.iloc[0]["refit_test_accuracy"] == best["refit_test_accuracy"]


@pytest.mark.parametrize(("execution", "expected"), [
    ("{workers: 0}", (False, True, None, 0)),
    ("{workers: 0, compile: true, amp: false, data_on_device: false, trial_seed: 7}",
     (True, False, False, 7)),
])
def test_execution_options_reach_the_trainer(in_tmp: Path, write_spec: Spec, host: PluginHost,
                                             curve_plugin: CurvePlugin, execution: str,
                                             expected: tuple[Any, ...]) -> None:
    spec = CURVE_SPEC.replace("execution: {workers: 0}", f"execution: {execution}")
    search(load_spec(write_spec(spec)), host)
    compile_, amp, on_device, seed = expected
    contexts = curve_plugin.trainer.contexts
    assert len(contexts) == 6  # one per trial of the budget
    assert [(c.compile, c.amp, c.data_on_device) for c in contexts] == \
        [(compile_, amp, on_device)] * len(contexts)
    seeds = [c.seed for c in contexts]
    assert seeds == ([7] * len(contexts) if seed else
                     [100_003 + n for n in range(len(contexts))])  # sampler seed 1


def test_the_newest_running_trials_past_the_budget_are_the_surplus() -> None:
    import optuna

    from automl.engine.trials import surplus as _surplus

    study = optuna.create_study()
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    study.ask(), study.ask(), study.ask()  # trials 3, 4, 5 running, in three processes
    trials = study.get_trials(deepcopy=False)
    assert [_surplus(trials, n, 6) for n in (3, 4, 5)] == [False, False, False]
    assert [_surplus(trials, n, 5) for n in (3, 4, 5)] == [False, False, True]
    assert [_surplus(trials, n, 4) for n in (3, 4, 5)] == [False, True, True]
    # the process of trial 4 may not see trial 5 yet: it keeps 4 only if 5 is the surplus
    assert not _surplus(trials[:5], 4, 5) and _surplus(trials[:5], 4, 4)
