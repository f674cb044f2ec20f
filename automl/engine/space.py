"""The one walker over the param tree: sampling, checking and naming configurations.

Like Optuna's single ``_suggest`` path, every param goes through ``_walk`` order rules:
a param comes after the params its ``when`` or ``repeat`` reads, a conditional param is
absent when its condition is false, and a repeat block is a list with one dict per layer.
Optuna sees flat names (``lr``, ``conv.0.channels``); trainers get nested plain Python.
"""

from __future__ import annotations

import copy
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

from optuna.trial import BaseTrial

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, did_you_mean, format_path, quote_list, show
from automl.spec.params import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    GroupBlock,
    IntParam,
    Param,
    RepeatBlock,
    Space,
    same_value,
)

__all__ = [
    "check_config",
    "describe",
    "flatten",
    "suggest",
    "to_optuna_params",
    "unflatten",
]

ErrorFactory = Callable[[KeyPath, str], SpecError]


def suggest(trial: BaseTrial, space: Space) -> dict[str, Any]:
    """Sample one configuration from ``space`` through ``trial.suggest_*``.

    Returns nested plain Python in the YAML order: a repeat block is a list of ``n`` dicts,
    a param whose ``when`` is false is absent, fixed values are included as given.
    """
    return _suggest_scope(trial, space, "", None)


def _active(param: Param, scope: Mapping[str, Any]) -> bool:
    if param.when is not None and not param.when.holds(scope):
        return False
    # A block whose layer count is itself absent (conditional) has no layers to speak of.
    return not (
        isinstance(param, RepeatBlock)
        and isinstance(param.repeat, str)
        and param.repeat not in scope
    )


def _suggest_scope(
    trial: BaseTrial, space: Space, prefix: str, outer: Mapping[str, Any] | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    scope: Mapping[str, Any] = values if outer is None else ChainMap(values, dict(outer))
    for name in space.order:
        param = space[name]
        if _active(param, scope):
            values[name] = _suggest_one(trial, param, prefix + name, scope)
    return {name: values[name] for name in space if name in values}


def _suggest_one(trial: BaseTrial, param: Param, flat: str, scope: Mapping[str, Any]) -> Any:
    if isinstance(param, FloatParam):
        return trial.suggest_float(flat, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, IntParam):
        return trial.suggest_int(flat, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, CategoricalParam):
        return trial.suggest_categorical(flat, list(param.choices))
    if isinstance(param, FixedParam):
        return copy.deepcopy(param.value)  # trainers may mutate what they get
    if isinstance(param, GroupBlock):
        return _suggest_scope(trial, param.params, f"{flat}.", scope)
    count = param.repeat if isinstance(param.repeat, int) else scope[param.repeat]
    return [_suggest_scope(trial, param.params, f"{flat}.{i}.", scope) for i in range(count)]


# -- flat names --------------------------------------------------------------------------


def flatten(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"conv": [{"channels": 8}]}`` -> ``{"conv.0.channels": 8}``.

    Mappings and lists of mappings are opened up; any other value (a list of numbers, an
    empty list or mapping) is a leaf, so ``unflatten(flatten(x)) == x``.
    """
    out: dict[str, Any] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping) and value:
            for name, item in value.items():
                walk(item, f"{key}.{name}")
        elif isinstance(value, list) and value and all(isinstance(i, Mapping) for i in value):
            for index, item in enumerate(value):
                walk(item, f"{key}.{index}")
        else:
            out[key] = value

    for name, value in params.items():
        walk(value, str(name))
    return out


#: The public name (``automl.plugin.flatten_params``): trackers log params under the
#: leaderboard's column names.
flatten_params = flatten


class _Branch(dict):  # type: ignore[type-arg]
    """A mapping unflatten made (as opposed to a mapping value the caller gave)."""


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`: all-digit parts become list indices."""
    root = _Branch()
    for key, value in flat.items():
        parts = str(key).split(".")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, _Branch())
            if not isinstance(child, _Branch):
                raise ValueError(f"{key!r} goes inside {part!r}, which has a value of its own")
            node = child
        if parts[-1] in node:
            raise ValueError(f"{key!r} is given twice or conflicts with a longer name")
        node[parts[-1]] = value
    result = _rebuild(root, key="")
    assert isinstance(result, dict)
    return result


