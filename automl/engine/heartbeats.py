"""Heartbeats of this controller's running trials, and failing other processes' stale ones.

Optuna's RDB storages record a heartbeat per running trial; a trial whose heartbeat is
older than the grace period is failed, and its params retried, by whichever process
notices first. Optuna does this only inside ``study.optimize``; automl's ask/tell loop
does it here.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable

import optuna

from automl.engine.studies import heartbeat_settings, heartbeats

__all__ = ["Heartbeats"]


class Heartbeats:
    """Heartbeats at most every ``interval`` seconds (``AUTOML_HEARTBEAT_INTERVAL``)."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = float(heartbeat_settings()[0] if interval is None else interval)
        self._last_beat = 0.0
        self._last_stale_check = 0.0

    @staticmethod
    def beat(trial: optuna.Trial) -> None:
        """Record one heartbeat for ``trial`` now (a trial's first, when it starts)."""
        storage = trial.study._storage
        if heartbeats(storage):
            storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]

    def beat_due(self, trials: Iterable[optuna.Trial]) -> None:
        """A heartbeat for each of ``trials`` when the interval has passed."""
        now = time.monotonic()
        trials = list(trials)
        if now - self._last_beat < self.interval or not trials:
            return
        self._last_beat = now
        for trial in trials:
            self.beat(trial)

    def fail_stale(self, study: optuna.Study, force: bool = False) -> None:
        """Fail (and so retry) other processes' stale trials, at most once an interval."""
        now = time.monotonic()
        if not force and now - self._last_stale_check < self.interval:
            return
        self._last_stale_check = now
        if heartbeats(study._storage):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
