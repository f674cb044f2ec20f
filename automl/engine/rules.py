"""When a search run stops, as pure functions of where the study stands.

The controller takes a :class:`StudyProgress` snapshot before it starts trials and asks
:func:`study_stop`; ``budget.max_failures`` is :func:`too_many_failures` on the run of
failed trials. The rules, in the order they are checked:

1. ``budget``: ``budget.trials`` trials counted (complete, pruned, failed for a reason of
   their own; interrupted and stale trials are retried and do not count);
2. ``timeout``: this run has lasted ``budget.timeout`` seconds;
3. ``grid_exhausted``: the grid sampler has no configuration left;
4. ``total_epochs``: the study's trials have trained ``budget.total_epochs`` epochs;
5. ``target``: the best value reached ``budget.target`` (single objective);
6. ``no_improvement``: ``budget.no_improvement_trials`` trials finished since the best
   one (single objective).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automl.engine.keys import StudyStop

__all__ = ["StudyProgress", "study_stop", "too_many_failures"]

DEFAULT_MAX_FAILURES = 5


@dataclass(frozen=True)
class StudyProgress:
    """Where a study stands, as the stopping rules see it."""

    counted: int = 0  # trials counted against the budget
    elapsed_s: float = 0.0  # wall time of this run
    grid_exhausted: bool = False
    epochs_spent: int = 0
    best_value: float | None = None  # single objective only: None with several
    finished_since_best: int = 0


def study_stop(budget: Any, progress: StudyProgress, direction: str = "maximize"
               ) -> StudyStop | None:
    """The first rule (module docstring) that stops the run, or ``None`` to go on.

    ``budget`` is the spec's budget section (``trials``, ``timeout``, ``total_epochs``,
    ``target``, ``no_improvement_trials``); ``direction`` the first objective's.
    """
    if progress.counted >= budget.trials:
        return StudyStop.BUDGET
    if budget.timeout is not None and progress.elapsed_s >= budget.timeout:
        return StudyStop.TIMEOUT
    if progress.grid_exhausted and progress.counted > 0:
        return StudyStop.GRID_EXHAUSTED
    if budget.total_epochs is not None and progress.epochs_spent >= budget.total_epochs:
        return StudyStop.TOTAL_EPOCHS
    if progress.best_value is None:
        return None
    if budget.target is not None:
        reached = (progress.best_value >= budget.target if direction == "maximize"
                   else progress.best_value <= budget.target)
        if reached:
            return StudyStop.TARGET
    if (budget.no_improvement_trials is not None
            and progress.finished_since_best >= budget.no_improvement_trials):
        return StudyStop.NO_IMPROVEMENT
    return None


def max_failures(budget: Any) -> int:
    """``budget.max_failures``, its default when unset; 0 means no limit."""
    return budget.max_failures if budget.max_failures is not None else DEFAULT_MAX_FAILURES


def too_many_failures(failures_in_row: int, limit: int) -> bool:
    """Whether ``failures_in_row`` failed trials in a row end the search (limit 0: never)."""
    return limit > 0 and failures_in_row >= limit
