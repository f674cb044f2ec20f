"""The search controller: asks Optuna for params, hands trials to workers, tells Optuna.

The controller is the only writer of the study. It owns the study-level loop (budget,
timeout, target, no-improvement, failure limits, Ctrl-C), answers each epoch's report
(pruning, early stopping, overfitting, trial timeout), records outcomes, keeps
checkpoints to the top K, evaluates the top K on the test split at the end and keeps the
reports current. Several controllers may share one study (``automl worker``): the
budget is counted in the storage, and stale trials of a dead process are retried.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl import checkpoints
from automl.components import (
    build_algorithms,
    check_spec,
    load_splits,
    lookup_dataset,
    lookup_trainer,
    violations,
)
from automl.devices import plan_workers, resolve_device
from automl.errors import AutomlError, TrialFailed, UsageError
from automl.evaluation import (
    attr_key,
    pending_test_evaluations,
    plan_refit,
    record_refit,
    refit_dir,
    store_test_metrics,
)
from automl.execution import FitResult, TrialOutcome, make_outcome
from automl.judge import TrialJudge
from automl.log import get_logger
from automl.plugins import PluginHost, get_plugin_host
from automl.pool import Event, InlinePool, ProcessPool
from automl.reports import top_numbers, write_reports
from automl.space import suggest, to_optuna_params
from automl.spec import ConstraintSpec, Spec
from automl.stopping import Decision, EarlyStopping, StopReason
from automl.studies import (
    ATTR,
    RESULT,
    count_trials,
    default_report_dir,
    default_storage_url,
    heartbeat_settings,
    heartbeats,
    make_storage,
    open_study,
)
from automl.worker import EvalTask, RefitTask, TrialRunner, TrialTask, WorkerInit

__all__ = ["Controller", "Interrupted", "SearchResult", "TooManyFailures", "check_spec",
           "join", "load_splits", "lookup_dataset", "lookup_trainer", "search"]

logger = get_logger(__name__)

_TELL_STATE = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
               "failed": TrialState.FAIL}
# Trials failed for these reasons are retried, so they do not count against the budget.
_RETRIED = (StopReason.INTERRUPTED.value,)


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
    workers: int = 1


@dataclass
class _Running:
    trial: optuna.Trial
    params: dict[str, Any]
    judge: TrialJudge
    worker: int
    started: float
    seed: int
    timed_out: bool = False


class Controller:
    """Runs (or resumes, or joins) the study a spec describes.

    Args:
        spec: the validated spec.
        host: the plugin host (default: the process-wide one, from entry points).
        enqueue: configs to try first (``--enqueue FILE``), on top of the spec's own.
        join: join an existing study (``automl worker``): never create it or its schema.
    """

    def __init__(self, spec: Spec, host: PluginHost | None = None,
                 enqueue: Sequence[Mapping[str, Any]] = (), join: bool = False,
                 progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.spec = spec
        self.progress = progress
        self.extra_enqueue = list(enqueue)
        self.joining = join
        self.host = (host or get_plugin_host()).collect()
        self.trainer = lookup_trainer(spec, self.host)
        self.splits = load_splits(spec, self.host)
        self.objectives = [o.metric for o in spec.objectives]
        self.directions = [o.direction for o in spec.objectives]
        self.report_dir = Path(spec.report.dir) if spec.report.dir else \
            default_report_dir(spec.study)
        self.storage_url = spec.execution.storage or default_storage_url(self.report_dir)
        self.seed = spec.sampler.seed if spec.sampler.seed is not None else 0
        self.pruning = spec.pruner.name != "none" and len(self.objectives) == 1
        if spec.pruner.name != "none" and len(self.objectives) > 1:
            logger.warning("pruning is off: Optuna cannot prune multi-objective studies")
        resolved = spec.early_stopping.resolved(spec.objectives[0])
        self.monitor, self.mode = str(resolved.monitor), str(resolved.mode)
        self.sampler: optuna.samplers.BaseSampler | None = None
        self._running: dict[int, _Running] = {}
        self._interrupts = 0
        self._reports_due = False
        self._last_heartbeat = 0.0
        self._interval = float(heartbeat_settings()[0])
        self._last_stale_check = 0.0

    # -- the study ------------------------------------------------------------------------
    def trial_seed(self, number: int) -> int:
        """The training seed of trial ``number``: ``execution.trial_seed`` where the spec
        pins one, else derived from the sampler seed so that trials differ."""
        pinned = self.spec.execution.trial_seed
        return pinned if pinned is not None else self.seed * 100_003 + number

    def open(self) -> optuna.Study:
        """Create or load the study; enqueue the warm-start configs."""
        storage = make_storage(self.storage_url, create=not self.joining)
        existing = count_trials(storage, self.spec.study)
        if self.joining and existing == 0 and self.spec.study not in \
                optuna.get_all_study_names(storage):
            raise UsageError(f"no study {self.spec.study!r} to join at that storage; start it "
                             "with `automl search --storage URL` first")
        # A resumed (or joining) run must not replay the first run's random draws (random,
        # qmc, the TPE start-up): derive its seed from the seed and how far the study got.
        seed = self.seed if existing == 0 else (self.seed * 1_000_003 + existing) % 2**31
        sampler, pruner = build_algorithms(self.spec, seed, self.host)
        self.sampler = sampler
        record = {"spec": self.spec.to_dict(), "seed": self.seed,
                  "objectives": [{"metric": o.metric, "direction": o.direction}
                                 for o in self.spec.objectives],
                  "constraints": [str(c) for c in self.spec.constraints],
                  "trainer": self.trainer.name, "data": self.splits.sizes()}
        study, created = open_study(self.spec.study, storage, self.directions, sampler, pruner,
                                    record)
        # The spec's configs seed a new study; --enqueue configs are added on every run.
        for config in [*(self.spec.enqueue if created else ()), *self.extra_enqueue]:
            study.enqueue_trial(to_optuna_params(self.spec.params, config), skip_if_exists=True)
        return study

    def _pool(self) -> ProcessPool | InlinePool:
        ex = self.spec.execution
        if ex.workers == 0:
            device = resolve_device(ex.device)
            runner = TrialRunner(self.spec, self.host, self.splits, device, ex.threads)
            return InlinePool(runner, device, self._on_epoch, self._settle)
        placements = plan_workers(ex.device, ex.workers, ex.trials_per_device, ex.threads)
        spec_data = self.spec.to_dict()
        source = str(self.spec.source) if self.spec.source else None
        inits = [WorkerInit(spec_data, source, p.device, p.label, p.threads, p.env)
                 for p in placements]
        return ProcessPool(inits, self._on_epoch, self._settle)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> SearchResult:
        """Run trials until the budget (or another stop rule) ends the search."""
        start = time.monotonic()
        pool = self._pool()
        pool.start()  # workers import torch and load data while the study opens
        study = self.open()
        previous = self._catch_sigint()
        try:
            pool.wait_ready()
            logger.info("study %s: %d worker(s) on %s; storage %s", self.spec.study, len(pool),
                        ", ".join(sorted({pool.label(i) for i in range(len(pool))})),
                        self.storage_url.split("@")[-1])
            stop_reason, n_new = self._loop(study, pool, start)
        except KeyboardInterrupt:  # the second Ctrl-C: stop what runs, now
            pool.close(kill=True)
            self._record_interrupted(study)
            self._finish(study, "interrupted", None)
            raise Interrupted("interrupted: finished trials are kept; run the same command "
                              "again to continue the study") from None
        except BaseException:
            pool.close(kill=True)
            self._record_interrupted(study)
            raise
        finally:
            self._restore_sigint(previous)
        if stop_reason == "max_failures":
            pool.close()
            self._finish(study, stop_reason, None)
            raise TooManyFailures(self._failure_message)
        best = self._finish(study, stop_reason, pool)
        pool.close()
        if stop_reason == "interrupted":
            raise Interrupted("interrupted: finished trials are kept; run the same command "
                              "again to continue the study")
        return SearchResult(study=self.spec.study, storage=self.storage_url,
                            report_dir=self.report_dir, n_trials=_counted(study), n_new=n_new,
                            stop_reason=stop_reason, best=best,
                            duration_s=time.monotonic() - start, counts=_counts(study),
                            workers=len(pool))

    def _loop(self, study: optuna.Study, pool: ProcessPool | InlinePool,
              start: float) -> tuple[str, int]:
        budget = self.spec.budget
        limit = budget.max_failures if budget.max_failures is not None else 5
        stopping: str | None = None
        n_new, failures_in_row = 0, 0
        while True:
            if self._interrupts > 1:
                raise KeyboardInterrupt  # the second Ctrl-C: handled by run()
            if self._interrupts and stopping is None:
                stopping = "interrupted"
                if self._running:
                    logger.warning("Ctrl-C: no new trials; waiting for %d running trial(s) "
                                   "(Ctrl-C again to stop them now)", len(self._running))
            events: list[Event] = []
            started = False
            if stopping is None and pool.idle():
                counted, running = _counted(study), _running_count(study)
                if counted >= budget.trials:
                    stopping = "budget"
                else:
                    stopping = self._study_rule(study, counted, start)
                if stopping is None and counted + running < budget.trials:
                    for worker in pool.idle()[: budget.trials - counted - running]:
                        submitted = self._start_trial(study, pool, worker)
                        if submitted is None:  # given back: the budget is taken
                            break
                        events += submitted
                        n_new += 1
                        started = True
                        if self._interrupts:
                            break
                    if started:
                        self._report_progress(study)
            # After the idle workers got their next trials, not before: they train while
            # the reports are written.
            self._write_due_reports(study)
            if not self._running and not events:
                if stopping is not None:
                    return stopping, n_new
                # Only other processes' trials are left running: wait for them (or for them
                # to go stale and come back as retries).
                self._maintain(study, force=True)
                events += pool.wait(timeout=1.0)
            if not events and self._running:
                events = pool.wait(timeout=self._wait_time(pool))
            for event in events:
                outcome = self._handle(study, pool, event)
                if outcome is None:
                    continue
                failures_in_row = failures_in_row + 1 if outcome.state == "failed" else 0
                if limit and failures_in_row >= limit and stopping is None:
                    stopping = "max_failures"
                    self._failure_message = (
                        f"{failures_in_row} trials failed in a row (budget.max_failures="
                        f"{limit}); last error: {outcome.error}")
            if events:
                self._report_progress(study)
            self._check_timeouts(study, pool)
            self._maintain(study)

    def _report_progress(self, study: optuna.Study) -> None:
        if self.progress is None:
            return
        counts = _counts(study)
        best = _best_trial(study) if len(self.objectives) == 1 else None
        self.progress({"total": self.spec.budget.trials, "done": _counted(study),
                       "running": len(self._running),
                       "pruned": counts.get("pruned", 0), "failed": counts.get("failed", 0),
                       "best": best.value if best else None,
                       "best_number": best.number if best else None})

    def _study_rule(self, study: optuna.Study, counted: int, start: float) -> str | None:
        budget = self.spec.budget
        if budget.timeout is not None and time.monotonic() - start >= budget.timeout:
            return "timeout"
        exhausted = getattr(self.sampler, "is_exhausted", None)
        if exhausted is not None and counted > 0 and exhausted(study):
            return "grid_exhausted"
        if budget.total_epochs is not None:
            spent = sum(t.user_attrs.get(RESULT, {}).get("epochs", 0) or 0
                        for t in study.get_trials(deepcopy=False))
            if spent >= budget.total_epochs:
                return "total_epochs"
        if len(self.objectives) > 1:
            return None
        best = _best_trial(study)
        if best is None:
            return None
        if budget.target is not None:
            reached = (best.value >= budget.target if self.directions[0] == "maximize"
                       else best.value <= budget.target)
            if reached:
                return "target"
        if budget.no_improvement_trials is not None:
            since = sum(1 for t in study.get_trials(deepcopy=False)
                        if t.number > best.number and t.state.is_finished())
            if since >= budget.no_improvement_trials:
                return "no_improvement"
        return None

    def _start_trial(self, study: optuna.Study, pool: ProcessPool | InlinePool,
                     worker: int) -> list[Event] | None:
        """Ask for a trial and hand it to ``worker``; ``None`` when it was given back."""
        with warnings.catch_warnings():
            # Optuna expects heartbeats only inside study.optimize; this loop records them.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
        if _surplus(study.get_trials(deepcopy=False), trial.number, self.spec.budget.trials):
            # Processes sharing the study counted the budget at the same moment and each
            # asked for its last trial: the newest give theirs back to the queue, untrained
            # (WAITING, its enqueued params kept), so the budget stays exact.
            study._storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
            logger.info("trial %d given back: other processes took the budget's last trials",
                        trial.number)
            return None
        params = suggest(trial, self.spec.params)
        es = self.spec.early_stopping
        stopper = EarlyStopping(self.monitor, self.mode, patience=es.patience,
                                min_delta=es.min_delta, max_gap=es.max_gap, enabled=es.enabled)
        judge = TrialJudge(stopper, trial if self.pruning else None,
                           self.objectives[0] if self.pruning else None)
        seed = self.trial_seed(trial.number)
        self._running[trial.number] = _Running(trial, params, judge, worker, time.monotonic(),
                                               seed)
        self._heartbeat(study, trial)
        task = TrialTask(number=trial.number, params=params, seed=seed,
                         max_epochs=self.spec.budget.max_epochs,
                         checkpoint_path=str(checkpoints.checkpoint_path(self.report_dir,
                                                                         trial.number)),
                         restore_best=es.restore_best, compile=self.spec.execution.compile,
                         amp=self.spec.execution.amp,
                         data_on_device=self.spec.execution.data_on_device)
        return pool.submit_trial(worker, task)

    def _on_epoch(self, number: int, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Answer a running trial's epoch report (called from the pool)."""
        running = self._running[number]
        timeout = self.spec.execution.trial_timeout
        decision = running.judge(epoch, metrics)  # raises TrialFailed for NaN and the like
        if timeout is not None and time.monotonic() - running.started > timeout:
            running.timed_out = True
            raise TrialFailed(f"ran past execution.trial_timeout ({timeout:g}s)")
        self._heartbeat_due()
        return decision

    def _settle(self, number: int) -> None:
        """The Optuna side of a trial's last epoch report (see :mod:`automl.judge`)."""
        running = self._running.get(number)
        if running is not None:
            running.judge.settle()

    def _handle(self, study: optuna.Study, pool: ProcessPool | InlinePool,
                event: Event) -> TrialOutcome | None:
        if event.kind == "evaluated" or event.number not in self._running:
            return None
        running = self._running.pop(event.number)
        if event.kind == "died":
            fit = FitResult(None, event.payload, time.monotonic() - running.started)
        else:
            fit = event.payload
        outcome = make_outcome(fit, running.judge, self.objectives)
        if running.timed_out:
            outcome.reason = StopReason.TIMEOUT
        self._record(study, running, outcome, pool.label(running.worker))
        return outcome

    def _check_timeouts(self, study: optuna.Study, pool: ProcessPool | InlinePool) -> None:
        """A trial that does not report within its timeout (a hang) loses its worker."""
        timeout = self.spec.execution.trial_timeout
        if timeout is None:
            return
        for number, running in list(self._running.items()):
            # A grace over the timeout: the soft stop at the next epoch report comes first.
            if time.monotonic() - running.started > timeout + max(5.0, 0.1 * timeout):
                pool.kill(running.worker)
                self._running.pop(number)
                fit = FitResult(None, f"ran past execution.trial_timeout ({timeout:g}s) "
                                      "without reporting; its worker was killed",
                                time.monotonic() - running.started)
                outcome = make_outcome(fit, running.judge, self.objectives)
                outcome.reason = StopReason.TIMEOUT
                self._record(study, running, outcome, pool.label(running.worker))

    def _wait_time(self, pool: ProcessPool | InlinePool) -> float:
        timeout = self.spec.execution.trial_timeout
        # after a Ctrl-C, look often for a second one
        wait = float(self._interval) if not self._interrupts else 0.25
        if timeout is not None and self._running:
            oldest = min(r.started for r in self._running.values())
            wait = min(wait, max(0.05, oldest + timeout + 5.0 - time.monotonic()))
        return wait

    # -- bookkeeping ----------------------------------------------------------------------
    def _record(self, study: optuna.Study, running: _Running, outcome: TrialOutcome,
                device: str) -> None:
        trial, params = running.trial, running.params
        result = _result_attr(params, outcome, device, self.spec.constraints, running.worker,
                              running.seed)
        # One write for everything automl records about a trial: storage calls cost ms each.
        trial.set_user_attr(RESULT, result)
        # Constraint-aware samplers (tpe, nsga2, gp) read feasibility from the trial.
        for constraint, violation in zip(self.spec.constraints,
                                         violations(self.spec.constraints, outcome.metrics),
                                         strict=True):
            trial.set_constraint(str(constraint), violation)
        study.tell(trial, outcome.values if outcome.state == "complete" else None,
                   state=_TELL_STATE[outcome.state])
        if outcome.reason is StopReason.INTERRUPTED:
            # Try the same params again when the study is resumed.
            study.enqueue_trial(dict(trial.params), skip_if_exists=False)
            return
        self._log(study, trial.number, outcome)
        self.host.notify("trial_finished", study_name=study.study_name, number=trial.number,
                         state=outcome.state, values=outcome.values, attrs=result)
        self._reports_due = True

    def _write_due_reports(self, study: optuna.Study) -> None:
        """Rewrite the reports (and drop checkpoints out of the top K) when a trial
        finished since the last time."""
        if not self._reports_due:
            return
        self._reports_due = False
        frame = write_reports(study, self.report_dir, self.spec.report.top_k)
        # Running trials (of any process sharing the folder) keep theirs: not judged yet.
        running = frame.loc[frame["state"] == "running", "trial"].tolist()
        checkpoints.retain(self.report_dir, top_numbers(frame, self.spec.report.top_k) + running)

    def _record_interrupted(self, study: optuna.Study) -> None:
        for running in list(self._running.values()):
            outcome = TrialOutcome(state="failed", reason=StopReason.INTERRUPTED,
                                   history=running.judge.history,
                                   best_epoch=running.judge.best_epoch,
                                   metrics=dict(running.judge.best_metrics),
                                   duration_s=time.monotonic() - running.started,
                                   error="interrupted")
            try:
                self._record(study, running, outcome, "")
            except Exception as exc:  # noqa: BLE001 - the heartbeat retries it anyway
                logger.warning("could not record trial %d as interrupted: %s",
                               running.trial.number, exc)
        self._running.clear()

    def _heartbeat(self, study: optuna.Study, trial: optuna.Trial) -> None:
        storage = study._storage
        if heartbeats(storage):
            storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]

    def _heartbeat_due(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < self._interval or not self._running:
            return
        self._last_heartbeat = now
        for running in self._running.values():
            self._heartbeat(running.trial.study, running.trial)

    def _maintain(self, study: optuna.Study, force: bool = False) -> None:
        """Heartbeats for our trials; fail (and so retry) other processes' stale ones."""
        self._heartbeat_due()
        now = time.monotonic()
        if force or now - self._last_stale_check >= self._interval:
            self._last_stale_check = now
            if heartbeats(study._storage):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)

    def _log(self, study: optuna.Study, number: int, o: TrialOutcome) -> None:
        metric = self.objectives[0]
        value = o.values[0] if o.values else o.metrics.get(metric)
        shown = f"{metric} {value:.4f}" if isinstance(value, float) else f"{metric} -"
        where = f"epoch {o.epochs}" + (f" (best {o.best_epoch})" if o.best_epoch else "")
        best = ""
        bt = _best_trial(study) if len(self.objectives) == 1 else None
        if bt is not None:
            best = f" | best {bt.value:.4f} (#{bt.number})"
        error = f": {o.error}" if o.error else ""
        logger.info("trial %d %s, %s, %s at %s, %.1fs%s%s", number, o.state, shown,
                    o.reason.value, where, o.duration_s, best, error)

    def _catch_sigint(self) -> Any:
        """First Ctrl-C: no new trials, running ones finish. Second: stop them now."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: Any) -> None:
            self._interrupts += 1
            # Raised here only where a trial runs in this very process (workers: 0):
            # nothing else can stop it. Else the loop raises it between steps, never in the
            # middle of a storage write (a transaction cut short kept SQLite locked).
            if self._interrupts > 1 and self.spec.execution.workers == 0:
                raise KeyboardInterrupt

        return signal.signal(signal.SIGINT, handler)

    @staticmethod
    def _restore_sigint(previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    # -- the end --------------------------------------------------------------------------
    def _finish(self, study: optuna.Study, reason: str,
                pool: ProcessPool | InlinePool | None) -> dict[str, Any] | None:
        frame = write_reports(study, self.report_dir, self.spec.report.top_k, html=False)
        top = top_numbers(frame, self.spec.report.top_k)
        checkpoints.retain(self.report_dir, top)
        self._evaluate_test(study, top, pool)
        if self.spec.report.refit and top and reason != "interrupted":
            self._refit(study, top, pool)
        study.set_user_attr("automl_last_run", {"stop_reason": reason,
                                                "finished_at": time.time()})
        write_reports(study, self.report_dir, self.spec.report.top_k, html=True)
        best = self._write_best(study, top)
        self.host.notify("study_finished", study_name=study.study_name,
                         n_trials=_counted(study), best=best, reason=reason)
        return best

    def _evaluate_test(self, study: optuna.Study, top: list[int],
                       pool: ProcessPool | InlinePool | None) -> None:
        """Score the top K on the test split, once each: the search never saw it."""
        if self.splits.test is None or not top:
            return
        tasks = [EvalTask(c.number, c.params, str(c.checkpoint))
                 for c in pending_test_evaluations(study, top, self.report_dir)]
        if not tasks:
            return
        if pool is None or not pool.idle():
            device = "cpu"
            pool = InlinePool(TrialRunner(self.spec, self.host, self.splits, device), device,
                              self._on_epoch)
        pending = list(tasks)
        waiting = 0
        while pending or waiting:
            events: list[Event] = []
            for worker in pool.idle():
                if not pending:
                    break
                events += pool.submit_eval(worker, pending.pop(0))
                waiting += 1
            if not events:
                events = pool.wait(timeout=1.0)
            for event in events:
                if event.kind == "died":
                    waiting -= 1
                    logger.warning("test evaluation of trial %s: %s", event.number,
                                   event.payload)
                if event.kind != "evaluated":
                    continue
                waiting -= 1
                if event.extra.get("error"):
                    logger.warning("test evaluation of trial %d failed: %s", event.number,
                                   event.extra["error"])
                    continue
                # One key per trial: several controllers may write at once.
                store_test_metrics(study, int(event.number), event.payload)

    def _refit(self, study: optuna.Study, top: list[int],
               pool: ProcessPool | InlinePool | None) -> None:
        """Retrain the best config on train + validation, in a worker like any training
        (in this process only when there is no worker to ask)."""
        plan = plan_refit(study, top)
        if plan is None:
            return
        ex = self.spec.execution
        task = RefitTask(plan, seed=self.trial_seed(plan.number),
                         out_dir=str(refit_dir(self.report_dir)), compile=ex.compile,
                         amp=ex.amp)
        if pool is None or not pool.idle():
            device = resolve_device(ex.device)
            pool = InlinePool(TrialRunner(self.spec, self.host, self.splits, device,
                                          ex.threads), device, self._on_epoch)
        events = pool.submit_refit(pool.idle()[0], task)
        while not any(e.kind in ("refitted", "died") for e in events):
            events = pool.wait(timeout=1.0)
        event = next(e for e in events if e.kind in ("refitted", "died"))
        error = event.payload if event.kind == "died" else event.extra.get("error")
        if error or event.payload is None:
            logger.warning("refit of trial %d failed: %s", plan.number, error)
            return
        record_refit(study, self.report_dir, plan, event.payload)

    def _write_best(self, study: optuna.Study, top: list[int]) -> dict[str, Any] | None:
        if not top:
            return None
        t = study.get_trials(deepcopy=False)[top[0]]  # a trial's number is its index
        res = t.user_attrs.get(RESULT, {})
        test = study.user_attrs.get(attr_key(t.number), {})
        metrics = {**res.get("metrics", {}), **{f"test_{k}": v for k, v in test.items()}}
        refit = study.user_attrs.get("automl_refit") or {}
        if refit.get("trial") == t.number:
            metrics.update(refit.get("metrics", {}))
        checkpoints.write_best(self.report_dir, t.number, res.get("params", {}), metrics)
        return {"number": t.number, "values": t.values, "params": res.get("params", {}),
                "metrics": metrics}


def _result_attr(params: dict[str, Any], o: TrialOutcome, device: str,
                 constraints: Sequence[ConstraintSpec] = (), worker: int | None = None,
                 seed: int | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if constraints:
        viol = violations(constraints, o.metrics)
        extra = {"constraints": [v if math.isfinite(v) else None for v in viol],
                 "feasible": all(v <= 0 for v in viol)}
    return {
        **extra,
        "params": params,
        "stop_reason": o.reason.value,
        "epochs": o.epochs,
        "best_epoch": o.best_epoch,
        "metrics": {k: v for k, v in o.metrics.items() if _finite(v)},
        "history": o.history,
        "duration_s": round(o.duration_s, 4),
        "device": device,
        "worker": worker,
        "seed": seed,
        "error": o.error,
    }


def _best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete (and, with constraints, feasible) trial, or ``None`` yet."""
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet, or none feasible
        return None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _counted(study: optuna.Study) -> int:
    """Trials that count against the budget: finished ones, except the ones that are retried
    (interrupted, or failed as stale by a heartbeat: those carry no automl result)."""
    return _counted_in(study.get_trials(deepcopy=False))