def _rebuild(node: _Branch, key: str) -> dict[str, Any] | list[Any]:
    items = {k: _rebuild(v, f"{key}.{k}") if isinstance(v, _Branch) else v for k, v in node.items()}
    if key and items and all(k.isdigit() for k in items):
        indices = sorted(int(k) for k in items)
        if indices != list(range(len(indices))):
            raise ValueError(f"the indices under {key[1:]!r} are not 0..n-1: {indices}")
        return [items[str(i)] for i in indices]
    return dict(items)


# -- checking configurations (enqueue) ---------------------------------------------------


def check_config(
    space: Space,
    config: Mapping[str, Any],
    *,
    path: KeyPath = (),
    error: ErrorFactory | None = None,
) -> None:
    """Raise SpecError if ``config`` (nested or flat names) has a value outside ``space``.

    A partial config is fine (Optuna samples what it leaves out), but every value given
    must be one the space can produce, and a conditional param may only be given when
    its condition holds. ``error(path, message)`` builds the error (``Spec.error``).
    """
    _Checker(error or _plain_error).config(space, config, tuple(path))


def to_optuna_params(space: Space, config: Mapping[str, Any]) -> dict[str, Any]:
    """Flat Optuna names and values of ``config`` for ``study.enqueue_trial`` (fixed
    values left out, since Optuna never samples them). Checks ``config`` first."""
    checker = _Checker(_plain_error)
    checker.config(space, config, ())
    return checker.optuna


def _why_absent(param: Param, values: Mapping[str, Any], absent: set[str]) -> str:
    """Why a (partial) config rules ``param`` out, or "" when it may be present."""
    when = param.when
    if when is not None:
        if any(n in absent for n in when.names if n not in values):
            return f"its condition ({when}) names a param that is absent in this config"
        if all(n in values for n in when.names) and not when.holds(values):
            return f"its condition ({when}) is false in this config"
    if isinstance(param, RepeatBlock) and param.repeat in absent:
        return f"its layer count '{param.repeat}' is absent in this config"
    return ""


def _plain_error(path: KeyPath, message: str) -> SpecError:
    return SpecError(message, path=format_path(path) or None)


