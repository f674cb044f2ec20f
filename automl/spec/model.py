"""The typed, validated spec: one frozen pydantic model per section of the YAML file.

``load_spec`` is the way in: it reads the file safely, applies ``--set`` overrides and
turns any validation problem into one SpecError that names the file, the line and the
key path. Plugin names (trainer, dataset, sampler, pruner) are checked later by the
engine, which knows the installed plugins; it reports through ``Spec.error``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from automl.errors import SpecError
from automl.spec.durations import parse_duration
from automl.spec.keypath import KeyPath, Locator, show
from automl.spec.overrides import apply_overrides
from automl.spec.params import Space
from automl.spec.space_parser import parse_space
from automl.spec.validation_errors import to_spec_error
from automl.spec.yaml_loader import load_yaml

__all__ = [
    "BudgetSpec",
    "ConstraintSpec",
    "DatasetSpec",
    "EarlyStoppingSpec",
    "ExecutionSpec",
    "ObjectiveSpec",
    "PrunerSpec",
    "ReportSpec",
    "SamplerSpec",
    "Spec",
    "SplitSpec",
    "load_spec",
]

Duration = Annotated[float | None, BeforeValidator(parse_duration)]
_STUDY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+(,\d+)*)?)$")
# Metric names that are better when lower, for a monitor whose mode is not given.
_LOWER_IS_BETTER = ("loss", "error", "rmse", "mse", "mae", "mape")


class _Section(BaseModel):
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


class DatasetSpec(_Section):
    """A dataset plugin and its arguments: YAML ``{name: csv, path: x.csv, target: y}``."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name",), "args")


class SplitSpec(_Section):
    """How the data is split into train / validation / test."""

    val: float = Field(default=0.2, gt=0, lt=1)
    test: float = Field(default=0.2, ge=0, lt=1)
    seed: int = 0
    stratify: bool = True

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


class ConstraintSpec(_Section):
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


class ObjectiveSpec(_Section):
    """One metric to optimize and its direction."""

    metric: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"]


class BudgetSpec(_Section):
    """When the search stops: whichever limit comes first."""

    trials: int = Field(default=20, ge=1)
    timeout: Duration = None
    max_epochs: int = Field(default=30, ge=1)
    no_improvement_trials: int | None = Field(default=None, ge=1)
    target: float | None = None
    max_failures: int | None = Field(default=None, ge=0)  # in a row; 0: never stop for that
    total_epochs: int | None = Field(default=None, ge=1)  # epochs summed over all trials


class SamplerSpec(_Section):
    """An Optuna sampler by name; keys other than ``name``/``seed`` are its options."""

    name: str = Field(default="tpe", min_length=1)
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name", "seed"), "options")


