"""The end of a search with ``ensemble:`` on: an ensemble of the best trials, selected on the
validation split and scored once on the test split like any top-K trial.

The candidates are the best ``ensemble.from_top`` completed trials whose weights the search
kept (:attr:`automl.spec.Spec.kept_trials`); their validation and test predictions come
from those checkpoints, with each trial's own trainer, in this process. The selection sees
the validation split only; the test split scores the result once. Like auto-sklearn's, the
ensemble's validation score is optimistic (it was fitted to that split); its test score is
the one to compare.

With cross-validation (``split.folds``) every fold model trained on most of the validation
split, so the selection sees each candidate's out-of-fold predictions of train + val
instead (kept by the worker beside the checkpoint, as auto-sklearn and AutoGluon select on
theirs); the members predict with their kept (last-fold) models.

With a refit (``report.refit``, always with folds) the selected members are trained again
on train + validation for their best epoch counts, and the ensemble keeps the selection's
weights but predicts, and is scored on test, with the refit models (AutoGluon's
``refit_full``): the search's models saw a third less data, and with folds only the last
fold's. The validation score stays the selection's. A member whose refit fails keeps its
search model. Measured on ``bench/vs_flaml.py``'s datasets: see the README.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from automl.data import DataSplits
from automl.engine.ensemble_selection import ensemble_score, prediction_metric, select_ensemble
from automl.engine.keys import ENSEMBLE, TRIAL_RESULT
from automl.execution.folds import fold_count, oof_path, pool_targets
from automl.execution.runner import TrialRunner
from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.reports import artifacts
from automl.reports.leaderboard import top_numbers
from automl.spec import Spec

__all__ = ["ENSEMBLE_DIR", "build_ensemble"]

logger = get_logger(__name__)
ENSEMBLE_DIR = "ensemble"


def build_ensemble(study: optuna.Study, frame: pd.DataFrame, spec: Spec, host: PluginHost,
                   splits: DataSplits, report_dir: Path, write_member: Any,
                   refit: Callable[[list[int]], dict[int, Path]] | None = None
                   ) -> dict[str, Any] | None:
    """Select, score and save the ensemble; store its record in the study
    (:data:`automl.engine.keys.ENSEMBLE`) and return it (``None``, with the reason logged,
    where there is nothing to ensemble). ``write_member(folder, trial, checkpoint)`` writes a
    trial's model bundle (``checkpoint``: ``None`` for the trial's kept one); ``refit(trials)``
    trains the members again on train + val and returns their checkpoints by trial."""
    start = time.perf_counter()
    objective = spec.objectives[0]
    task = splits.info.task
    metric = prediction_metric(objective.metric, task)
    if metric is None:
        logger.warning("no ensemble: the objective %s is not a metric of the predictions",
                       objective.metric)
        return None
    runner = TrialRunner(spec, host, splits, "cpu")  # the trials' trainers, to predict
    numbers, val_out, test_out = _candidates(study, frame, spec, runner, splits, report_dir)
    if len(numbers) < 2:
        logger.info("no ensemble: %d trial(s) with kept weights to choose from", len(numbers))
        return None
    # With folds, each candidate's validation outputs are its out-of-fold predictions of
    # train + val: every fold model trained on the validation split, so predicting it
    # would favour the models that memorise.
    y_val = pool_targets(splits) if fold_count(spec, splits) else np.asarray(splits.val.y)
    maximize = objective.direction == "maximize"
    # Accuracy-like objectives tie often; the log loss (lower is better) breaks ties.
    tie = "log_loss" if task == "classification" and metric != "log_loss" else None

    def score(out: np.ndarray) -> tuple[float, ...]:
        scores = ensemble_score(y_val, out, task)
        first = scores[metric]
        if tie is None:
            return (first,)
        return (first, -scores[tie] if maximize else scores[tie])

    selection = select_ensemble(val_out, score, size=spec.ensemble.size, maximize=maximize)
    members = [(numbers[i], w) for i, w in selection.weights.items()]

    def mix(outputs: list[np.ndarray]) -> np.ndarray:
        return sum(w * outputs[i] for i, w in selection.weights.items())  # type: ignore[return-value]

    val_metrics = {f"val_{k}": v for k, v in ensemble_score(y_val, mix(val_out), task).items()}
    if objective.metric not in val_metrics:  # val_loss: the loss the selection used
        val_metrics[objective.metric] = val_metrics[f"val_{metric}"]
    refitted = _refit_members(study, refit, members, numbers, test_out, runner, splits)
    test_metrics: dict[str, float] = {}
    if splits.test is not None and test_out:
        test_metrics = {f"test_{k}": v for k, v in
                        ensemble_score(np.asarray(splits.test.y), mix(test_out), task).items()}
    record = {"members": [{"trial": n, "weight": round(w, 6), "refit": n in refitted}
                          for n, w in members],
              "size": spec.ensemble.size, "candidates": len(numbers),
              "metric": metric, "value": val_metrics[objective.metric],
              "val": val_metrics, "test": test_metrics, "trace": list(selection.trace),
              "duration_s": round(time.perf_counter() - start, 3)}
    study.set_user_attr(ENSEMBLE, record)
    from automl.models.ensemble import write_ensemble

    write_ensemble(report_dir / ENSEMBLE_DIR, study=study.study_name, members=members,
                   metrics={**val_metrics, **test_metrics},
                   write_member=lambda folder, n: write_member(folder, n, refitted.get(n)))
    logger.info("ensemble of %d trials (%s) from %d: %s %.4g",
                len(members), ", ".join(f"#{n} x{w:.2f}" for n, w in members), len(numbers),
                objective.metric, record["value"])
    return record


def _refit_members(study: optuna.Study, refit: Callable[[list[int]], dict[int, Path]] | None,
                   members: list[tuple[int, float]], numbers: list[int],
                   test_out: list[np.ndarray], runner: TrialRunner,
                   splits: DataSplits) -> dict[int, Path]:
    """Refit the members (``refit``) and put each refit model's test predictions in
    ``test_out`` in place of its search model's; returns the refit checkpoints by trial."""
    if refit is None:
        return {}
    refitted = refit([n for n, _ in members])
    if not refitted or splits.test is None or not test_out:
        return refitted
    trials = study.get_trials(deepcopy=False)
    kept: dict[int, Path] = {}
    for number, checkpoint in refitted.items():
        params = trials[number].user_attrs.get(TRIAL_RESULT, {}).get("params", {})
        trainer, own = runner.trainer_for(params)
        try:
            predict = trainer.predict  # type: ignore[attr-defined]
            out = np.asarray(predict(own, checkpoint, splits.test.x, splits.info), np.float64)
        except Exception as exc:  # noqa: BLE001 - that member keeps its search model
            logger.warning("ensemble: the refit of trial %d cannot predict (%s: %s); its "
                           "search model stays", number, type(exc).__name__, exc)
            continue
        test_out[numbers.index(number)] = out
        kept[number] = checkpoint
    return kept