class _Checker:
    def __init__(self, error: ErrorFactory) -> None:
        self.error = error
        self.optuna: dict[str, Any] = {}
        self.base = 0

    def config(self, space: Space, config: Any, path: KeyPath) -> None:
        self.base = len(path)
        if not isinstance(config, Mapping):
            raise self.error(path, f"expected a mapping of param -> value, got {show(config)}")
        if any(isinstance(k, str) and "." in k for k in config):
            try:
                config = unflatten(config)
            except ValueError as exc:
                raise self.error(path, str(exc)) from None
        self.scope(space, config, path, None)

    def scope(
        self,
        space: Space,
        config: Mapping[str, Any],
        path: KeyPath,
        outer: Mapping[str, Any] | None,
        outer_absent: frozenset[str] = frozenset(),
    ) -> None:
        for key in config:
            if key not in space:
                raise self.error(
                    path + (key,),
                    f"unknown param {show(key)}{did_you_mean(key, space)}; "
                    f"params: {quote_list(space)}",
                )
        values = config if outer is None else ChainMap(dict(config), dict(outer))
        # Params this (partial) config rules out; a block's own params hide top-level ones.
        absent = set(outer_absent) - set(space)
        for name in space.order:
            param = space[name]
            why = _why_absent(param, values, absent)
            if why:
                absent.add(name)
            if name not in config:
                continue
            if why:
                raise self.error(path + (name,), f"given, but {why}")
            self.value(param, config[name], path + (name,), values, frozenset(absent))

    def value(
        self,
        param: Param,
        value: Any,
        path: KeyPath,
        scope: Mapping[str, Any],
        absent: frozenset[str],
    ) -> None:
        name = format_path(path[self.base :])  # the Optuna name: no "enqueue.0." in front
        if isinstance(param, FloatParam):
            self.optuna[name] = self.float_value(param, value, path)
        elif isinstance(param, IntParam):
            self.optuna[name] = self.int_value(param, value, path)
        elif isinstance(param, CategoricalParam):
            match = [c for c in param.choices if same_value(c, value)]
            if not match:
                raise self.error(
                    path,
                    f"{show(value)} is not a choice{did_you_mean(value, param.choices)}; "
                    f"choices: {quote_list(show(c) for c in param.choices)}",
                )
            self.optuna[name] = match[0]
        elif isinstance(param, FixedParam):
            if not same_value(value, param.value):
                raise self.error(path, f"this param is fixed to {show(param.value)}")
        elif isinstance(param, GroupBlock):
            if not isinstance(value, Mapping):
                raise self.error(path, f"expected a mapping of {param.name}'s params, got "
                                       f"{show(value)}")
            self.scope(param.params, value, path, scope, absent)
        else:
            self.block(param, value, path, scope, absent)

    def block(
        self,
        block: RepeatBlock,
        layers: Any,
        path: KeyPath,
        scope: Mapping[str, Any],
        absent: frozenset[str],
    ) -> None:
        if not isinstance(layers, list):
            raise self.error(
                path, f"expected a list with one mapping per layer, got {show(layers)}"
            )
        count = block.repeat if isinstance(block.repeat, int) else scope.get(block.repeat)
        if count is not None and len(layers) != count:
            given = f"{len(layers)} layer{'' if len(layers) == 1 else 's'}"
            raise self.error(
                path, f"{given} given, but the layer count ({block.repeat}) is {count}"
            )
        for index, layer in enumerate(layers):
            if not isinstance(layer, Mapping):
                raise self.error(path + (index,), f"expected a mapping, got {show(layer)}")
            self.scope(block.params, layer, path + (index,), scope, absent)

    def float_value(self, param: FloatParam, value: Any, path: KeyPath) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(path, f"expected a number, got {show(value)}")
        if not param.low <= value <= param.high:
            raise self.error(path, f"{value} is outside [{param.low}, {param.high}]")
        if param.step is not None:
            k = (value - param.low) / param.step
            if abs(k - round(k)) > 1e-8 * max(1.0, abs(k)):
                raise self.error(path, f"{value} is not on the grid {param.low} + k * {param.step}")
        return float(value)

    def int_value(self, param: IntParam, value: Any, path: KeyPath) -> int:
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral:
            raise self.error(path, f"expected an integer, got {show(value)}")
        value = int(value)
        if not param.low <= value <= param.high:
            raise self.error(path, f"{value} is outside [{param.low}, {param.high}]")
        if (value - param.low) % param.step:
            raise self.error(path, f"{value} is not on the grid {param.low} + k * {param.step}")
        return value


# -- describing the space (automl validate) ----------------------------------------------


def describe(space: Space) -> list[dict[str, Any]]:
    """One row per param, block params as ``conv.*.channels``, for printing a resolved space.

    Keys: name, kind (float/int/categorical/fixed/repeat), domain (readable range, choices,
    value or layer count), log, step, condition (``""`` when unconditional).
    """
    rows: list[dict[str, Any]] = []
    for name, param in space.items():
        if isinstance(param, GroupBlock):
            rows.extend({**row, "name": f"{name}.{row['name']}",
                         "condition": " and ".join(c for c in (str(param.when or ""),
                                                               row["condition"]) if c)}
                        for row in describe(param.params))
            continue
        rows.append(_row(name, param))
        if isinstance(param, RepeatBlock):
            rows.extend(_row(f"{name}.*.{inner}", p) for inner, p in param.params.items())
    return rows


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _row(name: str, param: Param) -> dict[str, Any]:
    log: bool | None = None
    step: float | None = None
    if isinstance(param, (FloatParam, IntParam)):
        kind = "float" if isinstance(param, FloatParam) else "int"
        domain = f"{_num(param.low)} .. {_num(param.high)}"
        log, step = param.log, param.step
    elif isinstance(param, CategoricalParam):
        kind, domain = "categorical", ", ".join(_plain(c) for c in param.choices)
    elif isinstance(param, FixedParam):
        kind, domain = "fixed", _plain(param.value)
    else:
        kind, domain = "repeat", f"{param.repeat} layers"
    condition = str(param.when) if param.when is not None else ""
    return {
        "name": name,
        "kind": kind,
        "domain": domain,
        "log": log,
        "step": step,
        "condition": condition,
    }


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else show(value)
