"""The search controller: asks Optuna for params, hands trials to workers, tells Optuna.

The controller is the only writer of the study. It owns the study-level loop (the rules
of :mod:`automl.engine.rules`, Ctrl-C) and answers each running trial's epoch reports
through that trial's :class:`~automl.engine.supervisor.TrialSupervisor`. The parts it
drives: a :class:`~automl.execution.pool.Pool` of workers, a
:class:`~automl.engine.recorder.TrialRecorder` for outcomes,
:class:`~automl.engine.heartbeats.Heartbeats`, and a
:class:`~automl.engine.finish.Finisher` for the end. Several controllers may share one
study (``automl worker``): the budget is counted in the storage, and stale trials of a
dead process are retried.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.engine import trials as trial_counts
from automl.engine.components import check_objectives, load_splits
from automl.engine.finish import Finisher
from automl.engine.heartbeats import Heartbeats
from automl.engine.interrupts import Interrupted, Interrupts
from automl.engine.keys import TRIAL_RESULT, StudyStop
from automl.engine.live_reports import LiveReports
from automl.engine.observers import Observers, open_trackers
from automl.engine.outcome import TrialOutcome, make_outcome
from automl.engine.recorder import TrialRecorder
from automl.engine.rules import StudyProgress, max_failures, study_stop, too_many_failures
from automl.engine.running import RunningTrial, RunningTrials
from automl.engine.space import suggest
from automl.engine.studies import default_storage_url, report_dir_of
from automl.engine.study_setup import SearchStudy, open_search_study, stored_spec
from automl.engine.trainer_choice import resolve_trainers
from automl.engine.workers import SearchWorkers, start_workers
from automl.errors import AutomlError
from automl.execution.messages import (
    Event,
    FitResult,
    TrialDone,
    TrialTask,
    WorkerDied,
)
from automl.execution.options import ExecutionOptions
from automl.execution.pool import Pool
from automl.execution.process_pool import ProcessPool
from automl.library_warnings import release as release_warnings
from automl.log import get_logger
from automl.plugin.host import PluginHost, get_plugin_host
from automl.plugin.trainer import StopReason
from automl.reports import artifacts
from automl.spec import Spec

__all__ = ["Controller", "Interrupted", "SearchResult", "TooManyFailures", "join", "search"]

logger = get_logger(__name__)


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
    stop_reason: str  # a StudyStop value
    best: dict[str, Any] | None
    duration_s: float
    counts: dict[str, int] = field(default_factory=dict)
    workers: int = 1
    # why the study's last failed trial failed ("" when none did): what to tell the user
    # when no trial completed
    last_error: str = ""


def _remove_made(report_dir: Path, outermost: Path) -> None:
    """Remove the report folder this run made, then its parents up to ``outermost`` while
    they are empty: another search may have made a folder of its own beside it meanwhile
    (``reports/other-study``), which an ``rmtree`` of ``outermost`` would take with it."""
    shutil.rmtree(report_dir, ignore_errors=True)
    folder = report_dir.parent
    while folder.is_relative_to(outermost):
        try:
            folder.rmdir()  # only an empty folder
        except OSError:
            return
        folder = folder.parent


class Controller:
    """Runs (or resumes, or joins) the study a spec describes.

    Args:
        spec: the validated spec.
        host: the plugin host (default: the process-wide one, from entry points).
        enqueue: configs to try first (``--enqueue FILE``), on top of the spec's own.
        join: join an existing study (``automl worker``): never create it or its schema.
        progress: called with a progress snapshot (a dict) as trials start and finish.
    """

    def __init__(self, spec: Spec, host: PluginHost | None = None,
                 enqueue: Sequence[Mapping[str, Any]] = (), join: bool = False,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 workers: tuple[ProcessPool, str] | None = None) -> None:
        self.spec, self.progress, self.joining = spec, progress, join
        self._workers = workers  # started already (search() starts them first)
        self.extra_enqueue = list(enqueue)
        self.host = (host or get_plugin_host()).collect()
        self.splits = load_splits(spec, self.host)
        check_objectives(spec, self.splits.info.task)
        # The trainers that take part, with their spaces and first configs (a trainer list).
        self.spec = spec = resolve_trainers(spec, self.host, self.splits.info.task)
        self.objectives = [o.metric for o in spec.objectives]
        self.directions = [o.direction for o in spec.objectives]
        self.report_dir = report_dir_of(spec)
        self.storage_url = spec.execution.storage or default_storage_url(self.report_dir)
        self.store_dir = artifacts.store_root(spec, self.report_dir)  # checkpoints
        self.seed = spec.sampler.seed if spec.sampler.seed is not None else 0
        if spec.pruner.name != "none" and len(self.objectives) > 1:
            logger.warning("pruning is off: Optuna cannot prune multi-objective studies")
        self.options = ExecutionOptions.from_spec(spec.execution)
        self.finisher = Finisher(spec, self.host, self.splits, self.report_dir, self.options,
                                 self.trial_seed)
        self.sampler: optuna.samplers.BaseSampler | None = None
        self._interrupts = Interrupts(raise_second=spec.execution.workers == 0)
        self._heartbeats = Heartbeats()
        self._running = RunningTrials(spec, self._heartbeats)
        self._live = LiveReports(self.report_dir, spec.report.top_k, spec.budget.trials,
                                 progress, keep=spec.kept_trials, store_dir=self.store_dir)
        self._failure_message = ""
        self._observers = Observers(self.host, spec.study)

    def trial_seed(self, number: int) -> int:
        """The training seed of trial ``number``: ``execution.trial_seed`` where the spec
        pins one, else derived from the sampler seed so that trials differ."""
        return trial_counts.training_seed(self.spec, number)

    def open(self) -> SearchStudy:
        """Create or load the study; enqueue the warm-start configs. The caller closes the
        handle (:meth:`SearchStudy.close`: it saves what is in memory)."""
        handle = open_search_study(
            self.spec, self.host, self.storage_url, self.seed, ", ".join(self.spec.trainers),
            self.splits.sizes(), self.extra_enqueue, join=self.joining)
        self.sampler = handle.sampler
        return handle

    def run(self) -> SearchResult:
        """Run trials until the budget (or another stop rule) ends the search."""
        start = time.monotonic()
        run = {"started_at": time.time(), "cpu_start": time.process_time()}
        workers = SearchWorkers(self.spec, self._workers)
        # the outermost folder this run would make: removed again if its input is bad
        fresh = next((p for p in reversed([self.report_dir, *self.report_dir.parents])
                      if not p.exists()), None)
        try:
            from automl.engine.studies import check_storage
            from automl.reports.folder import claim_report_dir

            # A storage that cannot be opened fails the search before it marks or makes
            # anything on disk (the report folder included).
            check_storage(self.storage_url,
                          make_folder=self.storage_url == default_storage_url(self.report_dir))

            # Before anything is written there: a file, an unwritable folder, or one that
            # holds another study's best/ and leaderboards is refused with one line.
            claim_report_dir(self.report_dir, self.spec.study)
            pool, self._layout = workers.open(self.host, self.splits, self.options,
                                              self._running, self.report_dir)
            self._study = self.open()  # the workers set up meanwhile
            # After the study exists (a tracker may read it), before any trial: a bad
            # tracker option is exit 2 like any other bad input.
            self._observers = Observers(self.host, self.spec.study,
                                        open_trackers(self.spec, self.host, self.report_dir))
        except BaseException as exc:
            workers.close(kill=True)
            if fresh is not None and getattr(exc, "exit_code", None) == 2:
                # Bad input found while the study opened (a sampler option, say): a
                # command that fails leaves nothing it made on disk.
                _remove_made(self.report_dir, fresh)
            raise
        release_warnings()  # the input passed its checks: a library's warnings now show
        self._running.observers = self.finisher.observers = self._observers
        try:
            return self._run(self._study.study, pool, start, run)
        finally:
            self._observers.close()
            self.finisher.uploads.close()  # the last learning curves on disk
            self._study.close()  # a study held in memory is saved before this returns
            workers.close()

    def _run(self, study: optuna.Study, pool: Pool, start: float, run: dict[str, Any]
             ) -> SearchResult:
        self._recorder = TrialRecorder(study, self.host, self.objectives, self.spec.constraints,
                                       self._observers, self.finisher.uploads)
        with self._interrupts:
            try:
                pool.wait_ready()
                logger.info("study %s: %s; storage %s", self.spec.study, self._layout,
                            self.storage_url.split("@")[-1])
                stop, n_new = self._loop(study, pool, start)
            except KeyboardInterrupt:  # the second Ctrl-C: stop what runs, now
                pool.close(kill=True)
                self._recorder.record_interrupted(self._running.clear(), time.monotonic())
                self.finisher.finish(study, StudyStop.INTERRUPTED, None, run)
                raise Interrupted() from None
            except BaseException:
                pool.close(kill=True)
                self._recorder.record_interrupted(self._running.clear(), time.monotonic())
                raise
        if stop is StudyStop.MAX_FAILURES:
            pool.close()
            self.finisher.finish(study, stop, None, run)
            raise TooManyFailures(self._failure_message)
        run["workers"] = len(pool)
        best = self.finisher.finish(study, stop, pool, run)
        pool.close()
        if stop is StudyStop.INTERRUPTED:
            raise Interrupted()
        trials = study.get_trials(deepcopy=False)
        return SearchResult(study=self.spec.study, storage=self.storage_url,
                            report_dir=self.report_dir, n_trials=trial_counts.counted(trials),
                            n_new=n_new, stop_reason=stop.value, best=best,
                            duration_s=time.monotonic() - start,
                            counts=trial_counts.state_counts(trials), workers=len(pool),
                            last_error=_last_error(trials))

    def _loop(self, study: optuna.Study, pool: Pool, start: float) -> tuple[StudyStop, int]:
        limit = max_failures(self.spec.budget)
        stopping: StudyStop | None = None
        n_new, failures_in_row = 0, 0
        while True:
            if self._interrupts.stop_now:
                raise KeyboardInterrupt  # the second Ctrl-C: handled by run()
            if self._interrupts.stopping and stopping is None:
                stopping = StudyStop.INTERRUPTED
                if self._running:
                    logger.warning("Ctrl-C: no new trials; waiting for %d running trial(s) "
                                   "(Ctrl-C again to stop them now)", len(self._running))
            events: list[Event] = []
            if stopping is None and pool.idle():
                stopping, events, started = self._start_trials(study, pool, start)
                n_new += started
            # After the idle workers got their next trials, not before: they train while
            # the reports are written.
            self._live.write_due(study)
            if not self._running and not events:
                if stopping is not None:
                    return stopping, n_new
                # Only other processes' trials are left running: wait for them (or for them
                # to go stale and come back as retries).
                self._heartbeats.fail_stale(study, force=True)
                events += pool.wait(timeout=1.0)
            if not events and self._running:
                events = pool.wait(timeout=self._wait_time())
            for event in events:
                outcome = self._handle(pool, event)
                if outcome is None:
                    continue
                failures_in_row = failures_in_row + 1 if outcome.state == "failed" else 0
                if too_many_failures(failures_in_row, limit) and stopping is None:
                    stopping = StudyStop.MAX_FAILURES
                    self._failure_message = (
                        f"{failures_in_row} trials failed in a row (budget.max_failures="
                        f"{limit}); last error: {outcome.error}")
            if events:
                self._live.progress(study, len(self._running))
            self._check_timeouts(pool)
            self._heartbeats.beat_due(r.trial for r in self._running)
            self._heartbeats.fail_stale(study)
            self._study.flush_due()
            self._observers.flush()

    def _start_trials(self, study: optuna.Study, pool: Pool, start: float
                      ) -> tuple[StudyStop | None, list[Event], int]:
        """Ask the stop rules, then start a trial on each idle worker the budget allows."""
        trials = study.get_trials(deepcopy=False)
        done, running = trial_counts.counted(trials), trial_counts.running(trials)
        stop = study_stop(self.spec.budget, self._standing(study, trials, done, start),
                          self.directions[0])
        room = self.spec.budget.trials - done - running
        events: list[Event] = []
        started = 0
        if stop is not None or room <= 0:
            return stop, events, started
        for worker in pool.idle()[:room]:
            submitted = self._start_trial(study, pool, worker)
            if submitted is None:  # given back: the budget is taken
                break
            events += submitted
            started += 1
            if self._interrupts.stopping:
                break
        if started:
            self._live.progress(study, len(self._running))
        return None, events, started

    def _standing(self, study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial],
                  done: int, start: float) -> StudyProgress:
        exhausted = getattr(self.sampler, "is_exhausted", None)
        best = trial_counts.best_trial(study)
        return StudyProgress(
            counted=done, elapsed_s=time.monotonic() - start,
            grid_exhausted=bool(exhausted is not None and done > 0 and exhausted(study)),
            epochs_spent=(trial_counts.epochs_spent(trials)
                          if self.spec.budget.total_epochs is not None else 0),
            best_value=best.value if best is not None else None,
            finished_since_best=(trial_counts.finished_after(trials, best.number)
                                 if best is not None else 0))

    def _start_trial(self, study: optuna.Study, pool: Pool, worker: int) -> list[Event] | None:
        """Ask for a trial and hand it to ``worker``; ``None`` when it was given back."""
        shared = self._study.local is None  # other processes may ask for trials too
        if shared:
            with warnings.catch_warnings():
                # Optuna expects heartbeats only inside study.optimize; this loop records them.
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = study.ask()
        else:
            trial = study.ask()
        if shared and trial_counts.surplus(study.get_trials(deepcopy=False), trial.number,
                                           self.spec.budget.trials):
            # Processes sharing the study counted the budget at the same moment and each
            # asked for its last trial: the newest give theirs back to the queue, untrained
            # (WAITING, its enqueued params kept), so the budget stays exact.
            study._storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
            logger.info("trial %d given back: other processes took the budget's last trials",
                        trial.number)
            return None
        try:
            params = suggest(trial, self.spec.params)
            seed = self.trial_seed(trial.number)
        except BaseException as exc:
            # Nothing runs it yet, so no one else would end it: it would stay RUNNING.
            self._fail_unstarted(study, trial, exc)
            if isinstance(exc, (TypeError, ValueError)):  # a sampler option validate missed
                raise self.spec.error(("sampler",), f"sampler {self.spec.sampler.name!r} "
                                      f"failed to sample trial {trial.number}: {exc}") from None
            raise
        self._running.start(trial, params, worker, seed)
        self._observers.trial_started(trial.number, params)
        self._heartbeats.beat(trial)
        path = artifacts.checkpoint_path(self.store_dir, trial.number)
        return pool.submit(worker, TrialTask(trial.number, params, seed, str(path)))

    def _fail_unstarted(self, study: optuna.Study, trial: optuna.Trial,
                        exc: BaseException) -> None:
        """End a trial that was asked for but never handed to a worker as FAILED, with the
        reason; a failing write is only logged (the error that brought us here matters)."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        try:
            study._storage.set_trial_system_attr(trial._trial_id, "fail_reason", reason)
            study.tell(trial, state=TrialState.FAIL)
        except Exception as write_error:  # noqa: BLE001 - logged; the first error is raised
            logger.warning("could not mark trial %d failed: %s", trial.number, write_error)

    # -- outcomes -------------------------------------------------------------------------
    def _handle(self, pool: Pool, event: Event) -> TrialOutcome | None:
        if not isinstance(event, (TrialDone, WorkerDied)) or event.number not in self._running:
            return None
        running = self._running.pop(event.number)
        fit = event.fit if isinstance(event, TrialDone) else \
            FitResult(None, event.reason, time.monotonic() - running.started)
        return self._record(pool, running, fit, StopReason.TIMEOUT if running.timed_out else None)

    def _record(self, pool: Pool, running: RunningTrial, fit: FitResult,
                reason: StopReason | None) -> TrialOutcome:
        outcome = make_outcome(fit, running.supervisor, self.objectives)
        if reason is not None:
            outcome.reason = reason
        self._recorder.record(running, outcome, pool.label(running.worker))
        self._live.due = True
        return outcome

    def _check_timeouts(self, pool: Pool) -> None:
        """A trial that does not report within its timeout (a hang) loses its worker."""
        for running in self._running.hung():
            pool.kill(running.worker)
            self._running.pop(running.trial.number)
            self._record(pool, running, FitResult(
                None, f"ran past execution.trial_timeout ({self._running.timeout:g}s) "
                      "without reporting; its worker was killed",
                time.monotonic() - running.started), StopReason.TIMEOUT)

    def _wait_time(self) -> float:
        # after a Ctrl-C, look often for a second one
        wait = self._heartbeats.interval if not self._interrupts.stopping else 0.25
        deadline = self._running.seconds_to_deadline()
        return wait if deadline is None else min(wait, max(0.05, deadline))


