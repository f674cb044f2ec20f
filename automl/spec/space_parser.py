"""Parsing and validating the ``params:`` section into a Space (see ``params`` for the forms).

Two passes: first each param on its own (its keys, numbers, choices), here; then the
references between params (``when``, ``repeat``), which also fix the order to sample in
(:mod:`automl.spec.space_refs`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, Locator, did_you_mean, quote_list, show
from automl.spec.params import (
    SCALAR_TYPES,
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    RepeatBlock,
    Scalar,
    Space,
    same_value,
)
from automl.spec.space_refs import MAX_LAYERS, References

__all__ = ["MAX_CHOICES", "MAX_FLOAT_STEPS", "MAX_LAYERS", "parse_space"]

# Limits on what one param may ask for; each keeps a hostile spec from running for hours
# (or without end) while it looks valid.
# Choices of one categorical param: Optuna's samplers keep a weight per choice per trial, and
# no search tries 10,000 choices in a trial budget.
MAX_CHOICES = 10_000
# Grid points of a stepped float range: beyond 10**12 (or below the float resolution of
# the range's ends) the step means nothing and Optuna's grid arithmetic overflows.
MAX_FLOAT_STEPS = 10**12
# Integers beyond 64 bits cannot be stored by Optuna nor held by NumPy.
_INT64_MAX = 2**63 - 1

# No dots: they join the flattened names (conv.0.channels). No leading digit: a part that
# is all digits is a list index there.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPES = ("float", "int", "categorical")


def parse_space(data: Any, *, locator: Locator | None = None, path: KeyPath = ("params",)) -> Space:
    """Parse and validate a ``params:`` section; raise SpecError on the first problem."""
    return _Parser(locator or Locator()).top(data, tuple(path))


_FORM_KEYS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "log", "step", "when"),
    "int": ("type", "low", "high", "log", "step", "when"),
    "categorical": ("type", "choices", "when"),
    "fixed value": ("value", "when"),
    "repeat block": ("repeat", "params", "when"),
}
_ALL_KEYS = tuple(dict.fromkeys(k for keys in _FORM_KEYS.values() for k in keys))


class _Parser:
    """The first pass: the shape of each param."""

    def __init__(self, locator: Locator) -> None:
        self.loc = locator

    def fail(self, path: KeyPath, message: str) -> SpecError:
        return self.loc.error(path, message)

    def top(self, data: Any, path: KeyPath) -> Space:
        if data is None:
            return Space()
        params = self.scope(data, path, in_block=False)
        return References(self.loc).resolve(params, path)

    def scope(self, data: Any, path: KeyPath, *, in_block: bool) -> dict[str, Param]:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a mapping of param name -> param, got {show(data)}")
        params: dict[str, Param] = {}
        for name, raw in data.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise self.fail(
                    path + (name,),
                    f"invalid param name {show(name)}: use letters, digits and _ only, "
                    "starting with a letter or _ (dots join nested names)",
                )
            params[name] = self.param(name, raw, path + (name,), in_block=in_block)
        return params

    def param(self, name: str, raw: Any, path: KeyPath, *, in_block: bool) -> Param:
        if isinstance(raw, list):
            return CategoricalParam(name, self.choices(raw, path))
        if isinstance(raw, SCALAR_TYPES):
            return FixedParam(name, raw)
        if not isinstance(raw, dict):
            raise self.fail(path, f"expected a param, got {type(raw).__name__}")
        if not raw:
            raise self.fail(
                path,
                "an empty mapping is not a param: give {type: float|int|categorical, ...}, "
                "a list of choices, or a fixed value",
            )
        form = self.form(raw, path)
        valid = _FORM_KEYS.get(form, _ALL_KEYS)
        for key in raw:
            if key not in valid:
                where = f"a {form} param" if form in _TYPES else f"a {form}"
                raise self.fail(
                    path + (key,),
                    f"unknown key {show(key)} for {where}{did_you_mean(key, valid)}; "
                    f"valid keys: {quote_list(valid)}",
                )
        when = self.when(raw["when"], path + ("when",)) if "when" in raw else None
        if form == "repeat block":
            return self.block(name, raw, path, when, in_block=in_block)
        if form == "fixed value":
            return FixedParam(name, raw["value"], when)
        if form == "categorical":
            return CategoricalParam(
                name, self.choices(raw.get("choices"), path + ("choices",)), when
            )
        return self.numeric(name, form, raw, path, when)

    def form(self, raw: dict[Any, Any], path: KeyPath) -> str:
        if "repeat" in raw or "params" in raw:
            return "repeat block"
        if "value" in raw:
            return "fixed value"
        if "type" in raw:
            kind = raw["type"]
            if kind not in _TYPES:
                raise self.fail(
                    path + ("type",),
                    f"unknown type {show(kind)}{did_you_mean(kind, _TYPES)}; "
                    f"expected one of {quote_list(_TYPES)}",
                )
            return str(kind)
        if "choices" in raw:
            return "categorical"
        for key in raw:
            if key not in _ALL_KEYS:
                raise self.fail(
                    path + (key,),
                    f"unknown key {show(key)}{did_you_mean(key, _ALL_KEYS)}; "
                    f"valid keys: {quote_list(_ALL_KEYS)}",
                )
        if "low" in raw or "high" in raw:
            raise self.fail(path, "missing key 'type': say whether this range is float or int")
        raise self.fail(
            path,
            "a param needs 'type' (float, int, categorical), 'choices', 'value' or 'repeat'",
        )

    def number(self, raw: dict[Any, Any], key: str, path: KeyPath, *, integer: bool) -> Any:
        if key not in raw:
            raise self.fail(path + (key,), f"missing key '{key}'")
        value = raw[key]
        expected = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path + (key,), f"expected {expected}, got {show(value)}")
        if not math.isfinite(value):
            raise self.fail(path + (key,), f"expected a finite number, got {value}")
        if isinstance(value, int) and abs(value) > _INT64_MAX:
            raise self.fail(
                path + (key,),
                f"{str(value)[:20]}... is too large: the limit is a 64-bit integer "
                f"(+-{_INT64_MAX})",
            )
        if integer:
            if isinstance(value, float) and not value.is_integer():
                raise self.fail(path + (key,), f"expected an integer, got {value}")
            return int(value)
        return float(value)

    def numeric(
        self, name: str, kind: str, raw: dict[Any, Any], path: KeyPath, when: Condition | None
    ) -> Param:
        integer = kind == "int"
        low = self.number(raw, "low", path, integer=integer)
        high = self.number(raw, "high", path, integer=integer)
        log = raw.get("log", False)
        if not isinstance(log, bool):
            raise self.fail(path + ("log",), f"expected true or false, got {show(log)}")
        step = self.number(raw, "step", path, integer=integer) if "step" in raw else None
        if integer and low > high:
            raise self.fail(
                path + ("low",),
                f"low must be less than or equal to high for '{name}' (got low={low}, high={high})",
            )
        if not integer and low >= high:
            raise self.fail(
                path + ("low",),
                f"low must be less than high for '{name}' (got low={low}, high={high})",
            )
        if log and low <= 0:
            raise self.fail(
                path + ("low",),
                f"log: true needs low > 0 (got low={low}): a log scale cannot reach zero",
            )
        if step is not None:
            if step <= 0:
                raise self.fail(path + ("step",), f"step must be > 0, got {step}")
            if log and not (integer and step == 1):
                raise self.fail(
                    path + ("step",),
                    "step cannot be combined with log: true (Optuna has no stepped log "
                    "ranges); remove one of them",
                )
            if not integer:
                self.check_resolution(low, high, step, path + ("step",))
            self.check_grid(low, high, step, path + ("step",))
        if integer:
            return IntParam(name, low, high, log, 1 if step is None else step, when)
        return FloatParam(name, low, high, log, step, when)

    def check_resolution(self, low: float, high: float, step: float, path: KeyPath) -> None:
        """Refuse a step too fine for the range: more than MAX_FLOAT_STEPS points, or points
        closer than the floats at the range's ends can tell apart (Optuna would overflow or
        sample values that are not on the grid)."""
        resolution = math.ulp(max(abs(low), abs(high)))
        points = (high - low) / step
        if points > MAX_FLOAT_STEPS or step < 16 * resolution:
            raise self.fail(
                path,
                f"step = {step} is far below the precision of the range [{low}, {high}]: "
                f"it makes {points:.3g} grid points (the limit is {MAX_FLOAT_STEPS:.0e}, "
                f"and floats near {max(abs(low), abs(high))} are {resolution:.3g} apart); "
                "use a coarser step, or remove step for a continuous range",
            )

    def check_grid(self, low: float, high: float, step: float, path: KeyPath) -> None:
        # Decimal arithmetic on the written values, as Optuna does, so 0.5 / 0.05 is exact.
        try:
            span = Decimal(str(high)) - Decimal(str(low))
            off = span % Decimal(str(step))
        except InvalidOperation:
            return
        if off != 0:
            top = Decimal(str(high)) - off
            raise self.fail(
                path,
                f"high - low = {span} is not a multiple of step = {step}; Optuna would "
                f"silently lower high to {top}: change high or step",
            )

    def choices(self, raw: Any, path: KeyPath) -> tuple[Scalar, ...]:
        if not isinstance(raw, list):
            raise self.fail(path, f"expected a list of choices, got {show(raw)}")
        if not raw:
            raise self.fail(path, "choices must not be empty")
        if len(raw) > MAX_CHOICES:
            raise self.fail(
                path,
                f"{len(raw):,} choices: the limit is {MAX_CHOICES:,} per param; use an int or "
                "float range for a numeric param",
            )
        # first index of each choice: a dict compares with == and hash, as Optuna does
        # (True, 1 and 1.0 are one key), in one pass instead of comparing every pair
        seen: dict[Any, int] = {}
        for index, choice in enumerate(raw):
            if not isinstance(choice, SCALAR_TYPES):
                raise self.fail(
                    path + (index,),
                    f"a choice must be null, a boolean, a number or a string, got {show(choice)}",
                )
            if isinstance(choice, float) and math.isnan(choice):
                raise self.fail(path + (index,), "NaN cannot be a choice")
            # Optuna finds a choice with ==, so true and 1 (or 1 and 1.0) would be one choice.
            first = seen.setdefault(choice, index)
            if first != index:
                same = "" if same_value(raw[first], choice) else ", which Optuna treats as equal"
                raise self.fail(
                    path + (index,),
                    f"duplicate choice: {show(choice)} (item {index}) and {show(raw[first])} "
                    f"(item {first}){same}",
                )
        return tuple(raw)

    def when(self, raw: Any, path: KeyPath) -> Condition:
        if not isinstance(raw, dict) or not raw:
            raise self.fail(
                path, f"expected a mapping {{param: value or [values]}}, got {show(raw)}"
            )
        for name, allowed in raw.items():
            items = allowed if isinstance(allowed, list) else [allowed]
            if not items:
                raise self.fail(path + (name,), "the list of allowed values is empty")
            for value in items:
                if not isinstance(value, SCALAR_TYPES):
                    raise self.fail(
                        path + (name,),
                        f"expected a value or a list of values, got {show(value)}",
                    )
        return Condition.of(raw)

    def block(
        self,
        name: str,
        raw: dict[Any, Any],
        path: KeyPath,
        when: Condition | None,
        *,
        in_block: bool,
    ) -> RepeatBlock:
        if in_block:
            raise self.fail(path, "repeat blocks cannot be nested")
        for key in ("repeat", "params"):
            if key not in raw:
                raise self.fail(path + (key,), f"a repeat block needs '{key}'")
        repeat = raw["repeat"]
        if isinstance(repeat, bool) or not isinstance(repeat, (int, str)):
            raise self.fail(
                path + ("repeat",),
                f"expected a param name or a layer count, got {show(repeat)}",
            )
        if isinstance(repeat, int) and repeat < 0:
            raise self.fail(path + ("repeat",), f"the layer count must be >= 0, got {repeat}")
        if isinstance(repeat, int) and repeat > MAX_LAYERS:
            raise self.fail(
                path + ("repeat",),
                f"{repeat:,} layers: the limit is {MAX_LAYERS:,} layers per repeat block",
            )
        inner = raw["params"]
        if not isinstance(inner, dict) or not inner:
            raise self.fail(path + ("params",), "a repeat block needs a mapping of params")
        params = self.scope(inner, path + ("params",), in_block=True)
        return RepeatBlock(name, repeat, Space(params), when)
