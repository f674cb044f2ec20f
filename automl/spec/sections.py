"""The sections of a spec file (everything but ``params``), one frozen pydantic model each.

Every model forbids unknown keys, so a typo is an error with a "did you mean" hint
(:mod:`automl.spec.validation_errors` turns pydantic's errors into spec errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from automl.spec.durations import parse_duration

__all__ = ["BudgetSpec", "ConstraintSpec", "DatasetSpec", "EarlyStoppingSpec", "ExecutionSpec",
           "ObjectiveSpec", "PrunerSpec", "ReportSpec", "SamplerSpec", "SplitSpec", "TrackingSpec"]

Duration = Annotated[float | None, BeforeValidator(parse_duration)]
# split.folds: auto (see SplitSpec)
AUTO_FOLDS, AUTO_FOLD_ROWS = 5, 1_000
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+(,\d+)*)?)$")
# Metric names that are better when lower, for a monitor whose mode is not given.
_LOWER_IS_BETTER = ("loss", "error", "rmse", "mse", "mae", "mape")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _name_and_rest(data: Any, keep: tuple[str, ...], rest: str) -> Any:
    """``x`` -> ``{name: x}``; other keys than ``keep`` are gathered into ``rest``."""
    if isinstance(data, str):
        return {"name": data}
    if not isinstance(data, Mapping):
        return data
    out: dict[str, Any] = {k: v for k, v in data.items() if k in keep}
    given = data.get(rest)
    extra = dict(given) if isinstance(given, Mapping) else {}
    extra.update({k: v for k, v in data.items() if k not in keep and k != rest})
    out[rest] = extra if given is None or isinstance(given, Mapping) else given
    return out


class DatasetSpec(Section):
    """A dataset plugin and its arguments: YAML ``{name: csv, path: x.csv, target: y}``."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name",), "args")


class SplitSpec(Section):
    """How the data is split into train / validation / test."""

    val: float = Field(default=0.2, gt=0, lt=1)
    test: float = Field(default=0.2, ge=0, lt=1)
    seed: int = 0
    stratify: bool = True
    # K-fold cross-validation over train + val (the test split stays out): each trial
    # trains K times and scores the mean; `val` then only sizes the validation split that
    # early stopping of a refit sees. `auto`: 5 folds where train + val hold at most
    # AUTO_FOLD_ROWS rows (small data, where one validation split is a noisy judge), else
    # one validation split.
    folds: Annotated[int, Field(ge=2, le=20)] | Literal["auto"] | None = None

    def fold_count(self, rows: int) -> int | None:
        """The folds to train for ``rows`` rows of train + val (``None``: no folds)."""
        if self.folds == "auto":
            return AUTO_FOLDS if rows <= AUTO_FOLD_ROWS else None
        return self.folds

    @model_validator(mode="after")
    def _fractions(self) -> SplitSpec:
        if self.val + self.test >= 1:
            raise ValueError(
                f"val + test must leave data to train on (< 1), got {self.val} + {self.test}"
            )
        return self


_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$"
)


class ConstraintSpec(Section):
    """A feasibility constraint on a trial metric: ``n_params <= 200000``."""

    metric: str
    op: Literal["<=", ">=", "<", ">"]
    bound: float

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _CONSTRAINT.match(data)
        if not match:
            raise ValueError(
                f"expected 'METRIC <= NUMBER' (or >=, <, >), e.g. 'n_params <= 200000', "
                f"got {data!r}"
            )
        return {"metric": match[1], "op": match[2], "bound": float(match[3])}

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 is feasible, > 0 by how much it is violated."""
        if self.op in ("<=", "<"):
            return value - self.bound
        return self.bound - value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


class ObjectiveSpec(Section):
    """One metric to optimize and its direction."""

    metric: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"]


class BudgetSpec(Section):
    """When the search stops: whichever limit comes first."""

    trials: int = Field(default=20, ge=1)
    timeout: Duration = None
    max_epochs: int = Field(default=30, ge=1)
    no_improvement_trials: int | None = Field(default=None, ge=1)
    target: float | None = None
    max_failures: int | None = Field(default=None, ge=0)  # in a row; 0: never stop for that
    total_epochs: int | None = Field(default=None, ge=1)  # epochs summed over all trials


class SamplerSpec(Section):
    """An Optuna sampler by name; keys other than ``name``/``seed`` are its options."""

    name: str = Field(default="tpe", min_length=1)
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name", "seed"), "options")


class PrunerSpec(Section):
    """An Optuna pruner by name (``none`` for no pruning); other keys are its options."""

    name: str = Field(default="median", min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name",), "options")


class TrackingSpec(Section):
    """One tracker: YAML ``{name: mlflow, uri: file:./mlruns}`` or just ``mlflow``; keys
    other than ``name`` are the tracker's options."""

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name",), "options")


