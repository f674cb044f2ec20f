"""The final, honest evaluation: the test split, read only once the search is over.

Two steps, both run when a search ends (and by ``automl report``), never during it:

- **Top K on test.** The checkpoints of the current top K trials are scored on the test
  split, once per trial; each result is stored in the study under its own key
  (``automl_test_metrics:<number>``, names without prefix; the leaderboard shows them as
  ``test_*``), so a resumed search or a report never scores a trial twice and several
  controllers can write at once.
- **Refit** (``report.refit: true``). The best trial's params are trained again on train +
  validation for the trial's best epoch count and that model is scored on the test split
  (``refit_test_*``). It answers "what does this config give with all the data I may
  train on", which the search's own models, trained on less, cannot.

Each step comes in two halves, so that the work can run where the data and the device
are (a worker process) while the controller alone writes the study: the top K are scored
by :func:`score_checkpoints` and recorded with :func:`store_test_metrics`; a refit is run
by :func:`refit` and recorded with :func:`record_refit`. :func:`pending_test_evaluations`
and :func:`plan_refit` say what is left to do; :func:`evaluate_top_k` and
:func:`refit_best` do a whole step in this process.

The test split is a :class:`automl.data.HeldOutSplit`, which counts its reads; the tests
check that the count stays at zero until the search is over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from automl import checkpoints
from automl.data import DataInfo, DataSplits, Split, TrialData, concat_splits
from automl.log import get_logger
from automl.studies import RESULT, TEST_METRICS
from automl.trainer import Trainer, TrialContext

logger = get_logger(__name__)

REFIT = "automl_refit"  # the study user attribute holding the refit's record


# -- top K on test ------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A trial to score on the test split: its number, params and checkpoint."""

    number: int
    params: dict[str, Any]
    checkpoint: Path


def attr_key(number: int) -> str:
    """The study user attribute holding trial ``number``'s test metrics."""
    return f"{TEST_METRICS}:{number}"


def stored_test_metrics(study: optuna.Study) -> dict[int, dict[str, float]]:
    """The test metrics stored so far, by trial number."""
    prefix = TEST_METRICS + ":"
    return {int(k[len(prefix):]): dict(v) for k, v in study.user_attrs.items()
            if k.startswith(prefix)}


def pending_test_evaluations(study: optuna.Study, top: Iterable[int],
                             report_dir: Path) -> list[Candidate]:
    """The trials of ``top`` that have a checkpoint and no test metrics yet, in order."""
    done = stored_test_metrics(study)
    trials = study.get_trials(deepcopy=False)
    out = []
    for number in top:
        path = checkpoints.checkpoint_path(report_dir, number)
        if number in done or number >= len(trials):
            continue
        if not path.exists():
            logger.warning("trial %d has no checkpoint at %s: not scored on test", number, path)
            continue
        params = dict(trials[number].user_attrs.get(RESULT, {}).get("params", {}))
        out.append(Candidate(number, params, path))
    return out


def score_checkpoints(trainer: Trainer, split: Split, info: DataInfo,
                      candidates: Iterable[Candidate]) -> dict[int, dict[str, float]]:
    """``trainer.evaluate`` each candidate's checkpoint on ``split``.

    A failing evaluation is logged and skipped: one bad checkpoint must not cost the others
    their test metrics.
    """
    out: dict[int, dict[str, float]] = {}
    for c in candidates:
        try:
            metrics = trainer.evaluate(c.params, c.checkpoint, split, info)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            logger.warning("test evaluation of trial %d failed: %s: %s", c.number,
                           type(exc).__name__, exc)
            continue
        out[c.number] = {k: float(v) for k, v in metrics.items()}
    return out


def store_test_metrics(study: optuna.Study, number: int, metrics: Mapping[str, float]) -> None:
    """Record trial ``number``'s test metrics (one storage write)."""
    study.set_user_attr(attr_key(number), {k: float(v) for k, v in metrics.items()})


def evaluate_top_k(study: optuna.Study, trainer: Trainer, splits: DataSplits,
                   report_dir: Path, top: Iterable[int]) -> dict[int, dict[str, float]]:
    """Score the trials ``top`` (the top K numbers) on the test split in this process, each
    once, store the new results and return all stored ones. No test split: nothing to do."""
    if splits.test is None:
        return stored_test_metrics(study)
    todo = pending_test_evaluations(study, top, report_dir)
    if todo:
        for number, metrics in score_checkpoints(trainer, splits.test, splits.info,
                                                 todo).items():
            store_test_metrics(study, number, metrics)
    return stored_test_metrics(study)


# -- refit --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefitPlan:
    """What to refit: the best trial's number, params and epoch count."""

    number: int
    params: dict[str, Any]
    epochs: int


