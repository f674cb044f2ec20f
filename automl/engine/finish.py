"""The end of a search run: the honest evaluation, the refit and ``best/``.

Run once when a search ends, never during it (:class:`Finisher`):

- **Top K on test.** The checkpoints of the current top K trials are scored on the test
  split, once per trial; each result is stored in the study under its own key
  (:func:`automl.engine.keys.test_metrics_key`, names without prefix; the leaderboard
  shows them as ``test_*``), so a resumed search or a report never scores a trial twice
  and several controllers can write at once.
- **Refit** (``report.refit: true``). The best trial's params are trained again on train +
  validation for the trial's best epoch count and that model is scored on the test split
  (``refit_test_*``). It answers "what does this config give with all the data I may
  train on", which the search's own models, trained on less, cannot.
- **best/**: the best trial's weights, params and metrics (test and refit included).
- **Ensemble** (``ensemble:``): selected on the search's own models; with a refit, each
  member is trained again on train + validation too (``refit/trial_<N>/``) and the ensemble
  predicts, and is scored on test, with those (AutoGluon's ``refit_full``); see
  :mod:`automl.engine.ensemble_step`.

The work runs where the data and the device are (an idle worker; this process only when
there is none) while the controller alone writes the study. The test split is a
:class:`automl.data.HeldOutSplit`, which counts its reads; the tests check that the
count stays at zero until the search is over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from automl.data import DataSplits
from automl.engine.keys import (
    LAST_RUN,
    REFIT,
    TRIAL_RESULT,
    StudyStop,
    stored_test_metrics,
    test_metrics_key,
)
from automl.engine.observers import Observers
from automl.engine.study_artifacts import ArtifactUploads
from automl.engine.trials import counted
from automl.execution.devices import resolve_device
from automl.execution.folds import fold_count
from automl.execution.inline_pool import InlinePool
from automl.execution.messages import (
    EvalDone,
    EvalTask,
    Event,
    RefitDone,
    RefitPlan,
    RefitResult,
    RefitTask,
    Task,
    WorkerDied,
)
from automl.execution.options import ExecutionOptions
from automl.execution.pool import Pool
from automl.execution.runner import TrialRunner
from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.plugin.trainer import Decision
from automl.reports import artifacts, top_numbers, write_reports
from automl.spec import Spec

__all__ = ["Candidate", "Finisher", "member_refit_dir", "pending_test_evaluations",
           "plan_refit", "record_refit", "refit_dir", "refit_epochs", "store_test_metrics",
           "write_trial_bundle"]

logger = get_logger(__name__)


# -- top K on test ------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A trial to score on the test split: its number, params and checkpoint."""

    number: int
    params: dict[str, Any]
    checkpoint: Path


def pending_test_evaluations(study: optuna.Study, top: Iterable[int],
                             store_dir: Path) -> list[Candidate]:
    """The trials of ``top`` that have a checkpoint (under ``store_dir``) and no test
    metrics yet, in order."""
    done = stored_test_metrics(study.user_attrs)
    trials = study.get_trials(deepcopy=False)
    out = []
    for number in top:
        path = artifacts.checkpoint_path(store_dir, number)
        if number in done or number >= len(trials):
            continue
        if not path.exists():
            logger.warning("trial %d has no checkpoint at %s: not scored on test", number, path)
            continue
        params = dict(trials[number].user_attrs.get(TRIAL_RESULT, {}).get("params", {}))
        out.append(Candidate(number, params, path))
    return out


def store_test_metrics(study: optuna.Study, number: int, metrics: Mapping[str, float]) -> None:
    """Record trial ``number``'s test metrics (one storage write)."""
    study.set_user_attr(test_metrics_key(number), {k: float(v) for k, v in metrics.items()})


# -- refit --------------------------------------------------------------------------------
def refit_dir(report_dir: Path) -> Path:
    """Where the refit model goes: ``<report_dir>/refit/`` (``model.pt``, ``params.yaml``,
    ``metrics.json``), beside ``best/``."""
    return report_dir / "refit"