class EarlyStoppingSpec(Section):
    """Per-trial early stopping on validation data (``false`` in YAML turns it off)."""

    enabled: bool = True
    monitor: str | None = None
    mode: Literal["min", "max"] | None = None
    patience: int = Field(default=5, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    restore_best: bool = True
    max_gap: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _flag(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data

    def resolved(self, objective: ObjectiveSpec) -> EarlyStoppingSpec:
        """A copy with a concrete ``monitor`` and ``mode``.

        No monitor means the objective's metric. No mode means the objective's direction
        when the monitor is the objective's metric, else ``min`` for names that say
        loss/error/rmse/mse/mae/mape and ``max`` for the rest.
        """
        monitor = self.monitor or objective.metric
        mode = self.mode
        if mode is None:
            if monitor == objective.metric:
                mode = "min" if objective.direction == "minimize" else "max"
            else:
                lower = any(word in monitor.lower() for word in _LOWER_IS_BETTER)
                mode = "min" if lower else "max"
        return self.model_copy(update={"monitor": monitor, "mode": mode})


class ExecutionSpec(Section):
    """Where and how trials run."""

    # trial processes on this machine; None: one per GPU x trials_per_device, else 1;
    # 0: trials in the controller's own process (debugging; a crash ends the study)
    workers: int | None = Field(default=None, ge=0)
    device: str = "auto"
    trials_per_device: int = Field(default=1, ge=1)
    trial_timeout: Duration = None
    storage: str | None = None
    compile: bool = False  # torch.compile the model (CUDA; slower to start)
    amp: bool = True  # bf16 autocast on CUDA GPUs that support it; ignored on CPU
    # keep the data on the device for the whole trial (true), stream it through a
    # DataLoader (false), or decide by its size (null)
    data_on_device: bool | None = None
    threads: int | None = Field(default=None, ge=1)  # torch threads per worker
    # the training seed of every trial; None: sampler seed * 100003 + trial number, so
    # trials differ; a reproduce spec pins the seed the retrained trial had
    trial_seed: int | None = Field(default=None, ge=0)
    # a folder every machine of the study mounts: trial checkpoints and Optuna artifacts
    # go to <artifacts>/<study>/, so best/, reports and automl.load work from any machine
    # whichever ran the trial; None: the report folder (one machine)
    artifacts: str | None = Field(default=None, min_length=1)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(
                f"expected auto, cpu, mps, cuda or cuda:0,1 (a list of GPU indices), got {value!r}"
            )
        return value


class EnsembleSpec(Section):
    """``ensemble: {size: 20, from_top: 50}``: greedy ensemble selection over the validation
    predictions of the best ``from_top`` trials, ``size`` rounds. ``ensemble: true`` or
    ``false`` turns it on or off; unset, it is on for a list of trainers only."""

    enabled: bool | None = None
    size: int = Field(default=20, ge=1, le=1000)
    from_top: int = Field(default=50, ge=2, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data


class ReportSpec(Section):
    """Where the reports go and how many trials they detail."""

    dir: str | None = None
    top_k: int = Field(default=10, ge=1)
    refit: bool = False  # retrain the best config on train+val for its best epoch count
