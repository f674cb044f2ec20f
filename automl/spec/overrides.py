"""``--set a.b=v`` overrides, applied to the raw spec data before it is validated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, format_path
from automl.spec.yaml_loader import LineMap, parse_yaml

__all__ = ["apply_overrides", "parse_set_options"]

# Sections whose short forms (`dataset: digits`, `early_stopping: false`) expand to a
# mapping, so that `--set dataset.path=x` works on a file that uses the short form.
_SHORT_FORMS = {"dataset": "name", "sampler": "name", "pruner": "name", "early_stopping": "enabled"}


def parse_set_options(items: Iterable[str]) -> dict[str, str]:
    """``["budget.trials=5", ...]`` -> ``{"budget.trials": "5"}``; SpecError for a bad item."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part.strip() for part in key.split(".")):
            raise SpecError(
                f"expected KEY=VALUE with a dotted key (e.g. budget.trials=5), got {item!r}",
                path="--set",
            )
        result[key] = value
    return result


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, str], lines: LineMap | None = None
) -> dict[str, Any]:
    """Set each dotted key of ``overrides`` in ``data`` (in place, and returned).

    Each value is read as YAML (``5`` is an int, ``1e-3`` a float, ``[a, b]`` a list,
    ``null`` None). Missing mappings along the way are created. ``lines`` learns which
    paths were overridden, so that errors there name the ``--set`` option.
    """
    for dotted, raw in overrides.items():
        label = f"--set {dotted}"
        try:
            value, _ = parse_yaml(raw, file=label)
        except SpecError as exc:
            raise SpecError(exc.detail, path=label) from None
        path = _assign(data, dotted.split("."), value, label)
        if lines is not None:
            lines.mark_override(path)
    return data


def _assign(data: dict[str, Any], parts: list[str], value: Any, label: str) -> KeyPath:
    node: Any = data
    path: KeyPath = ()
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SpecError(
                    f"{format_path(path)} is a list of {len(node)} items; "
                    f"{part!r} is not an index in it",
                    path=label,
                )
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if not last:
                child = node.get(key)
                if child is None:
                    node[key] = {}
                elif depth == 0 and key in _SHORT_FORMS and not isinstance(child, (dict, list)):
                    node[key] = {_SHORT_FORMS[key]: child}
        else:
            raise SpecError(
                f"cannot set a key inside {format_path(path)}: it is a value, not a mapping",
                path=label,
            )
        path += (key,)
        if last:
            node[key] = value
        else:
            node = node[key]
    return path