def _counted_in(trials: Sequence[FrozenTrial]) -> int:
    n = 0
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            n += 1
        elif t.state == TrialState.FAIL:
            result = t.user_attrs.get(RESULT)
            if result is not None and result.get("stop_reason") not in _RETRIED:
                n += 1
    return n


def _surplus(trials: Sequence[FrozenTrial], number: int, budget: int) -> bool:
    """Whether running trial ``number`` is past the budget: counted and running trials
    exceed it, and ``number`` is among the newest running ones. Every process reads the
    same order, and the newest trial's process sees all older ones, so exactly the
    surplus is given back."""
    running = sorted(t.number for t in trials if t.state == TrialState.RUNNING)
    extra = _counted_in(trials) + len(running) - budget
    return extra > 0 and number in running[-extra:]


def _running_count(study: optuna.Study) -> int:
    """Trials running anywhere (this controller's and other processes')."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _counts(study: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed"}.get(t.state)
        if key:
            out[key] = out.get(key, 0) + 1
    return out


def search(spec: Spec, host: PluginHost | None = None,
           enqueue: Sequence[Mapping[str, Any]] = (),
           progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run (or resume) the study ``spec`` describes; see :class:`Controller`."""
    return Controller(spec, host, enqueue, progress=progress).run()


def join(study: str, storage: str, host: PluginHost | None = None,
         overrides: Mapping[str, Any] | None = None,
         progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Join a running study from another process or machine (``automl worker``): its spec
    comes from the study itself; ``overrides`` (dotted keys) adapt it to this machine."""
    from automl.studies import load_study

    record = load_study(study, storage).user_attrs.get(ATTR)
    if not record or "spec" not in record:
        raise UsageError(f"study {study!r} was not created by `automl search`: no spec in it")
    data = record["spec"]
    for key, value in (overrides or {}).items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    data.setdefault("execution", {})["storage"] = storage
    return Controller(Spec.from_data(data), host, join=True, progress=progress).run()

