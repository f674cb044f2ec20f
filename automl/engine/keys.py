"""What automl stores in an Optuna study, by name: the user attribute keys and the reasons
a search run stops. Every reader and writer of the study uses these, never a literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

__all__ = ["ENSEMBLE", "LAST_RUN", "REFIT", "STUDY_RECORD", "TEST_METRICS", "TRIAL_RESULT",
           "WARM_START", "StudyStop", "stored_test_metrics", "test_metrics_key",
           "warm_start_attrs"]

# Study user attribute: automl's record of the study (resolved spec, seed, objectives,
# constraints, trainer, data sizes, versions), written once when the study is created.
STUDY_RECORD = "automl"
# Trial user attribute: everything automl records about a trial (params, stop reason,
# epochs, best epoch, metrics, history, duration, device, worker, seed, error), one write.
TRIAL_RESULT = "automl"
# Study user attributes ``automl_test_metrics:<number>``: one trial's test metrics each, so
# several controllers sharing the study can write at once.
TEST_METRICS = "automl_test_metrics"
# Study user attribute: the refit of the best trial (``report.refit``).
REFIT = "automl_refit"
# Study user attribute: how the last search run ended (stop reason, time).
LAST_RUN = "automl_last_run"
# Study attribute: the ensemble of the top trials (members, weights, val and test metrics).
ENSEMBLE = "automl_ensemble"
# Trial user attribute: the trial trains a warm-start config (the spec's ``enqueue``, a
# trainer's default), which the pruner never stops: it is known good, and it gives the
# pruner a full curve to compare the sampled trials with.
WARM_START = "automl_warm_start"


def warm_start_attrs(trial: Any) -> dict[str, bool]:
    """The warm-start mark of ``trial`` (an Optuna trial), for enqueuing its params again."""
    return {WARM_START: True} if trial.user_attrs.get(WARM_START) else {}


def test_metrics_key(number: int) -> str:
    """The study user attribute holding trial ``number``'s test metrics."""
    return f"{TEST_METRICS}:{number}"


def stored_test_metrics(study: Any) -> dict[int, dict[str, float]]:
    """The test metrics stored so far, by trial number; ``study`` is an ``optuna.Study``
    or its ``user_attrs`` mapping."""
    attrs: Mapping[str, Any] = getattr(study, "user_attrs", study)
    prefix = TEST_METRICS + ":"
    return {int(k[len(prefix):]): dict(v) for k, v in attrs.items() if k.startswith(prefix)}


class StudyStop(str, Enum):
    """Why a search run stopped (printed, stored under :data:`LAST_RUN`, and given to the
    ``study_finished`` hook as its value)."""

    BUDGET = "budget"  # budget.trials finished trials in the study
    TIMEOUT = "timeout"  # budget.timeout of wall time in this run
    TARGET = "target"  # the best value reached budget.target
    NO_IMPROVEMENT = "no_improvement"  # budget.no_improvement_trials since the best
    TOTAL_EPOCHS = "total_epochs"  # budget.total_epochs trained in the study
    GRID_EXHAUSTED = "grid_exhausted"  # the grid sampler ran out of configurations
    MAX_FAILURES = "max_failures"  # budget.max_failures trials failed in a row
    INTERRUPTED = "interrupted"  # Ctrl-C