def member_refit_dir(report_dir: Path, number: int) -> Path:
    """Where an ensemble member's refit model goes: ``refit/trial_<N>/``."""
    return refit_dir(report_dir) / f"trial_{number}"


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
    return _plan_of(study, top[0])


def _plan_of(study: optuna.Study, number: int) -> RefitPlan:
    """The refit plan of trial ``number``: its params, for its best epoch count."""
    trial = study.get_trials(deepcopy=False)[number]  # a trial's number is its index
    result = trial.user_attrs.get(TRIAL_RESULT, {})
    return RefitPlan(number, dict(result.get("params", {})), refit_epochs(result))


def _refit_outcome(event: Event) -> tuple[RefitResult | None, str | None]:
    """What a refit task ended with: its result, or the error (a failed fit or a dead
    worker)."""
    if isinstance(event, RefitDone) and event.result is not None and not event.error:
        return event.result, None
    if isinstance(event, RefitDone) and event.trace:
        logger.debug("%s", event.trace.rstrip())
    return None, event.reason if isinstance(event, WorkerDied) else \
        getattr(event, "error", None) or "no result"


def record_refit(study: optuna.Study, report_dir: Path, plan: RefitPlan,
                 result: RefitResult) -> None:
    """Store a refit in the study (:data:`~automl.engine.keys.REFIT`) and write
    ``params.yaml`` and ``metrics.json`` beside its ``model.pt``."""
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


# -- the end of a run -----------------------------------------------------------------------
class _NoEpochs:
    """The listener of a pool that runs no trial (evaluations and refits report none)."""

    def on_epoch(self, number: int, epoch: int, metrics: Mapping[str, float]) -> Decision:
        raise RuntimeError("an evaluation or a refit reported an epoch")

    def settle(self, number: int) -> None:
        return None


