"""The second pass over the ``params:`` section: the references between params.

``when`` must name a param it can see (in a repeat block, one of the same block or a
top-level one) with values that param can take; ``repeat`` must name a top-level param of
non-negative integers; and the references fix the order params are sampled in (a param
after the ones it reads; a cycle is an error).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, Locator, did_you_mean, quote_list, show
from automl.spec.params import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    RepeatBlock,
    Space,
    same_value,
)

# Layers of a repeat block (a fixed count, or the most its count param can take): every
# layer's params are sampled, stored and passed to the trainer, so millions would take hours
# per trial and hold the controller past --timeout and Ctrl-C.
MAX_LAYERS = 1_000

__all__ = ["MAX_LAYERS", "References"]


class References:
    """Checks the references of parsed params and orders them."""

    def __init__(self, locator: Locator) -> None:
        self.loc = locator

    def fail(self, path: KeyPath, message: str) -> SpecError:
        return self.loc.error(path, message)

    def resolve(self, params: dict[str, Param], path: KeyPath) -> Space:
        deps: dict[str, list[str]] = {}
        for name, param in list(params.items()):
            here = path + (name,)
            deps[name] = self.check_when(param, here, params, None)
            if isinstance(param, RepeatBlock):
                params[name] = self.resolve_block(param, here, params, deps[name])
        return Space(params, self.order(params, deps, path))

    def resolve_block(
        self, block: RepeatBlock, path: KeyPath, top: dict[str, Param], deps: list[str]
    ) -> RepeatBlock:
        if isinstance(block.repeat, str):
            self.check_count(block.repeat, path + ("repeat",), top, block)
            deps.append(block.repeat)
        inner = dict(block.params)
        inner_deps: dict[str, list[str]] = {}
        for name, param in inner.items():
            here = path + ("params", name)
            local = self.check_when(param, here, inner, top)
            inner_deps[name] = [n for n in local if n in inner]
            deps.extend(n for n in local if n not in inner)
        order = self.order(inner, inner_deps, path + ("params",))
        return replace(block, params=Space(inner, order))

    def check_count(
        self, name: str, path: KeyPath, top: dict[str, Param], block: RepeatBlock
    ) -> None:
        if name not in top:
            if name in block.params:
                raise self.fail(
                    path,
                    f"'{name}' is inside the block; the layer count must be a top-level param",
                )
            raise self.fail(
                path,
                f"unknown param {show(name)}{did_you_mean(name, top)}; repeat takes a "
                "top-level int param or a number",
            )
        counter = top[name]
        if isinstance(counter, IntParam):
            ok, values = counter.low >= 0, [counter.low]
            most = counter.high
        elif isinstance(counter, CategoricalParam):
            values = list(counter.choices)
            most = max(values, default=0) if all(isinstance(v, int) for v in values) else 0
            ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
        elif isinstance(counter, FixedParam):
            values = [counter.value]
            most = counter.value if isinstance(counter.value, int) else 0
            ok = isinstance(counter.value, int) and not isinstance(counter.value, bool)
            ok = ok and counter.value >= 0
        else:
            values, ok, most = [], False, 0
        if ok and most > MAX_LAYERS:
            raise self.fail(
                path,
                f"the layer count '{name}' can reach {most:,} layers: the limit is "
                f"{MAX_LAYERS:,} layers per repeat block; lower its largest value",
            )
        if not ok:
            raise self.fail(
                path,
                f"the layer count '{name}' must be a param of non-negative integers "
                f"(e.g. {{type: int, low: 1, high: 4}}), but it is {_KIND[type(counter)]}"
                + (f" with {quote_list(show(v) for v in values)}" if values else ""),
            )

    def check_when(
        self,
        param: Param,
        path: KeyPath,
        scope: dict[str, Param],
        outer: dict[str, Param] | None,
    ) -> list[str]:
        """Check the names and values of ``param.when``; return the names it reads."""
        if param.when is None:
            return []
        visible = dict(outer or {})
        visible.update(scope)  # a block's own params hide top-level ones of the same name
        for name, allowed in param.when.clauses:
            here = path + ("when", name)
            if name == param.name:
                raise self.fail(here, f"'{name}' cannot be conditioned on itself")
            if name not in visible:
                names = [
                    n
                    for n, p in visible.items()
                    if n != param.name and not isinstance(p, RepeatBlock)
                ]
                raise self.fail(
                    here,
                    f"unknown param {show(name)}{did_you_mean(name, names)}; "
                    f"when can name: {quote_list(names)}",
                )
            target = visible[name]
            if isinstance(target, RepeatBlock):
                raise self.fail(here, f"'{name}' is a repeat block; when can only name params")
            for value in allowed:
                problem = _impossible(target, value)
                if problem:
                    raise self.fail(here, problem)
        return list(param.when.names)

    def order(
        self, params: dict[str, Param], deps: dict[str, list[str]], path: KeyPath
    ) -> list[str]:
        done: list[str] = []
        placed: set[str] = set()
        pending = list(params)
        while pending:
            # The first param, in YAML order, whose dependencies are all sampled already.
            ready = next(
                (n for n in pending if all(d in placed for d in deps[n] if d in params)), None
            )
            if ready is None:
                cycle = _find_cycle(pending, deps)
                raise self.fail(
                    path + (cycle[0], "when"),
                    "the conditions form a cycle: " + " -> ".join(cycle + [cycle[0]]),
                )
            done.append(ready)
            placed.add(ready)
            pending.remove(ready)
        return done


_KIND = {
    FloatParam: "a float param",
    IntParam: "an int param",
    CategoricalParam: "a categorical param",
    FixedParam: "a fixed value",
    RepeatBlock: "a repeat block",
}


def _impossible(target: Param, value: Any) -> str:
    """Why ``target`` can never equal ``value`` (a message), or "" when it can."""
    name = target.name
    if isinstance(target, CategoricalParam):
        if any(same_value(value, c) for c in target.choices):
            return ""
        return (
            f"{show(value)} is not a choice of '{name}'"
            f"{did_you_mean(value, target.choices)}; choices: "
            f"{quote_list(show(c) for c in target.choices)}"
        )
    if isinstance(target, FixedParam):
        if same_value(value, target.value):
            return ""
        return f"'{name}' is fixed to {show(target.value)}, so it is never {show(value)}"
    if isinstance(target, (IntParam, FloatParam)):
        kind = "int" if isinstance(target, IntParam) else "float"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"'{name}' is a {kind} param; it is never {show(value)}"
        if not target.low <= value <= target.high:
            return f"'{name}' ranges over [{target.low}, {target.high}]; it is never {show(value)}"
        off_grid = isinstance(target, IntParam) and (
            value != int(value) or (value - target.low) % target.step
        )
        if off_grid:
            return (
                f"'{name}' takes integers from {target.low} in steps of {target.step}; "
                f"it is never {show(value)}"
            )
    return ""


def _find_cycle(pending: list[str], deps: dict[str, list[str]]) -> list[str]:
    """One dependency cycle among ``pending`` (each of which waits on another pending)."""
    members = set(pending)
    node, trail = pending[0], []
    while node not in trail:
        trail.append(node)
        node = next(d for d in deps[node] if d in members)
    return trail[trail.index(node) :]
