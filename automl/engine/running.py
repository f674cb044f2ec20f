"""This controller's running trials: who runs them, since when, and their supervisors.

:class:`RunningTrials` is the pool's :class:`~automl.execution.pool.EpochListener`: each
epoch report of a running trial is answered by that trial's
:class:`~automl.engine.supervisor.TrialSupervisor`, and a trial past
``execution.trial_timeout`` fails at its next report (or, when it stops reporting, is
found by :meth:`RunningTrials.hung` and its worker killed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from automl.engine.heartbeats import Heartbeats
from automl.engine.keys import WARM_START
from automl.engine.observers import Observers
from automl.engine.stopping import EarlyStopping
from automl.engine.supervisor import TrialSupervisor
from automl.errors import TrialFailed
from automl.plugin.trainer import Decision
from automl.spec import Spec

__all__ = ["RunningTrial", "RunningTrials"]


@dataclass
class RunningTrial:
    """A trial this controller started and has not recorded yet."""

    trial: optuna.Trial
    params: dict[str, Any]
    supervisor: TrialSupervisor
    worker: int
    started: float  # time.monotonic() at the start
    seed: int
    timed_out: bool = False


class RunningTrials:
    """The running trials of one controller, by number.

    Args:
        spec: the search's spec (early stopping, the pruning metric, the trial timeout).
        heartbeats: where a trial's epoch reports count as signs of life.
    """

    def __init__(self, spec: Spec, heartbeats: Heartbeats) -> None:
        self.spec = spec
        self.heartbeats = heartbeats
        self.timeout = spec.execution.trial_timeout
        self.single = len(spec.objectives) == 1
        self.pruning = spec.pruner.name != "none" and self.single
        self._trials: dict[int, RunningTrial] = {}
        self.observers: Observers | None = None  # told of each accepted epoch report

    def __len__(self) -> int:
        return len(self._trials)

    def __contains__(self, number: object) -> bool:
        return number in self._trials

    def __iter__(self) -> Iterator[RunningTrial]:
        return iter(list(self._trials.values()))

    def start(self, trial: optuna.Trial, params: dict[str, Any], worker: int,
              seed: int) -> RunningTrial:
        """Track a trial that is about to be handed to ``worker``."""
        es = self.spec.early_stopping
        resolved = es.resolved(self.spec.objectives[0])
        stopper = EarlyStopping(str(resolved.monitor), str(resolved.mode),  # type: ignore[arg-type]
                                patience=es.patience, min_delta=es.min_delta,
                                max_gap=es.max_gap, enabled=es.enabled)
        supervisor = TrialSupervisor(stopper, trial if self.single else None,
                                     self.spec.objectives[0].metric,
                                     prune=self.pruning and not trial.user_attrs.get(WARM_START))
        running = RunningTrial(trial, params, supervisor, worker, time.monotonic(), seed)
        self._trials[trial.number] = running
        return running

    def pop(self, number: int) -> RunningTrial:
        return self._trials.pop(number)

    def clear(self) -> list[RunningTrial]:
        """Forget every running trial; returns them."""
        trials = list(self._trials.values())
        self._trials.clear()
        return trials

    # -- EpochListener --------------------------------------------------------------------
    def on_epoch(self, number: int, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Answer a running trial's epoch report (called from the pool)."""
        running = self._trials[number]
        decision = running.supervisor(epoch, metrics)  # raises TrialFailed for NaN and the like
        if self.observers is not None:  # queued only: observers run between the loop's steps
            self.observers.epoch(number, epoch, metrics)
        if self.timeout is not None and time.monotonic() - running.started > self.timeout:
            running.timed_out = True
            raise TrialFailed(f"ran past execution.trial_timeout ({self.timeout:g}s)")
        self.heartbeats.beat_due(r.trial for r in self._trials.values())
        return decision

    def settle(self, number: int) -> None:
        """The Optuna side of a trial's last epoch report (see :mod:`automl.engine.supervisor`)."""
        running = self._trials.get(number)
        if running is not None:
            running.supervisor.settle()

    # -- trials that stopped reporting ----------------------------------------------------
    def grace(self) -> float:
        """Seconds past the timeout before a silent trial counts as hung: the soft stop at
        its next epoch report comes first."""
        return max(5.0, 0.1 * self.timeout) if self.timeout is not None else 0.0

    def hung(self) -> list[RunningTrial]:
        """Trials past their timeout and its grace: they stopped reporting."""
        if self.timeout is None:
            return []
        limit = self.timeout + self.grace()
        now = time.monotonic()
        return [r for r in self._trials.values() if now - r.started > limit]

    def seconds_to_deadline(self) -> float | None:
        """Seconds until the oldest trial's timeout (plus 5 s); ``None`` without a timeout."""
        if self.timeout is None or not self._trials:
            return None
        oldest = min(r.started for r in self._trials.values())
        return oldest + self.timeout + 5.0 - time.monotonic()
