"""The typed, validated spec: one frozen pydantic model per section of the YAML file.

``load_spec`` is the way in: it reads the file safely, applies ``--set`` overrides and
turns any validation problem into one SpecError that names the file, the line and the
key path. Plugin names (trainer, dataset, sampler, pruner) are checked later by the
engine, which knows the installed plugins; it reports through ``Spec.error``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, Locator, did_you_mean, quote_list, show
from automl.spec.overrides import apply_overrides
from automl.spec.params import CategoricalParam, Condition, GroupBlock, Space
from automl.spec.sections import (
    STUDY_NAME,
    BudgetSpec,
    ConstraintSpec,
    DatasetSpec,
    EarlyStoppingSpec,
    EnsembleSpec,
    ExecutionSpec,
    ObjectiveSpec,
    PrunerSpec,
    ReportSpec,
    SamplerSpec,
    Section,
    SplitSpec,
    TrackingSpec,
)
from automl.spec.space_parser import parse_space
from automl.spec.validation_errors import to_spec_error
from automl.spec.yaml_loader import load_yaml

__all__ = [
    "BudgetSpec",
    "ConstraintSpec",
    "DatasetSpec",
    "EarlyStoppingSpec",
    "EnsembleSpec",
    "ExecutionSpec",
    "ObjectiveSpec",
    "PrunerSpec",
    "ReportSpec",
    "SamplerSpec",
    "Spec",
    "SplitSpec",
    "TrackingSpec",
    "load_spec",
]

_DEFAULT_OBJECTIVE = ({"metric": "val_accuracy", "direction": "maximize"},)
#: The param that holds the trainer of a trial in a search over a list of trainers.
TRAINER_PARAM = "trainer"


class Spec(Section):
    """A whole search-space file, validated. Build it with ``load_spec`` or ``Spec.from_data``."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    study: str
    trainer: str | tuple[str, ...] = Field(min_length=1)
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
    ensemble: EnsembleSpec = EnsembleSpec()
    # experiment trackers (plugins), off by default: [{name: mlflow, uri: ...}]
    tracking: tuple[TrackingSpec, ...] = ()

    _locator: Locator = PrivateAttr(default_factory=Locator)
    _source: Path | None = PrivateAttr(default=None)
    _defaulted: tuple[str, ...] = PrivateAttr(default=())

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
    def trainers(self) -> tuple[str, ...]:
        """Every trainer this spec may train: one, or the list a search picks from."""
        return self.trainer if isinstance(self.trainer, tuple) else (self.trainer,)

    @property
    def picks_trainer(self) -> bool:
        """Whether ``trainer`` is a list (model selection): each trial's params then hold
        its trainer (``params["trainer"]``) and that trainer's params under its name."""
        return isinstance(self.trainer, tuple)

    @property
    def builds_ensemble(self) -> bool:
        """Whether the search ends with an ensemble of its top trials: as ``ensemble.enabled``
        says, else for a list of trainers; never for several objectives (no one order of
        the trials to pick from)."""
        on = self.ensemble.enabled if self.ensemble.enabled is not None else self.picks_trainer
        return bool(on) and len(self.objectives) == 1

    @property
    def kept_trials(self) -> int:
        """How many of the best trials keep their weights: the report's top K, or the
        ensemble's candidates where more."""
        return max(self.report.top_k, self.ensemble.from_top if self.builds_ensemble else 0)

    @property
    def defaulted_trainers(self) -> tuple[str, ...]:
        """The listed trainers without params in the file: the engine gives them their
        plugin's default space (:class:`automl.plugin.HasDefaultSpace`)."""
        return self._defaulted

    def trial_trainer(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """A trial's trainer and the params that trainer gets, from the trial's params."""
        if not self.picks_trainer:
            return str(self.trainer), dict(params)
        name = str(params[TRAINER_PARAM])
        return name, dict(params.get(name) or {})

    @property
    def source(self) -> Path | None:
        """The file this spec was loaded from, if any."""
        return self._source

    def error(self, path: KeyPath | str, message: str) -> SpecError:
        """A SpecError at ``path`` (``"sampler.name"`` or a tuple) with file and line filled in."""
        return self._locator.error(path, message)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data, in the YAML form (``from_data`` reads it back)."""
        out: dict[str, Any] = {"study": self.study, "trainer": (
            list(self.trainer) if isinstance(self.trainer, tuple) else self.trainer)}
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
        if self.picks_trainer:  # the file's form: each trainer's params under its name
            out["params"] = {name: group.params.to_data() for name, group in self.params.items()
                             if isinstance(group, GroupBlock) and name not in self._defaulted}
        else:
            out["params"] = self.params.to_data()
        out["execution"] = self.execution.model_dump()
        out["report"] = self.report.model_dump()
        out["ensemble"] = self.ensemble.model_dump()
        if self.tracking:  # absent when off: studies made before trackers existed compare equal
            out["tracking"] = [{"name": t.name, **t.options} for t in self.tracking]
        return copy.deepcopy(out)  # nothing in it may alias the frozen spec's own dicts

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        context = info.context or {}
        locator: Locator = context.get("locator") or Locator()
        if isinstance(data.get("trainer"), (list, tuple)):
            data = {**data, **_trainer_choice(data.get("trainer"), data.get("params"), locator)}
        # An empty section (`budget:` with every key commented out) means its defaults.
        data = {k: v for k, v in data.items() if v is not None or k in ("study", "trainer")}
        if "study" not in data:
            source = context.get("source")
            stem = source.stem if source is not None else "automl"
            if not STUDY_NAME.match(stem):
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
        if not STUDY_NAME.match(value):
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

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracking_list(cls, value: Any) -> Any:
        # `tracking: mlflow` and `tracking: {name: mlflow, ...}` are one-tracker lists
        if value is None:
            return ()
        return [value] if isinstance(value, (str, Mapping)) else value

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
        from automl.engine.space import check_config  # automl.engine.space imports this package

        context = info.context or {}
        self._locator = context.get("locator") or Locator()
        self._source = context.get("source")
        if self.picks_trainer:
            self._defaulted = tuple(n for n in self.trainers if not self.params[n].params)
        for index, config in enumerate(self.enqueue):
            check_config(self.params, config, path=("enqueue", index), error=self.error)
        return self


def _trainer_choice(names: Any, params: Any, locator: Locator) -> dict[str, Any]:
    """``trainer: [a, b]`` with ``params: {a: {...}}``: the trainer names, checked, and one
    space over them (``trainer`` a categorical param, each trainer's params a group active
    when ``trainer`` names it)."""
    if not names:
        raise locator.error(("trainer",), "the list of trainers is empty; give at least one")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise locator.error(("trainer", index), f"expected a trainer name, got {show(name)}")
        if names.index(name) != index:
            raise locator.error(("trainer", index), f"trainer {name!r} is listed twice")
    if params is None:
        params = {}
    if isinstance(params, Space):  # already built (Spec.model_copy, from_data of a Spec)
        return {"trainer": tuple(names), "params": params}
    if not isinstance(params, Mapping):
        raise locator.error(("params",), "with a list of trainers, params maps each trainer's "
                                         f"name to its params, got {show(params)}")
    for key in params:
        if key not in names:
            raise locator.error(("params", key), f"{show(key)} is not in the trainer list"
                                f"{did_you_mean(str(key), names)}; with a list of trainers, "
                                f"params maps each trainer's name to its params (trainers: "
                                f"{quote_list(names)})")
    groups: dict[str, Any] = {TRAINER_PARAM: CategoricalParam(TRAINER_PARAM, tuple(names))}
    for name in names:
        sub = params.get(name)
        if sub is not None and not isinstance(sub, Mapping):
            raise locator.error(("params", name), f"expected a mapping of {name}'s params, "
                                                  f"got {show(sub)}")
        space = parse_space(dict(sub) if sub else None, locator=locator, path=("params", name))
        groups[name] = GroupBlock(name, space, Condition.of({TRAINER_PARAM: name}))
    return {"trainer": tuple(names), "params": Space(groups)}


def load_spec(path: str | Path, overrides: Mapping[str, str] | None = None) -> Spec:
    """Read, override (``{"budget.trials": "5"}``) and validate a spec file."""
    data, lines = load_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides, lines)
    return Spec.from_data(data, locator=Locator(str(path), lines), source=path)
