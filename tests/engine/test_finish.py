"""The final evaluation: the test split unread until the end, top K scored once, refit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
import yaml

import automl
from automl.data import DataSplits, HeldOutSplit, Split, TrialData, concat_splits
from automl.engine.controller import Controller
from automl.engine.finish import refit_epochs
from automl.engine.keys import REFIT, TRIAL_RESULT, stored_test_metrics
from automl.plugin import TorchTrainer, TrialContext
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from automl.training import load_model
from automl_plugins.mlp import build_mlp
from tests.helpers import CurveTrainer, finisher_for, iris_splits


def test_the_test_split_counts_its_reads_but_not_its_length() -> None:
    splits = iris_splits()
    test = splits.test
    assert isinstance(test, HeldOutSplit) and isinstance(test, Split)
    assert not isinstance(splits.train, HeldOutSplit)
    assert (len(test), test.reads, splits.sizes()["test"]) == (30, 0, 30)
    assert test.x.shape == (30, 4) and test.reads == 1
    assert test.y.shape == (30,) and test.reads == 2
    both = concat_splits(splits.train, splits.val)
    assert len(both) == 120 and np.array_equal(both.y[:90], splits.train.y)


class Watcher:
    """An observer plugin noting how often the test split was read as trials finish."""

    def __init__(self) -> None:
        self.test: HeldOutSplit | None = None
        self.during: list[int] = []
        self.at_end: int | None = None

    @automl.hookimpl
    def trial_finished(self, number: int) -> None:
        assert self.test is not None
        self.during.append(self.test.reads)

    @automl.hookimpl
    def study_finished(self) -> None:
        assert self.test is not None
        self.at_end = self.test.reads


def test_the_search_never_reads_the_test_split_before_it_ends(
        in_tmp: Path, write_spec: Callable[..., Path]) -> None:
    torch.set_num_threads(1)
    watcher = Watcher()
    host = PluginHost()
    host.register(watcher, name="watcher")
    spec = load_spec(write_spec("""
        study: honest
        trainer: mlp
        dataset: {name: iris}
        budget: {trials: 3, max_epochs: 4}
        pruner: none
        sampler: {name: random, seed: 0}
        execution: {workers: 0}   # in this process, so the watcher sees the same split
        report: {top_k: 2}
        params:
          lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
          width: [8, 16]
    """))
    controller = Controller(spec, host.collect())
    assert isinstance(controller.splits.test, HeldOutSplit)
    watcher.test = controller.splits.test
    assert watcher.test.reads == 0  # loading, splitting and opening the study read nothing
    controller.run()
    assert watcher.during == [0, 0, 0]  # three trials trained, the test split untouched
    assert watcher.at_end is not None and watcher.at_end > 0  # read for the top K, at the end
    frame = automl.leaderboard("honest")
    assert frame["test_accuracy"].notna().sum() == 2


# -- top K on test ------------------------------------------------------------------------
def study_with_trials(report_dir: Path, qualities: list[float | None]) -> optuna.Study:
    """An in-memory study with a complete trial per quality and a CurveTrainer checkpoint
    for each (``None``: no checkpoint)."""
    study = optuna.create_study(direction="maximize")
    for number, q in enumerate(qualities):
        study.add_trial(optuna.trial.create_trial(
            value=q or 0.0, params={}, distributions={},
            user_attrs={TRIAL_RESULT: {"params": {"x": number}, "best_epoch": 3, "epochs": 5}}))
        if q is not None:
            path = report_dir / "checkpoints" / f"trial_{number}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"q": q}))
    return study


class CountingTrainer(CurveTrainer):
    def __init__(self, fail_on: int | None = None) -> None:
        super().__init__()
        self.evaluated: list[Any] = []
        self.fail_on = fail_on

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: Any) -> dict[str, float]:
        self.evaluated.append(params["x"])
        if params["x"] == self.fail_on:
            raise RuntimeError("corrupt checkpoint")
        return super().evaluate(params, checkpoint, split, info)


def test_evaluate_top_k_scores_each_trial_once(tmp_path: Path) -> None:
    splits = iris_splits()
    study = study_with_trials(tmp_path, [0.9, 0.8, 0.7])
    trainer = CountingTrainer()
    finisher = finisher_for(trainer, splits, tmp_path)
    finisher.evaluate_test(study, [0, 1], None)
    assert trainer.evaluated == [0, 1]
    stored = stored_test_metrics(study.user_attrs)
    assert stored == {0: {"accuracy": pytest.approx(0.89), "rows": 30.0},
                      1: {"accuracy": pytest.approx(0.79), "rows": 30.0}}
    # the top K changed (say trial 2 moved up): only the new one is scored
    finisher.evaluate_test(study, [2, 0], None)
    assert trainer.evaluated == [0, 1, 2]
    assert set(stored_test_metrics(study.user_attrs)) == {0, 1, 2}
    assert stored_test_metrics(study.user_attrs)[0] == stored[0]


def test_a_missing_checkpoint_or_a_failing_evaluation_costs_only_that_trial(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    study = study_with_trials(tmp_path, [0.9, None, 0.7])
    trainer = CountingTrainer(fail_on=0)
    with caplog.at_level(logging.WARNING, logger="automl"):
        finisher_for(trainer, iris_splits(), tmp_path).evaluate_test(study, [0, 1, 2], None)
    assert set(stored_test_metrics(study.user_attrs)) == {2}
    assert trainer.evaluated == [0, 2]  # trial 1 had no checkpoint to evaluate
    assert "trial 1 has no checkpoint" in caplog.text
    assert "test evaluation of trial 0 failed: RuntimeError: corrupt checkpoint" in caplog.text


def test_no_test_split_nothing_to_evaluate(tmp_path: Path) -> None:
    splits = iris_splits()
    splits = DataSplits(splits.info, splits.train, splits.val, test=None)
    trainer = CountingTrainer()
    study = study_with_trials(tmp_path, [0.9])
    finisher_for(trainer, splits, tmp_path).evaluate_test(study, [0], None)
    assert stored_test_metrics(study.user_attrs) == {}
    assert trainer.evaluated == []


# -- refit --------------------------------------------------------------------------------
@pytest.mark.parametrize(("result", "epochs"), [
    ({"best_epoch": 5, "epochs": 9}, 5),
    ({"best_epoch": None, "epochs": 9}, 9),  # a trainer without epochs (sklearn)
    ({}, 1),
])
def test_refit_epochs(result: Mapping[str, Any], epochs: int) -> None:
    assert refit_epochs(result) == epochs


class SpyTrainer(TorchTrainer):
    """The real mlp trainer, noting what each fit was given."""

    def __init__(self) -> None:
        super().__init__("mlp", build_mlp, standardize=True)
        self.fits: list[dict[str, Any]] = []
        self.test: HeldOutSplit | None = None

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        self.fits.append({"rows": len(data.train), "epochs": ctx.max_epochs,
                          "restore_best": ctx.restore_best, "judged": ctx.reporter is not None,
                          "test_reads": self.test.reads if self.test else None})
        return super().fit(params, data, ctx)


def test_refit_trains_the_best_params_on_train_and_val_for_the_best_epoch_count(
        tmp_path: Path) -> None:
    torch.set_num_threads(1)
    splits = iris_splits()
    assert splits.test is not None
    params = {"width": 32, "depth": 1, "lr": 0.01, "batch_size": 16}
    study = optuna.create_study(direction="maximize")
    for number, best_epoch in enumerate((12, 3)):  # trial 0 is the best
        study.add_trial(optuna.trial.create_trial(
            value=0.9 - number / 10, params={}, distributions={},
            user_attrs={TRIAL_RESULT: {"params": {**params, "width": 32 - 16 * number},
                                 "best_epoch": best_epoch, "epochs": 15}}))
    trainer = SpyTrainer()
    trainer.test = splits.test
    finisher = finisher_for(trainer, splits, tmp_path)
    finisher.refit(study, [0, 1], None)

    result = study.user_attrs[REFIT]
    assert (result["trial"], result["epochs"]) == (0, 12)
    assert trainer.fits == [{"rows": 120, "epochs": 12, "restore_best": False,
                             "judged": False, "test_reads": 0}]
    assert result["train_size"] == 120 and splits.test.reads > 0
    metrics = result["metrics"]
    assert metrics["refit_test_accuracy"] > 0.8  # iris: chance is 1/3
    assert {"refit_test_log_loss", "refit_n_params", "refit_latency_ms"} <= set(metrics)
    folder = tmp_path / "refit"
    assert yaml.safe_load((folder / "params.yaml").read_text()) == params
    written = json.loads((folder / "metrics.json").read_text())
    assert written["trial"] == 0 and written["epochs"] == 12
    assert written["refit_test_accuracy"] == metrics["refit_test_accuracy"]
    # the refit model loads like any other, and scores what was recorded
    model = load_model(folder / "model.pt", build_mlp)
    with torch.inference_mode():
        pred = model(torch.from_numpy(splits.test.x)).argmax(1).numpy()
    assert (pred == splits.test.y).mean() == pytest.approx(metrics["refit_test_accuracy"])
    # done once: the same best trial is not refitted again
    finisher.refit(study, [0, 1], None)
    assert len(trainer.fits) == 1


def test_a_failed_refit_is_logged_and_leaves_no_record(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        value=1.0, params={}, distributions={},
        user_attrs={TRIAL_RESULT: {"params": {"optimizer": "lbfgs"}, "best_epoch": 2}}))
    with caplog.at_level(logging.WARNING, logger="automl"):
        finisher_for(TorchTrainer("mlp", build_mlp), iris_splits(), tmp_path).refit(
            study, [0], None)
    assert "refit of trial 0 failed: TrialFailed: unknown optimizer 'lbfgs'" in caplog.text
    assert REFIT not in study.user_attrs