class Finisher:
    """Ends a search run: reports, top K on test, refit, ``best/``, ``study_finished``.

    Args:
        spec, host, splits: the search's spec, plugin host and data.
        report_dir: the study's report folder.
        options: the execution options every task runs with.
        trial_seed: the training seed of a trial number (the refit reuses its trial's).
    """

    def __init__(self, spec: Spec, host: PluginHost, splits: DataSplits, report_dir: Path,
                 options: ExecutionOptions, trial_seed: Callable[[int], int]) -> None:
        self.spec, self.host, self.splits = spec, host, splits
        self.report_dir = report_dir
        self.store_dir = artifacts.store_root(spec, report_dir)  # the checkpoints
        self.uploads = ArtifactUploads(self.store_dir)  # what optuna-dashboard shows
        self.options = options
        self.trial_seed = trial_seed
        self.top_k = spec.report.top_k
        self.observers: Observers | None = None  # the run's (the controller sets them)

    def finish(self, study: optuna.Study, reason: StudyStop, pool: Pool | None,
               run: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Everything above, in order; returns the best trial's record (``None`` when no
        trial completed). ``pool``: where to run the work (``None``: in this process);
        ``run``: what to store about this run beside its stop reason (``started_at``,
        ``workers``, ...; the controller's CPU seconds are added here)."""
        frame = write_reports(study, self.report_dir, self.top_k, html=False)
        top = top_numbers(frame, self.top_k)
        artifacts.retain(self.store_dir, top_numbers(frame, self.spec.kept_trials))
        self.evaluate_test(study, top, pool)
        # With folds a trial's checkpoint is its last fold's model: the final model of the
        # best config is trained again on all of train + val.
        refit = self.spec.report.refit or bool(fold_count(self.spec, self.splits))
        if refit and top and reason is not StudyStop.INTERRUPTED:
            self.refit(study, top, pool)
        if self.spec.builds_ensemble and top and reason is not StudyStop.INTERRUPTED:
            from automl.engine.ensemble_step import build_ensemble

            build_ensemble(study, frame, self.spec, self.host, self.splits, self.report_dir,
                           lambda folder, number, checkpoint=None: self.write_trial(
                               study, number, folder, checkpoint),
                           refit=(lambda numbers: self.refit_members(study, numbers, pool))
                           if refit else None)
        record = {**(run or {}), "stop_reason": reason.value, "finished_at": time.time()}
        if "cpu_start" in record:  # this process's CPU time (the workers are others)
            record["controller_cpu_s"] = round(time.process_time() - record.pop("cpu_start"), 3)
        study.set_user_attr(LAST_RUN, record)
        write_reports(study, self.report_dir, self.top_k, html=True)
        best = self.write_best(study, top)
        best_dir = (self.report_dir / "best").absolute()
        if best is not None:
            self.uploads.best_model(study, int(best["number"]), best_dir)
        (self.observers or Observers(self.host, study.study_name)).study_finished(
            counted(study.get_trials(deepcopy=False)), best, reason.value,
            best_dir if best is not None and best_dir.is_dir() else None)
        return best

    def evaluate_test(self, study: optuna.Study, top: list[int], pool: Pool | None) -> None:
        """Score the top K on the test split, once each: the search never saw it."""
        if self.splits.test is None or not top:
            return
        tasks: list[Task] = [EvalTask(c.number, c.params, str(c.checkpoint))
                             for c in pending_test_evaluations(study, top, self.store_dir)]
        for event in self._run(tasks, pool, "cpu"):
            if isinstance(event, WorkerDied):
                logger.warning("test evaluation of trial %s: %s", event.number, event.reason)
            elif isinstance(event, EvalDone):
                if event.error:
                    logger.warning("test evaluation of trial %d failed: %s", event.number,
                                   event.error)
                    if event.trace:
                        logger.debug("%s", event.trace.rstrip())
                else:
                    store_test_metrics(study, event.number, event.metrics)

    def refit(self, study: optuna.Study, top: list[int], pool: Pool | None) -> None:
        """Retrain the best config on train + validation, in a worker like any training."""
        plan = plan_refit(study, top)
        if plan is None:
            return
        task = RefitTask(plan, seed=self.trial_seed(plan.number),
                         out_dir=str(refit_dir(self.report_dir)))
        device = resolve_device(self.spec.execution.device)
        for event in self._run([task], pool, device):
            result, error = _refit_outcome(event)
            if result is None:
                logger.warning("refit of trial %d failed: %s", plan.number, error)
                return
            record_refit(study, self.report_dir, plan, result)

    def refit_members(self, study: optuna.Study, numbers: list[int], pool: Pool | None
                      ) -> dict[int, Path]:
        """Train each of ``numbers`` (an ensemble's members) again on train + validation
        for its best epoch count, as :meth:`refit` does for the best trial (whose refit is
        reused); returns the checkpoint of each that succeeded, by trial number."""
        import shutil

        # an earlier run's members that are members no more
        wanted = {member_refit_dir(self.report_dir, n).name for n in numbers}
        for old in refit_dir(self.report_dir).glob("trial_*"):
            if old.name not in wanted:
                shutil.rmtree(old, ignore_errors=True)
        done: dict[int, Path] = {}
        best = study.user_attrs.get(REFIT) or {}
        best_model = Path(best.get("checkpoint") or refit_dir(self.report_dir) / "model.pt")
        tasks: list[Task] = []
        for number in numbers:
            if best.get("trial") == number and best_model.is_file():
                done[number] = best_model
                continue
            tasks.append(RefitTask(_plan_of(study, number), seed=self.trial_seed(number),
                                   out_dir=str(member_refit_dir(self.report_dir, number))))
        for event in self._run(tasks, pool, resolve_device(self.spec.execution.device)):
            result, error = _refit_outcome(event)
            if result is None:
                logger.warning("refit of ensemble member %d failed (its kept model stays "
                               "in the ensemble): %s", event.number, error)
            else:
                done[event.number] = Path(result.checkpoint)
        return done

    def _run(self, tasks: list[Task], pool: Pool | None, device: str) -> list[Event]:
        """Run ``tasks`` on the pool's idle workers (in this process on ``device`` when
        there is none) and return what each ended with."""
        if not tasks:
            return []
        if pool is None or not pool.idle():
            runner = TrialRunner(self.spec, self.host, self.splits, device, self.options)
            pool = InlinePool(runner, device, _NoEpochs())
        pending, waiting, ends = list(tasks), 0, []
        while pending or waiting:
            events: list[Event] = []
            for worker in pool.idle():
                if not pending:
                    break
                events += pool.submit(worker, pending.pop(0))
                waiting += 1
            if not events:
                events = pool.wait(timeout=1.0)
            waiting -= len(events)
            ends += events
        return ends

    def write_best(self, study: optuna.Study, top: list[int]) -> dict[str, Any] | None:
        """Fill ``best/`` with the best trial's model bundle; returns its record."""
        if not top:
            return None
        # The best config trained again on train + val (report.refit, or folds) is the
        # final model: best/ holds it, with the trial's metrics and the refit's test scores.
        checkpoint = None
        refit = study.user_attrs.get(REFIT) or {}
        if refit.get("trial") == top[0]:
            checkpoint = Path(refit.get("checkpoint") or refit_dir(self.report_dir) / "model.pt")
        return self.write_trial(study, top[0], self.report_dir / "best",
                                checkpoint if checkpoint is not None and checkpoint.is_file()
                                else None)

    def write_trial(self, study: optuna.Study, number: int, folder: Path,
                    checkpoint: Path | None = None) -> dict[str, Any]:
        """Write trial ``number``'s model bundle (its kept checkpoint, or ``checkpoint``)
        into ``folder``; returns its record."""
        t = study.get_trials(deepcopy=False)[number]  # a trial's number is its index
        res = t.user_attrs.get(TRIAL_RESULT, {})
        test = study.user_attrs.get(test_metrics_key(t.number), {})
        metrics = {**res.get("metrics", {}), **{f"test_{k}": v for k, v in test.items()}}
        refit = study.user_attrs.get(REFIT) or {}
        if refit.get("trial") == t.number:
            metrics.update(refit.get("metrics", {}))
        params = dict(res.get("params", {}))
        trainer, own = self.spec.trial_trainer(params)
        write_trial_bundle(folder, host=self.host, trainer=trainer,
                           checkpoint=checkpoint or artifacts.checkpoint_path(self.store_dir,
                                                                              t.number),
                           params=own, metrics=metrics, splits=self.splits,
                           study=study.study_name, trial=t.number)
        return {"number": t.number, "values": t.values, "params": params,
                "metrics": metrics}


def write_trial_bundle(folder: Path, *, host: PluginHost, trainer: str, checkpoint: Path,
                       params: dict[str, Any], metrics: dict[str, Any], splits: DataSplits,
                       study: str, trial: int) -> Path:
    """Write trial ``trial``'s model bundle into ``folder`` (see :mod:`automl.models`)."""
    from automl.models.bundle import write_bundle
    from automl.schema import InputSchema

    plugin = host.trainers.provider(trainer)
    loaded = host.plugins.get(plugin)
    info = splits.info
    schema = splits.schema or InputSchema.of_info(
        task=info.task, input_shape=info.input_shape, n_outputs=info.n_outputs,
        class_names=info.class_names, feature_names=info.feature_names)
    return write_bundle(folder, checkpoint=checkpoint, trainer=host.trainers.get(trainer),
                        plugin=plugin, plugin_version=loaded.version if loaded else None,
                        params=params, metrics=metrics, info=info, schema=schema,
                        study=study, trial=trial)
