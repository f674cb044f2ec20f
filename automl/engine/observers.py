"""Observers of a search run: the observer hooks of every plugin and the spec's trackers.

Everything here runs in the controller, off the training path: a worker's epoch report is
answered first (early stopping, pruning), and the epoch is only queued; the controller
hands queued epochs to observers between its steps (:meth:`Observers.flush`), and always
before that trial's ``trial_finished``. An observer that raises is logged once with its
name and not called again in this run (one broken tracker must not log at every epoch,
nor fail a trial).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from automl.errors import UsageError
from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.plugin.tracking import Tracker, TrackingContext
from automl.spec import Spec

__all__ = ["Observers", "check_trackers", "open_trackers"]

logger = get_logger(__name__)

_EPOCH_HOOK = "epoch_finished"


def check_trackers(spec: Spec, host: PluginHost) -> None:
    """A spec error at ``tracking[i].name`` for a tracker no installed plugin provides."""
    for i, entry in enumerate(spec.tracking):
        if entry.name not in host.trackers:
            raise spec.error(("tracking", i, "name"), host.trackers.unknown_message(entry.name))


def open_trackers(spec: Spec, host: PluginHost, report_dir: Path) -> list[tuple[str, Tracker]]:
    """Open each tracker the spec lists, in its order.

    A tracker's :class:`~automl.errors.UsageError` (a bad option) is a spec error at its
    entry (exit 2, before any trial); any other failure to open is logged and that tracker
    is left out, since tracking is never a reason to lose a search.
    """
    check_trackers(spec, host)
    from automl.redaction import redact_spec

    ctx = TrackingContext(
        study_name=spec.study,
        objectives=tuple((o.metric, o.direction) for o in spec.objectives),
        report_dir=report_dir.absolute(), spec=redact_spec(spec.to_dict()),
        trainers=tuple(spec.trainers))
    opened: list[tuple[str, Tracker]] = []
    for i, entry in enumerate(spec.tracking):
        plugin = host.trackers.get(entry.name)
        try:
            tracker = plugin.open(dict(entry.options), ctx)
        except UsageError as exc:
            for _, done in opened:
                _close(entry.name, done)
            raise spec.error(("tracking", i), f"tracker {entry.name!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a tracker that cannot start is left out
            logger.warning("tracker %r could not start and is off for this run: %s: %s",
                           entry.name, type(exc).__name__, exc)
            continue
        opened.append((entry.name, tracker))
    return opened


def _close(name: str, tracker: Tracker) -> None:
    try:
        tracker.close()
    except Exception as exc:  # noqa: BLE001 - closing never fails the search
        logger.warning("tracker %r raised in close: %s: %s", name, type(exc).__name__, exc)


class Observers:
    """Hands a search run's events to observer hooks and trackers.

    Args:
        host: the plugin host whose ``epoch_finished`` / ``trial_finished`` /
            ``study_finished`` implementations are called.
        study_name: the study's name, passed to the hooks.
        trackers: the opened trackers (:func:`open_trackers`), by name.
    """

    def __init__(self, host: PluginHost, study_name: str,
                 trackers: Sequence[tuple[str, Tracker]] = ()) -> None:
        self.host = host
        self.study_name = study_name
        self.trackers = list(trackers)
        self._off: set[str] = set()  # plugins and trackers that raised: not called again
        self._pending: list[tuple[int, int, dict[str, float]]] = []
        # Asking pluggy per epoch for implementations nobody wrote would cost every epoch.
        self._epoch_hooked = bool(getattr(host.pm.hook, _EPOCH_HOOK).get_hookimpls())

    @property
    def wants_epochs(self) -> bool:
        """Whether anyone observes epochs (else :meth:`epoch` is not worth calling)."""
        return self._epoch_hooked or bool(self.trackers)

    def trial_started(self, number: int, params: Mapping[str, Any]) -> None:
        self._each_tracker("trial_started", number, params)

    def epoch(self, number: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """Queue one epoch report (called while the trial waits for its answer: only a copy
        is taken here)."""
        if self.wants_epochs:
            self._pending.append((number, epoch, dict(metrics)))

    def flush(self) -> None:
        """Hand the queued epochs to the observers, in the order they were reported."""
        pending, self._pending = self._pending, []
        for number, epoch, metrics in pending:
            if self._epoch_hooked:
                self.host.notify(_EPOCH_HOOK, disabled=self._off, study_name=self.study_name,
                                 number=number, epoch=epoch, metrics=metrics)
            self._each_tracker("epoch_finished", number, epoch, metrics)

    def trial_finished(self, number: int, state: str, values: list[float] | None,
                       attrs: Mapping[str, Any]) -> None:
        self.flush()  # its last epochs first
        self.host.notify("trial_finished", disabled=self._off, study_name=self.study_name,
                         number=number, state=state, values=values, attrs=attrs)
        self._each_tracker("trial_finished", number, state, values, attrs)

    def study_finished(self, n_trials: int, best: Mapping[str, Any] | None, reason: str,
                       best_dir: Path | None) -> None:
        self.flush()
        self.host.notify("study_finished", disabled=self._off, study_name=self.study_name,
                         n_trials=n_trials, best=best, reason=reason)
        self._each_tracker("study_finished", n_trials, best, reason, best_dir)

    def close(self) -> None:
        """Close every tracker (also after an error or Ctrl-C); epochs still queued are
        handed over first."""
        try:
            self.flush()
        finally:
            for name, tracker in self.trackers:
                if f"tracker:{name}" not in self._off:
                    _close(name, tracker)
            self.trackers = []

    def _each_tracker(self, method: str, *args: Any) -> None:
        for name, tracker in self.trackers:
            key = f"tracker:{name}"
            if key in self._off:
                continue
            call: Callable[..., None] = getattr(tracker, method)
            try:
                call(*args)
            except Exception as exc:  # noqa: BLE001 - tracking never fails a trial
                self._off.add(key)
                logger.warning("tracker %r raised in %s: %s: %s; it is off for the rest of "
                               "this run", name, method, type(exc).__name__, exc)
                _close(name, tracker)