def _candidates(study: optuna.Study, frame: pd.DataFrame, spec: Spec, runner: TrialRunner,
                splits: DataSplits, report_dir: Path
                ) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """The best trials' numbers with their validation and test outputs, best first; a
    trial without kept weights, or whose trainer cannot predict, is skipped."""
    trials = study.get_trials(deepcopy=False)
    numbers, val_out, test_out = [], [], []
    folds = bool(fold_count(spec, splits))
    for number in top_numbers(frame, spec.ensemble.from_top):
        checkpoint = artifacts.checkpoint_path(artifacts.store_root(spec, report_dir), number)
        params = trials[number].user_attrs.get(TRIAL_RESULT, {}).get("params")
        if params is None or not checkpoint.is_file():
            continue
        if folds and not oof_path(checkpoint).is_file():
            continue  # trained before out-of-fold predictions were kept, or cannot predict
        trainer, own = runner.trainer_for(params)
        predict = getattr(trainer, "predict", None)
        if not callable(predict):
            continue
        # One call over the validation and test rows: loading the model is most of it.
        rows = [] if folds else [splits.val.x]
        if splits.test is not None:
            rows.append(splits.test.x)
        try:
            out = np.asarray(predict(own, checkpoint, np.concatenate(rows), splits.info),
                             np.float64) if rows else np.empty((0,))
            if folds:
                val = np.load(oof_path(checkpoint), allow_pickle=False).astype(np.float64)
                test = out
            else:
                val, test = out[:len(splits.val.x)], out[len(splits.val.x):]
        except Exception as exc:  # noqa: BLE001 - one trial's model, not the search, failed
            logger.warning("ensemble: trial %d left out: %s: %s", number,
                           type(exc).__name__, exc)
            continue
        if not np.isfinite(val).all():
            continue
        numbers.append(number)
        val_out.append(val)
        if splits.test is not None:
            test_out.append(test)
    return numbers, val_out, test_out