class PrunerSpec(_Section):
    """An Optuna pruner by name (``none`` for no pruning); other keys are its options."""

    name: str = Field(default="median", min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return _name_and_rest(data, ("name",), "options")


class EarlyStoppingSpec(_Section):
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


class ExecutionSpec(_Section):
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

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(
                f"expected auto, cpu, mps, cuda or cuda:0,1 (a list of GPU indices), got {value!r}"
            )
        return value


class ReportSpec(_Section):
    """Where the reports go and how many trials they detail."""

    dir: str | None = None
    top_k: int = Field(default=10, ge=1)
    refit: bool = False  # retrain the best config on train+val for its best epoch count


_DEFAULT_OBJECTIVE = ({"metric": "val_accuracy", "direction": "maximize"},)


class Spec(_Section):
    """A whole search-space file, validated. Build it with ``load_spec`` or ``Spec.from_data``."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    study: str
    trainer: str = Field(min_length=1)
    dataset: DatasetSpec
    split: SplitSpec = SplitSpec()
    objectives: tuple[ObjectiveSpec, ...] = Field(
        default=tuple(ObjectiveSpec(**o) for o in _DEFAULT_OBJECTIVE), alias="objective"
    )
    budget: BudgetSpec = BudgetSpec()
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    early_stopping: EarlyStoppingSpec = EarlyStoppingSpec()
    constraints: tuple[ConstraintSpec, ...] = ()
    enqueue: tuple[dict[str, Any], ...] = ()
    params: Space = Space()
    execution: ExecutionSpec = ExecutionSpec()
    report: ReportSpec = ReportSpec()

    _locator: Locator = PrivateAttr(default_factory=Locator)
    _source: Path | None = PrivateAttr(default=None)

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        locator: Locator | None = None,
        source: str | Path | None = None,
    ) -> Spec:
        """Validate raw spec data (as loaded from YAML); SpecError on the first problem."""
        locator = locator or Locator(str(source) if source is not None else None)
        context = {"locator": locator, "source": Path(source) if source is not None else None}
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise to_spec_error(exc, data, locator, cls) from None

    def __eq__(self, other: object) -> bool:
        # Two specs with the same content are equal wherever they were loaded from.
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # dict and Space fields are unhashable

    @property
    def source(self) -> Path | None:
        """The file this spec was loaded from, if any."""
        return self._source

    def error(self, path: KeyPath | str, message: str) -> SpecError:
        """A SpecError at ``path`` (``"sampler.name"`` or a tuple) with file and line filled in."""
        return self._locator.error(path, message)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data, in the YAML form (``from_data`` reads it back)."""
        out: dict[str, Any] = {"study": self.study, "trainer": self.trainer}
        out["dataset"] = {"name": self.dataset.name, **self.dataset.args}
        out["split"] = self.split.model_dump()
        out["objective"] = [o.model_dump() for o in self.objectives]
        out["budget"] = self.budget.model_dump()
        out["sampler"] = {
            "name": self.sampler.name,
            "seed": self.sampler.seed,
            **self.sampler.options,
        }
        out["pruner"] = {"name": self.pruner.name, **self.pruner.options}
        out["early_stopping"] = self.early_stopping.model_dump()
        out["constraints"] = [str(c) for c in self.constraints]
        out["enqueue"] = [dict(config) for config in self.enqueue]
        out["params"] = self.params.to_data()
        out["execution"] = self.execution.model_dump()
        out["report"] = self.report.model_dump()
        return copy.deepcopy(out)  # nothing in it may alias the frozen spec's own dicts

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        context = info.context or {}
        locator: Locator = context.get("locator") or Locator()
        if isinstance(data.get("trainer"), list):
            raise locator.error(
                ("trainer",),
                "a list of trainers (model selection) is not supported yet; give one trainer name",
            )
        # An empty section (`budget:` with every key commented out) means its defaults.
        data = {k: v for k, v in data.items() if v is not None or k in ("study", "trainer")}
        if "study" not in data:
            source = context.get("source")
            stem = source.stem if source is not None else "automl"
            if not _STUDY.match(stem):
                raise locator.error(
                    ("study",),
                    f"no study name given, and the file name {stem!r} is not a valid one "
                    "(letters, digits, - _ . only): add `study: NAME` to the file",
                )
            data["study"] = stem
        return data

    @field_validator("study")
    @classmethod
    def _study(cls, value: str) -> str:
        if not _STUDY.match(value):
            raise ValueError(
                f"invalid study name {value!r}: use letters, digits, - _ . only, "
                "starting with a letter or digit"
            )
        return value

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return [value]
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f"expected {{metric: NAME, direction: maximize|minimize}} or a list of them, "
                f"got {show(value)}"
            )
        return value

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraint_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("objectives")
    @classmethod
    def _distinct(cls, value: tuple[ObjectiveSpec, ...]) -> tuple[ObjectiveSpec, ...]:
        if not value:
            raise ValueError("give at least one {metric, direction}")
        metrics = [o.metric for o in value]
        twice = sorted({m for m in metrics if metrics.count(m) > 1})
        if twice:
            raise ValueError(f"metric {twice[0]!r} appears twice")
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any, info: ValidationInfo) -> Space:
        if isinstance(value, Space):
            return value
        locator = (info.context or {}).get("locator") or Locator()
        return parse_space(value, locator=locator, path=("params",))

    @model_validator(mode="after")
    def _finish(self, info: ValidationInfo) -> Spec:
        from automl.space import check_config  # automl.space imports this package

        context = info.context or {}
        self._locator = context.get("locator") or Locator()
        self._source = context.get("source")
        for index, config in enumerate(self.enqueue):
            check_config(self.params, config, path=("enqueue", index), error=self.error)
        return self


def load_spec(path: str | Path, overrides: Mapping[str, str] | None = None) -> Spec:
    """Read, override (``{"budget.trials": "5"}``) and validate a spec file."""
    data, lines = load_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides, lines)
    return Spec.from_data(data, locator=Locator(str(path), lines), source=path)
