"""Pydantic's validation errors, said the way a spec author needs to read them.

One error, not a list: the most telling one (an unknown key first, since a misspelled key
is often why a required one looks missing), at the user's key path and line, in plain
words without pydantic's URLs, and with a did-you-mean over the valid keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, Locator, did_you_mean, quote_list, show

__all__ = ["to_spec_error"]

_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
    "list": "a list",
    "tuple": "a list",
}
_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}
_BOUND_KEYS = {
    "greater_than": "gt",
    "greater_than_equal": "ge",
    "less_than": "lt",
    "less_than_equal": "le",
}
_TAGS = {"int", "float", "str", "bool", "none", "list", "dict", "tuple", "literal"}


def to_spec_error(
    exc: ValidationError, data: Any, locator: Locator, root: type[BaseModel]
) -> SpecError:
    """One SpecError for a failed validation of ``data`` as ``root``: the most telling problem
    (path, line, plain words), plus how many others there are."""
    errors = exc.errors(include_url=False)
    # An unknown key first: a misspelled key is often why a required one is "missing".
    # Then the others in file order, and missing keys (which have no line) last.
    rank = {"extra_forbidden": 0, "missing": 2}

    def order(error: Any) -> tuple[int, int]:
        line = locator.lines.line(_clean_loc(error["loc"], data))
        return (rank.get(error["type"], 1), line if line is not None else 1 << 30)

    first = min(errors, key=order)
    path = _clean_loc(first["loc"], data)
    message = _message(first, path, root)
    if len(errors) > 1:
        more = len(errors) - 1
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return locator.error(path, message)


def _clean_loc(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """The user's key path: pydantic's location without union tags and validator names."""
    path: list[Any] = []
    node = data
    for index, part in enumerate(loc):
        present = (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if present:
            node = node[part]
            path.append(part)
            continue
        if isinstance(part, int) and isinstance(node, Mapping):
            continue  # a single mapping the validator wrapped in a list (`objective:`)
        if isinstance(part, str) and (part in _TAGS or "[" in part or "-" in part):
            continue
        path.append(part)
        node = None
        if index == len(loc) - 1:
            break
    return tuple(path)


def _message(error: Any, path: KeyPath, root: type[BaseModel]) -> str:
    kind: str = error["type"]
    given = error.get("input")
    ctx = error.get("ctx") or {}
    key = path[-1] if path else ""
    if kind == "missing":
        return f"missing required key '{key}'"
    if kind == "extra_forbidden":
        valid = _valid_keys(root, path[:-1])
        return f"unknown key {show(key)}{did_you_mean(key, valid)}; valid keys: {quote_list(valid)}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"expected {ctx.get('expected')}, got {show(given)}{did_you_mean(given, options)}"
    if kind in _BOUNDS:
        bound = ctx.get(_BOUND_KEYS[kind])
        return f"must be {_BOUNDS[kind]} {bound}, got {show(given)}"
    if kind == "invalid_key":
        return f"keys must be strings, got {show(key)}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    stem = kind.split("_")[0] if not kind.startswith("model_attributes") else "model_attributes"
    if kind.endswith(("_type", "_parsing", "_from_float")) and stem in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[stem]}, got {show(given)}"
    return str(error["msg"])


def _valid_keys(root: type[BaseModel], path: KeyPath) -> list[str]:
    """The keys the model at ``path`` accepts (YAML names), for a did-you-mean."""
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
