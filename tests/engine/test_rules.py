"""When a search run stops: the study-level rules as a table of standings -> stop reason."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from automl.engine.keys import StudyStop
from automl.engine.rules import (
    StudyProgress,
    max_failures,
    study_stop,
    too_many_failures,
)


@dataclass(frozen=True)
class Budget:
    trials: int = 10
    timeout: float | None = None
    total_epochs: int | None = None
    target: float | None = None
    no_improvement_trials: int | None = None
    max_failures: int | None = None


@pytest.mark.parametrize(("budget", "progress", "direction", "expected"), [
    # nothing reached: go on
    (Budget(), StudyProgress(counted=3, elapsed_s=5.0), "maximize", None),
    # the trial budget, exactly
    (Budget(trials=3), StudyProgress(counted=3), "maximize", StudyStop.BUDGET),
    (Budget(trials=3), StudyProgress(counted=2), "maximize", None),
    # the wall-clock timeout: at it, not a moment before
    (Budget(timeout=60), StudyProgress(elapsed_s=60.0), "maximize", StudyStop.TIMEOUT),
    (Budget(timeout=60), StudyProgress(elapsed_s=59.9), "maximize", None),
    # the budget comes first when both hold
    (Budget(trials=3, timeout=1), StudyProgress(counted=3, elapsed_s=9), "maximize",
     StudyStop.BUDGET),
    # a grid with nothing left, once something ran
    (Budget(), StudyProgress(counted=4, grid_exhausted=True), "maximize",
     StudyStop.GRID_EXHAUSTED),
    (Budget(), StudyProgress(counted=0, grid_exhausted=True), "maximize", None),
    # the epoch budget
    (Budget(total_epochs=20), StudyProgress(counted=3, epochs_spent=24), "maximize",
     StudyStop.TOTAL_EPOCHS),
    (Budget(total_epochs=20), StudyProgress(counted=2, epochs_spent=19), "maximize", None),
    # the target, by direction
    (Budget(target=0.9), StudyProgress(counted=1, best_value=0.91), "maximize",
     StudyStop.TARGET),
    (Budget(target=0.9), StudyProgress(counted=1, best_value=0.89), "maximize", None),
    (Budget(target=0.1), StudyProgress(counted=1, best_value=0.09), "minimize",
     StudyStop.TARGET),
    (Budget(target=0.1), StudyProgress(counted=1, best_value=0.11), "minimize", None),
    # no best value yet (or several objectives): target and no-improvement cannot hold
    (Budget(target=0.0), StudyProgress(counted=1, best_value=None), "maximize", None),
    (Budget(no_improvement_trials=2), StudyProgress(counted=5, finished_since_best=4),
     "maximize", None),
    # no improvement for that many finished trials since the best
    (Budget(no_improvement_trials=3), StudyProgress(counted=5, best_value=0.5,
                                                    finished_since_best=3), "maximize",
     StudyStop.NO_IMPROVEMENT),
    (Budget(no_improvement_trials=3), StudyProgress(counted=5, best_value=0.5,
                                                    finished_since_best=2), "maximize", None),
])
def test_study_stop_table(budget: Budget, progress: StudyProgress, direction: str,
                          expected: StudyStop | None) -> None:
    assert study_stop(budget, progress, direction) == expected


@pytest.mark.parametrize(("setting", "in_row", "stops"), [
    (None, 4, False), (None, 5, True),  # the default: 5 in a row
    (2, 1, False), (2, 2, True),
    (0, 1000, False),  # 0: no limit
])
def test_too_many_failures(setting: int | None, in_row: int, stops: bool) -> None:
    assert too_many_failures(in_row, max_failures(Budget(max_failures=setting))) is stops


def test_stop_reasons_are_the_stored_strings() -> None:
    assert [s.value for s in StudyStop] == ["budget", "timeout", "target", "no_improvement",
                                            "total_epochs", "grid_exhausted", "max_failures",
                                            "interrupted"]
    assert StudyStop.BUDGET == "budget"  # compares equal to what older studies stored
