"""Tracking plugins: send a search's trials, epochs and results to an experiment tracker.

A tracker plugin registers a :class:`TrackerPlugin` through the ``register_trackers``
hook. A spec turns it on by name (``tracking: [{name: mlflow, uri: file:./mlruns}]``; the
other keys are the tracker's options); nothing is tracked by default. For each search run
the controller calls ``open(options, ctx)`` once and then the returned :class:`Tracker`'s
methods, in the controller's process, never in a trial's training step: epochs are
handed over between the controller's steps, after the trial got its answer.

A tracker that raises is logged with its name and turned off for the rest of the run;
the search and its trials go on. :meth:`TrackerPlugin.open` raising
:class:`~automl.errors.UsageError` (a bad option) stops the search before any trial with
exit code 2; any other exception there only turns that tracker off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "TrackerPlugin", "TrackingContext", "check_options"]


def check_options(options: Mapping[str, Any], known: tuple[str, ...]) -> None:
    """A :class:`~automl.errors.UsageError` for the first option of ``options`` that is
    not in ``known``, with a did-you-mean hint and the list a tracker takes (call it first
    in ``open``)."""
    from automl.errors import UsageError
    from automl.hints import did_you_mean

    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
                         f"it takes: {', '.join(known)}")


@dataclass(frozen=True)
class TrackingContext:
    """What a tracker knows about the search it tracks.

    Attributes:
        study_name: the study's name.
        objectives: ``(metric, direction)`` per objective, e.g. ``[("val_accuracy",
            "maximize")]``.
        report_dir: the study's report folder (``best/`` and the reports are written
            there); a tracker may keep its files there when not told otherwise.
        spec: the resolved spec as plain data (the storage URL's password removed).
        trainers: the trainer names the search uses.
    """

    study_name: str
    objectives: tuple[tuple[str, str], ...]
    report_dir: Path
    spec: Mapping[str, Any] = field(default_factory=dict)
    trainers: tuple[str, ...] = ()


class Tracker:
    """What a tracker does with a search's events; every method is optional (the base
    class does nothing), so a tracker overrides only what it needs.

    Methods are called in this order for one run: for each trial, ``trial_started``, its
    ``epoch_finished`` calls in epoch order, then ``trial_finished``; trials running at the
    same time interleave. ``study_finished`` comes once at the end, then ``close`` (also
    after an error or Ctrl-C).
    """

    def trial_started(self, number: int, params: Mapping[str, Any]) -> None:
        """Trial ``number`` starts with the sampled ``params`` (nested blocks as lists)."""

    def epoch_finished(self, number: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """Trial ``number`` reported ``metrics`` for ``epoch`` (1, 2, ...). With
        ``split.folds``, ``metrics`` holds a ``fold`` entry and epochs restart per fold."""

    def trial_finished(self, number: int, state: str, values: list[float] | None,
                       attrs: Mapping[str, Any]) -> None:
        """Trial ``number`` ended: ``state`` is ``complete``, ``pruned`` or ``failed``;
        ``attrs`` as for the ``trial_finished`` hook (params, stop_reason, metrics, ...)."""

    def study_finished(self, n_trials: int, best: Mapping[str, Any] | None, reason: str,
                       best_dir: Path | None) -> None:
        """The run ended for ``reason``; ``best`` as for the ``study_finished`` hook;
        ``best_dir`` is the ``best/`` folder (the best trial's model bundle) if one was
        written."""

    def close(self) -> None:
        """Release what the tracker holds (files, runs, connections)."""


@dataclass(frozen=True)
class TrackerPlugin:
    """A named tracker: ``open(options, ctx) -> Tracker``.

    ``options`` are the spec entry's keys other than ``name`` (``{uri: ...}``);
    ``open`` raises :class:`~automl.errors.UsageError` for a bad or missing option.
    ``description`` is shown by ``automl plugins list``.
    """

    name: str
    open: Callable[[dict[str, Any], TrackingContext], Tracker]
    description: str = ""
