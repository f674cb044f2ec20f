"""The search controller: asks Optuna for params, runs trials, tells Optuna the outcome.

The controller is the only writer of the study. It owns the study-level loop (budget,
timeout, target, no-improvement and failure limits), per-trial bookkeeping, checkpoint
retention, the final test evaluation of the top K and the reports.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl import checkpoints
from automl.algorithms import AlgorithmError, build_pruner, build_sampler
from automl.data import DatasetLoader, DataSplits, make_splits
from automl.devices import resolve_device
from automl.errors import AutomlError, DataError
from automl.execution import TrialOutcome, run_trial
from automl.judge import TrialJudge
from automl.log import get_logger
from automl.plugins import PluginHost, get_plugin_host
from automl.reports import top_k_numbers, write_reports
from automl.space import suggest
from automl.spec import Spec
from automl.stopping import EarlyStopping, StopReason
from automl.studies import RESULT, TEST_METRICS, default_report_dir, default_storage_url, open_study
from automl.trainer import Trainer, TrialContext

logger = get_logger(__name__)

_TELL_STATE = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
               "failed": TrialState.FAIL}


class Interrupted(AutomlError):
    """The search was stopped with Ctrl-C; what finished is stored and the run can resume."""

    exit_code = 130


class TooManyFailures(AutomlError):
    """``budget.max_failures`` trials failed in a row: the spec or the data is likely wrong."""


@dataclass
class SearchResult:
    """What a search run did."""

    study: str
    storage: str
    report_dir: Path
    n_trials: int  # finished trials in the study, counted against the budget
    n_new: int  # trials run by this call
    stop_reason: str
    best: dict[str, Any] | None
    duration_s: float
    counts: dict[str, int] = field(default_factory=dict)


class Controller:
    """Runs (or resumes) the study a spec describes.

    Args:
        spec: the validated spec.
        host: the plugin host (default: the process-wide one, from entry points).
    """

    def __init__(self, spec: Spec, host: PluginHost | None = None) -> None:
        self.spec = spec
        self.host = (host or get_plugin_host()).collect()
        self.trainer = self._lookup_trainer()
        self.splits = self._load_data()
        self.objectives = [o.metric for o in spec.objectives]
        self.directions = [o.direction for o in spec.objectives]
        self.report_dir = Path(spec.report.dir) if spec.report.dir else \
            default_report_dir(spec.study)
        self.storage = spec.execution.storage or default_storage_url(self.report_dir)
        self.device = resolve_device(spec.execution.device)
        self.seed = spec.sampler.seed if spec.sampler.seed is not None else 0
        self.pruning = spec.pruner.name != "none" and len(self.objectives) == 1
        if spec.pruner.name != "none" and len(self.objectives) > 1:
            logger.warning("pruning is off: Optuna cannot prune multi-objective studies")
        resolved = spec.early_stopping.resolved(spec.objectives[0])
        self.monitor, self.mode = str(resolved.monitor), str(resolved.mode)

    # -- set-up ---------------------------------------------------------------------------
    def _lookup_trainer(self) -> Trainer:
        return lookup_trainer(self.spec, self.host)

    def _load_data(self) -> DataSplits:
        ds = self.spec.dataset
        loader = lookup_dataset(self.spec, self.host)
        try:
            dataset = loader.load(**ds.args)
        except DataError:
            raise
        except TypeError as exc:
            raise self.spec.error(("dataset",),
                                  f"bad arguments for dataset {ds.name!r}: {exc}") from None
        if dataset.task not in self.trainer.tasks:
            raise self.spec.error(("trainer",), f"trainer {self.trainer.name!r} handles "
                                  f"{', '.join(self.trainer.tasks)} data, but dataset "
                                  f"{ds.name!r} is a {dataset.task} task")
        sp = self.spec.split
        return make_splits(dataset, val=sp.val, test=sp.test, seed=sp.seed, stratify=sp.stratify)

    def _algorithms(self) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
        return build_algorithms(self.spec, self.seed)

    def open(self) -> optuna.Study:
        """Create or load the study; enqueue the spec's warm-start configs on creation."""
        sampler, pruner = self._algorithms()
        record = {"spec": self.spec.to_dict(), "seed": self.seed,
                  "objectives": [{"metric": o.metric, "direction": o.direction}
                                 for o in self.spec.objectives],
                  "trainer": self.trainer.name, "data": self.splits.sizes()}
        study, created = open_study(self.spec.study, self.storage, self.directions, sampler,
                                    pruner, record)
        if created:
            from automl.space import to_optuna_params

            for config in self.spec.enqueue:
                study.enqueue_trial(to_optuna_params(self.spec.params, config),
                                    skip_if_exists=True)
        return study

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> SearchResult:
        """Run trials until the budget (or another stop rule) ends the search."""
        study = self.open()
        budget = self.spec.budget
        start = time.monotonic()
        n_new, failures_in_row = 0, 0
        stop_reason = "budget"
        try:
            while True:
                done = _finished(study)
                if done >= budget.trials:
                    stop_reason = "budget"
                    break
                if budget.timeout is not None and time.monotonic() - start >= budget.timeout:
                    stop_reason = "timeout"
                    break
                reason = self._study_rule(study)
                if reason:
                    stop_reason = reason
                    break
                outcome = self._one_trial(study)
                n_new += 1
                failures_in_row = failures_in_row + 1 if outcome.state == "failed" else 0
                limit = budget.max_failures if budget.max_failures is not None else 5
                if failures_in_row >= limit:
                    self._finish(study, "max_failures")
                    raise TooManyFailures(
                        f"{failures_in_row} trials failed in a row (budget.max_failures="
                        f"{limit}); last error: {outcome.error}")
        except KeyboardInterrupt:
            self._finish(study, "interrupted")
            raise Interrupted("interrupted: finished trials are kept; run the same command "
                              "again to continue the study") from None
        best = self._finish(study, stop_reason)
        return SearchResult(study=self.spec.study, storage=self.storage,
                            report_dir=self.report_dir, n_trials=_finished(study), n_new=n_new,
                            stop_reason=stop_reason, best=best,
                            duration_s=time.monotonic() - start, counts=_counts(study))

    def _study_rule(self, study: optuna.Study) -> str | None:
        budget = self.spec.budget
        if len(self.objectives) > 1:
            return None
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            return None
        best = study.best_trial
        if budget.target is not None:
            reached = (best.value >= budget.target if self.directions[0] == "maximize"
                       else best.value <= budget.target)
            if reached:
                return "target"
        if budget.no_improvement_trials is not None:
            finished = [t for t in study.get_trials(deepcopy=False)
                        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
            since = sum(1 for t in finished if t.number > best.number)
            if since >= budget.no_improvement_trials:
                return "no_improvement"
        return None

    def _one_trial(self, study: optuna.Study) -> TrialOutcome:
        trial = study.ask()
        es = self.spec.early_stopping
        stopper = EarlyStopping(self.monitor, self.mode, patience=es.patience,
                                min_delta=es.min_delta, max_gap=es.max_gap, enabled=es.enabled)
        judge = TrialJudge(stopper, trial if self.pruning else None,
                           self.objectives[0] if self.pruning else None)
        ctx = TrialContext(number=trial.number, device=self.device,
                           seed=self.seed * 100_003 + trial.number,
                           max_epochs=self.spec.budget.max_epochs,
                           checkpoint_path=checkpoints.checkpoint_path(self.report_dir,
                                                                       trial.number),
                           restore_best=es.restore_best)
        params: dict[str, Any] = {}
        try:
            params = suggest(trial, self.spec.params)
            outcome = run_trial(self.trainer, params, self.splits.for_trial(), ctx, judge,
                                self.objectives)
        except KeyboardInterrupt:
            outcome = TrialOutcome(state="failed", reason=StopReason.INTERRUPTED,
                                   history=judge.history, best_epoch=judge.best_epoch,
                                   metrics=dict(judge.best_metrics), error="interrupted")
            self._record(study, trial, params, outcome)
            # Try the same params again when the study is resumed.
            study.enqueue_trial(dict(trial.params), skip_if_exists=False)
            raise
        self._record(study, trial, params, outcome)
        self._log(study, trial.number, outcome)
        self.host.notify("trial_finished", study_name=study.study_name, number=trial.number,
                         state=outcome.state, values=outcome.values,
                         attrs=_result_attr(params, outcome, self.device))
        checkpoints.retain(self.report_dir, top_k_numbers(study, self.spec.report.top_k))
        write_reports(study, self.report_dir, self.spec.report.top_k)
        return outcome

    def _record(self, study: optuna.Study, trial: optuna.Trial, params: dict[str, Any],
                outcome: TrialOutcome) -> None:
        # One write for everything automl records about a trial: storage calls cost ms each.
        trial.set_user_attr(RESULT, _result_attr(params, outcome, self.device))
        study.tell(trial, outcome.values if outcome.state == "complete" else None,
                   state=_TELL_STATE[outcome.state])

    def _log(self, study: optuna.Study, number: int, o: TrialOutcome) -> None:
        metric = self.objectives[0]
        value = o.values[0] if o.values else o.metrics.get(metric)
        shown = f"{metric} {value:.4f}" if isinstance(value, float) else f"{metric} -"
        where = f"epoch {o.epochs}" + (f" (best {o.best_epoch})" if o.best_epoch else "")
        best = ""
        if len(self.objectives) == 1 and _counts(study).get("complete"):
            bt = study.best_trial
            best = f" | best {bt.value:.4f} (#{bt.number})"
        error = f": {o.error}" if o.error else ""
        logger.info("trial %d %s, %s, %s at %s, %.1fs%s%s", number, o.state, shown,
                    o.reason.value, where, o.duration_s, best, error)

    # -- the end --------------------------------------------------------------------------
    def _finish(self, study: optuna.Study, reason: str) -> dict[str, Any] | None:
        top = top_k_numbers(study, self.spec.report.top_k)
        checkpoints.retain(self.report_dir, top)
        self._evaluate_test(study, top)
        write_reports(study, self.report_dir, self.spec.report.top_k)
        best = self._write_best(study, top)
        study.set_user_attr("automl_last_run", {"stop_reason": reason,
                                                "finished_at": time.time()})
        self.host.notify("study_finished", study_name=study.study_name,
                         n_trials=_finished(study), best=best, reason=reason)
        return best

    def _evaluate_test(self, study: optuna.Study, top: list[int]) -> None:
        """Score the top K on the test split, once each: the search never saw it."""
        test = self.splits.test
        if test is None or not top:
            return
        stored: dict[str, Any] = dict(study.user_attrs.get(TEST_METRICS, {}))
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        changed = False
        for number in top:
            path = checkpoints.checkpoint_path(self.report_dir, number)
            if str(number) in stored or not path.exists():
                continue
            params = trials[number].user_attrs.get(RESULT, {}).get("params", {})
            try:
                metrics = self.trainer.evaluate(params, path, test, self.splits.info)
            except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not lose the rest
                logger.warning("test evaluation of trial %d failed: %s", number, exc)
                continue
            stored[str(number)] = {k: float(v) for k, v in metrics.items()}
            changed = True
        if changed:
            study.set_user_attr(TEST_METRICS, stored)

    def _write_best(self, study: optuna.Study, top: list[int]) -> dict[str, Any] | None:
        if not top:
            return None
        t = study.get_trials(deepcopy=False)[top[0]]  # a trial's number is its index
        res = t.user_attrs.get(RESULT, {})
        test = study.user_attrs.get(TEST_METRICS, {}).get(str(t.number), {})
        metrics = {**res.get("metrics", {}), **{f"test_{k}": v for k, v in test.items()}}
        checkpoints.write_best(self.report_dir, t.number, res.get("params", {}), metrics)
        return {"number": t.number, "values": t.values, "params": res.get("params", {}),
                "metrics": metrics}


def _result_attr(params: dict[str, Any], o: TrialOutcome, device: str) -> dict[str, Any]:
    return {
        "params": params,
        "stop_reason": o.reason.value,
        "epochs": o.epochs,
        "best_epoch": o.best_epoch,
        "metrics": {k: v for k, v in o.metrics.items() if _finite(v)},
        "history": o.history,
        "duration_s": round(o.duration_s, 4),
        "device": device,
        "error": o.error,
    }


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _finished(study: optuna.Study) -> int:
    """Trials that count against the budget: finished ones, except interrupted ones (retried)."""
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            n += 1
        elif t.state == TrialState.FAIL and t.user_attrs.get(RESULT, {}).get(
                "stop_reason") != StopReason.INTERRUPTED.value:
            n += 1
    return n


def _counts(study: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed"}.get(t.state)
        if key:
            out[key] = out.get(key, 0) + 1
    return out


def lookup_trainer(spec: Spec, host: PluginHost) -> Trainer:
    """The spec's trainer; a spec error at ``trainer`` with a hint when it is unknown."""
    try:
        return host.collect().trainers.get(spec.trainer)
    except KeyError as exc:
        raise spec.error(("trainer",), exc.args[0]) from None


def lookup_dataset(spec: Spec, host: PluginHost) -> DatasetLoader:
    """The spec's dataset loader; a spec error at ``dataset.name`` when it is unknown."""
    try:
        return host.collect().datasets.get(spec.dataset.name)
    except KeyError as exc:
        raise spec.error(("dataset", "name"), exc.args[0]) from None


def build_algorithms(spec: Spec, seed: int | None
                     ) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    """The spec's sampler and pruner; a spec error at the bad name or option."""
    s, p = spec.sampler, spec.pruner
    try:
        sampler = build_sampler(s.name, seed, s.options)
    except AlgorithmError as exc:
        raise spec.error(("sampler", exc.key), str(exc)) from None
    try:
        pruner = build_pruner(p.name, spec.budget.max_epochs, p.options)
    except AlgorithmError as exc:
        raise spec.error(("pruner", exc.key), str(exc)) from None
    return sampler, pruner


def check_spec(spec: Spec, host: PluginHost | None = None) -> None:
    """Everything ``automl validate`` checks beyond the file itself: the trainer, dataset,
    sampler and pruner names exist and the sampler/pruner options are accepted."""
    host = host or get_plugin_host()
    lookup_trainer(spec, host)
    lookup_dataset(spec, host)
    build_algorithms(spec, spec.sampler.seed)


def search(spec: Spec, host: PluginHost | None = None) -> SearchResult:
    """Run (or resume) the study ``spec`` describes; see :class:`Controller`."""
    return Controller(spec, host).run()
