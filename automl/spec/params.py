"""The parameter tree of a spec (its ``params:`` section) as typed, frozen objects.

Forms accepted in YAML, mirroring Optuna's ``suggest_*`` arguments::

    lr:         {type: float, low: 1.0e-4, high: 0.1, log: true}
    units:      {type: int, low: 16, high: 256, step: 16}
    batch_size: {type: categorical, choices: [32, 64]}
    optimizer:  [adam, sgd]                        # a plain list is categorical
    activation: relu                               # a scalar is fixed
    momentum:   {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}
    head:       {value: linear, when: {optimizer: adam}}   # a conditional fixed value
    conv:       {repeat: n_conv, params: {channels: [8, 16]}}  # one dict per layer

``when`` maps param names to an allowed value or a list of them; all must hold, and a
condition on a param that is absent is false. Inside a ``repeat`` block, ``when`` names
the block's own params (resolved per layer) before the top-level ones. ``space_parser``
turns the YAML into these objects and validates it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

from automl.spec.keypath import show

__all__ = [
    "CategoricalParam",
    "Condition",
    "FixedParam",
    "FloatParam",
    "GroupBlock",
    "IntParam",
    "Param",
    "RepeatBlock",
    "Space",
    "same_value",
]

Scalar: TypeAlias = Union[None, bool, int, float, str]  # noqa: UP007 - a runtime alias
SCALAR_TYPES = (type(None), bool, int, float, str)


def same_value(a: Any, b: Any) -> bool:
    """Equality where ``True`` is not ``1`` (Python says it is; a spec author does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


@dataclass(frozen=True)
class Condition:
    """``when``: each named param must take one of its allowed values (AND of the clauses)."""

    clauses: tuple[tuple[str, tuple[Scalar, ...]], ...]

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> Condition:
        """Build from ``{name: value}`` or ``{name: [value, ...]}``."""
        return cls(
            tuple(
                (name, tuple(v) if isinstance(v, (list, tuple)) else (v,))
                for name, v in mapping.items()
            )
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The params this condition reads."""
        return tuple(name for name, _ in self.clauses)

    def holds(self, values: Mapping[str, Any]) -> bool:
        """True when every named param is present in ``values`` with an allowed value."""
        for name, allowed in self.clauses:
            if name not in values:
                return False
            if not any(same_value(values[name], a) for a in allowed):
                return False
        return True

    def to_data(self) -> dict[str, Any]:
        """The YAML form."""
        return {name: a[0] if len(a) == 1 else list(a) for name, a in self.clauses}

    def __str__(self) -> str:
        parts = []
        for name, allowed in self.clauses:
            if len(allowed) == 1:
                parts.append(f"{name} = {_plain(allowed[0])}")
            else:
                parts.append(f"{name} in [{', '.join(_plain(a) for a in allowed)}]")
        return " and ".join(parts)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else show(value)


def _with_when(data: dict[str, Any], when: Condition | None) -> dict[str, Any]:
    if when is not None:
        data["when"] = when.to_data()
    return data


@dataclass(frozen=True)
class FloatParam:
    """``trial.suggest_float(name, low, high, log=log, step=step)``."""

    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: Condition | None = None

    def to_data(self) -> dict[str, Any]:
        """The YAML form."""
        data: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.log:
            data["log"] = True
        if self.step is not None:
            data["step"] = self.step
        return _with_when(data, self.when)


@dataclass(frozen=True)
class IntParam:
    """``trial.suggest_int(name, low, high, log=log, step=step)``."""

    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    when: Condition | None = None

    def to_data(self) -> dict[str, Any]:
        """The YAML form."""
        data: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.log:
            data["log"] = True
        if self.step != 1:
            data["step"] = self.step
        return _with_when(data, self.when)


@dataclass(frozen=True)
class CategoricalParam:
    """``trial.suggest_categorical(name, choices)``."""

    name: str
    choices: tuple[Scalar, ...]
    when: Condition | None = None

    def to_data(self) -> dict[str, Any]:
        """The YAML form."""
        data: dict[str, Any] = {"type": "categorical", "choices": list(self.choices)}
        return _with_when(data, self.when)


@dataclass(frozen=True)
class FixedParam:
    """A value passed to the trainer as is; Optuna never sees it."""

    name: str
    value: Any
    when: Condition | None = None

    def to_data(self) -> Any:
        """The YAML form."""
        if self.when is None and isinstance(self.value, SCALAR_TYPES):
            return self.value
        return _with_when({"value": self.value}, self.when)


@dataclass(frozen=True)
class RepeatBlock:
    """An architecture block: ``params`` sampled once per layer; the trainer gets a list.

    ``repeat`` is a fixed layer count or the name of the top-level param that holds it.
    """

    name: str
    repeat: str | int
    params: Space
    when: Condition | None = None

    def to_data(self) -> dict[str, Any]:
        """The YAML form."""
        data: dict[str, Any] = {"repeat": self.repeat, "params": self.params.to_data()}
        return _with_when(data, self.when)


@dataclass(frozen=True)
class GroupBlock:
    """A named group of params, sampled together into one dict (Optuna names
    ``group.param``): one trainer's params in a search over several trainers, active when
    ``trainer`` names it. ``when`` inside the group reads the group's own params first.
    """

    name: str
    params: Space
    when: Condition | None = None

    def to_data(self) -> dict[str, Any]:
        """The YAML form (a trainer list's spec writes its groups as ``params: {name: ...}``
        instead; see :meth:`automl.spec.Spec.to_dict`)."""
        return _with_when({"group": self.params.to_data()}, self.when)


Param: TypeAlias = Union[FloatParam, IntParam, CategoricalParam, FixedParam, RepeatBlock,  # noqa: UP007
                         GroupBlock]


class Space(Mapping[str, Param]):
    """An ordered, read-only mapping of param name -> param (the YAML order).

    ``order`` is the order to sample in: every param after the params its ``when`` or
    ``repeat`` reads, the YAML order otherwise.
    """

    def __init__(self, params: Mapping[str, Param] | None = None, order: Any = None) -> None:
        self._params: dict[str, Param] = dict(params or {})
        self._order: tuple[str, ...] = tuple(self._params if order is None else order)
        if sorted(self._order) != sorted(self._params):
            raise ValueError("order must list each param exactly once")

    @property
    def order(self) -> tuple[str, ...]:
        """Names in sampling (dependency) order."""
        return self._order

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Space({self._params!r})"

    def to_data(self) -> dict[str, Any]:
        """The YAML form of the whole tree; ``parse_space`` of it gives an equal Space."""
        return {name: param.to_data() for name, param in self._params.items()}
