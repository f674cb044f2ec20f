"""Everything that crosses between the controller and a trial worker, as typed messages.

Controller to worker: :class:`ShareData` first (where the data is), then a task
(:class:`TrialTask`, :class:`EvalTask`, :class:`RefitTask`) or :class:`Stop`; the
:class:`EpochAnswer` to each :class:`EpochReport`.
Worker to controller: :class:`Ready` or :class:`Fatal` once, an :class:`EpochReport`
per epoch of a trial, and one :class:`TaskEnd` per task (:class:`TrialDone`,
:class:`EvalDone`, :class:`RefitDone`). A pool hands the controller these ends as
events, with :class:`WorkerDied` when a worker went away mid-task.

All of it is plain picklable data: it goes over a pipe to another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automl.execution.options import ExecutionOptions
from automl.plugin.trainer import Decision

__all__ = [
    "EpochAnswer",
    "EpochReport",
    "EvalDone",
    "EvalTask",
    "Event",
    "Fatal",
    "FitResult",
    "Ready",
    "RefitDone",
    "RefitPlan",
    "RefitResult",
    "RefitTask",
    "ShareData",
    "Stop",
    "Task",
    "TaskEnd",
    "TrialDone",
    "TrialTask",
    "WorkerDied",
    "WorkerInit",
]


# -- setting a worker up ----------------------------------------------------------------
@dataclass(frozen=True)
class WorkerInit:
    """How to set a worker up: the spec (as data), its device, options and environment."""

    spec_data: dict[str, Any]
    source: str | None
    device: str  # what the trainer gets: "cpu" or "cuda" (the one GPU it can see)
    label: str  # what the reports say: "cpu" or "cuda:2"
    options: ExecutionOptions = field(default_factory=ExecutionOptions)
    env: dict[str, str] = field(default_factory=dict)
    # wait for a ShareData message and take the controller's splits instead of loading the
    # dataset again (see automl.execution.shared_data)
    shared_data: bool = False


@dataclass(frozen=True)
class ShareData:
    """Where the controller saved the search's splits, for a worker to load."""

    folder: str


@dataclass(frozen=True)
class Ready:
    """The worker has loaded its plugins and data."""

    pid: int


@dataclass(frozen=True)
class Fatal:
    """The worker could not set itself up."""

    error: str


@dataclass(frozen=True)
class Crashed:
    """The worker met an error outside any task's own handling and ends: its task is lost
    (as when it dies), with this reason instead of an exit code."""

    error: str
    trace: str = ""  # logged at debug level, never printed on the terminal


# -- tasks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialTask:
    """Train one trial."""

    number: int
    params: dict[str, Any]
    seed: int
    checkpoint_path: str


@dataclass(frozen=True)
class EvalTask:
    """Score a trial's checkpoint on the test split."""

    number: int
    params: dict[str, Any]
    checkpoint_path: str


@dataclass(frozen=True)
class RefitPlan:
    """What to refit: the best trial's number, params and epoch count."""

    number: int
    params: dict[str, Any]
    epochs: int


@dataclass(frozen=True)
class RefitTask:
    """Train a refit plan on train + validation and score it on test."""

    plan: RefitPlan
    seed: int
    out_dir: str

    @property
    def number(self) -> int:
        return self.plan.number


Task = TrialTask | EvalTask | RefitTask


@dataclass(frozen=True)
class Stop:
    """End the worker after its current task."""


# -- a trial's epochs -------------------------------------------------------------------
@dataclass(frozen=True)
class EpochReport:
    """One epoch's metrics of the running trial."""

    epoch: int
    metrics: dict[str, float]

    def __reduce__(self) -> tuple[Any, ...]:  # per epoch: pickled as a tuple, 2x faster
        return EpochReport, (self.epoch, self.metrics)


@dataclass(frozen=True)
class EpochAnswer:
    """The controller's answer: a decision, or the reason the trial fails."""

    decision: Decision | None = None
    fail: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return EpochAnswer, (self.decision, self.fail)


# -- results ----------------------------------------------------------------------------
@dataclass
class FitResult:
    """What fitting a trial gave: the trainer's final metrics, or why it failed."""

    final: dict[str, float] | None
    error: str | None
    duration_s: float
    oom: bool = False  # out of memory: the worker is replaced after reporting it


@dataclass(frozen=True)
class RefitResult:
    """A refit: what was trained and how it scored."""

    trial: int
    epochs: int
    train_size: int
    metrics: dict[str, float]  # refit_test_* on the test split; refit_n_params, ...
    checkpoint: str
    duration_s: float

    def to_attr(self) -> dict[str, Any]:
        """The record stored in the study (:data:`automl.engine.keys.REFIT`)."""
        return {"trial": self.trial, "epochs": self.epochs, "train_size": self.train_size,
                "metrics": self.metrics, "checkpoint": self.checkpoint,
                "duration_s": round(self.duration_s, 4)}


@dataclass(frozen=True)
class TrialDone:
    """A trial ended (its outcome is judged by the controller from this and its epochs)."""

    number: int
    fit: FitResult
    worker: int = -1  # set by the pool


@dataclass(frozen=True)
class EvalDone:
    """A test evaluation ended."""

    number: int
    metrics: dict[str, float]
    error: str | None = None
    seconds: float = 0.0
    worker: int = -1
    trace: str = ""  # the error's traceback, logged at debug level


@dataclass(frozen=True)
class RefitDone:
    """A refit ended."""

    number: int
    result: RefitResult | None
    error: str | None = None
    worker: int = -1
    trace: str = ""  # the error's traceback, logged at debug level


@dataclass(frozen=True)
class WorkerDied:
    """The worker running task ``number`` died (a crash, a kill, out of host memory)."""

    number: int
    reason: str
    worker: int = -1


TaskEnd = TrialDone | EvalDone | RefitDone
Event = TrialDone | EvalDone | RefitDone | WorkerDied