def search(spec: Spec, host: PluginHost | None = None,
           enqueue: Sequence[Mapping[str, Any]] = (),
           progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run (or resume) the study ``spec`` describes; see :class:`Controller`. The workers
    start first, so that they set up while this process loads plugins and data."""
    workers = start_workers(spec)
    try:
        controller = Controller(spec, host, enqueue, progress=progress, workers=workers)
    except BaseException:
        if workers is not None:
            workers[0].close(kill=True)
        raise
    return controller.run()


def join(study: str, storage: str, host: PluginHost | None = None,
         overrides: Mapping[str, Any] | None = None,
         progress: Callable[[dict[str, Any]], None] | None = None,
         sets: Mapping[str, str] | None = None) -> SearchResult:
    """Join a running study from another process or machine (``automl worker``): its spec
    comes from the study itself; ``overrides`` (dotted keys) and ``sets`` (``--set``
    options) adapt it to this machine (where the shared artifact folder is mounted, say)."""
    spec = stored_spec(study, storage, overrides, sets)
    workers = start_workers(spec)
    try:
        controller = Controller(spec, host, join=True, progress=progress, workers=workers)
    except BaseException:
        if workers is not None:
            workers[0].close(kill=True)
        raise
    return controller.run()


def _last_error(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
    """The error of the newest failed trial, as recorded ("" when no trial failed)."""
    for t in reversed(trials):
        if t.state is TrialState.FAIL:
            result = t.user_attrs.get(TRIAL_RESULT) or {}
            error = result.get("error") if isinstance(result, dict) else None
            return str(error or t.system_attrs.get("fail_reason") or "no reason recorded")
    return ""