@dataclass(frozen=True)
class RefitResult:
    """A refit: what was trained and how it scored (plain data: it crosses processes)."""

    trial: int
    epochs: int
    train_size: int
    metrics: dict[str, float]  # refit_test_* on the test split; refit_n_params, ...
    checkpoint: str
    duration_s: float

    def to_attr(self) -> dict[str, Any]:
        """The record stored in the study's ``automl_refit`` user attribute."""
        return {"trial": self.trial, "epochs": self.epochs, "train_size": self.train_size,
                "metrics": self.metrics, "checkpoint": self.checkpoint,
                "duration_s": round(self.duration_s, 4)}


def refit_dir(report_dir: Path) -> Path:
    """Where the refit model goes: ``<report_dir>/refit/`` (``model.pt``, ``params.yaml``,
    ``metrics.json``), beside ``best/``."""
    return report_dir / "refit"


def refit_epochs(result: Mapping[str, Any]) -> int:
    """Epochs for a refit: the trial's best epoch, else all the epochs it ran, else 1."""
    return int(result.get("best_epoch") or result.get("epochs") or 1)


def plan_refit(study: optuna.Study, top: list[int]) -> RefitPlan | None:
    """The refit to run for the best trial ``top[0]``, or ``None`` when there is no best
    trial or it was refitted already (a resumed search that kept its best)."""
    if not top:
        return None
    done = study.user_attrs.get(REFIT)
    if done and done.get("trial") == top[0]:
        return None
    trial = study.get_trials(deepcopy=False)[top[0]]  # a trial's number is its index
    result = trial.user_attrs.get(RESULT, {})
    return RefitPlan(top[0], dict(result.get("params", {})), refit_epochs(result))


def refit(trainer: Trainer, params: dict[str, Any], splits: DataSplits, *, number: int,
          epochs: int, out_dir: Path, device: str, seed: int, compile: bool = False,
          amp: bool = True, threads: int | None = None) -> RefitResult:
    """Train ``params`` on train + validation for ``epochs`` epochs; score it on test.

    Nobody judges the epochs (no early stopping, no pruning) and ``restore_best`` is off:
    the model after the last epoch is the one kept, in ``out_dir/model.pt``. The trainer
    still gets the validation split as ``val`` because the trainer API needs one; it is
    training data here, so whatever the trainer reports on it is discarded.
    """
    start = time.perf_counter()
    train = concat_splits(splits.train, splits.val)
    data = TrialData(info=splits.info, train=train, val=splits.val)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.pt"
    ctx = TrialContext(number=number, device=device, seed=seed, max_epochs=epochs,
                       checkpoint_path=path, restore_best=False, compile=compile, amp=amp,
                       threads=threads)
    fitted = trainer.fit(params, data, ctx) or {}
    metrics: dict[str, float] = {}
    for key in ("n_params", "train_time_s", "latency_ms"):
        value = fitted.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[f"refit_{key}"] = float(value)
    if splits.test is not None:
        scored = trainer.evaluate(params, path, splits.test, splits.info)
        metrics.update({f"refit_test_{k}": float(v) for k, v in scored.items()})
    return RefitResult(trial=number, epochs=epochs, train_size=len(train), metrics=metrics,
                       checkpoint=str(path), duration_s=time.perf_counter() - start)


def record_refit(study: optuna.Study, report_dir: Path, plan: RefitPlan,
                 result: RefitResult) -> None:
    """Store a refit in the study (``automl_refit``) and write ``params.yaml`` and
    ``metrics.json`` beside its ``model.pt``."""
    out_dir = refit_dir(report_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "params.yaml").write_text(yaml.safe_dump(plan.params, sort_keys=False))
    (out_dir / "metrics.json").write_text(json.dumps(
        {"trial": result.trial, "epochs": result.epochs, "train_size": result.train_size,
         **result.metrics}, indent=2) + "\n")
    study.set_user_attr(REFIT, result.to_attr())
    logger.info("refit of trial %d on %d rows for %d epochs: %s", result.trial,
                result.train_size, result.epochs,
                ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()
                          if k.startswith("refit_test_")) or "no test split")


def refit_best(study: optuna.Study, trainer: Trainer, splits: DataSplits, report_dir: Path,
               top: list[int], *, device: str, seed: int, compile: bool = False,
               amp: bool = True, threads: int | None = None) -> RefitResult | None:
    """Plan, run and record the refit of the best trial in this process.

    Returns ``None`` when there is nothing to refit (see :func:`plan_refit`) or when it
    failed; a failure is logged, and the search's results stand without it.
    """
    plan = plan_refit(study, top)
    if plan is None:
        return None
    try:
        result = refit(trainer, plan.params, splits, number=plan.number, epochs=plan.epochs,
                       out_dir=refit_dir(report_dir), device=device, seed=seed,
                       compile=compile, amp=amp, threads=threads)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        logger.warning("refit of trial %d failed: %s: %s", plan.number, type(exc).__name__,
                       exc)
        return None
    record_refit(study, report_dir, plan, result)
    return result
