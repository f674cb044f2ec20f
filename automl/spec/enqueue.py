"""Warm-start configs from a file (``automl search --enqueue FILE``), checked against a space."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automl.errors import SpecError, UsageError
from automl.spec.keypath import Locator
from automl.spec.params import Space
from automl.spec.yaml_loader import parse_yaml


def load_enqueue_file(path: str | Path, space: Space) -> list[dict[str, Any]]:
    """Read configs to try first: a YAML/JSON list of mappings, or ``{enqueue: [...]}``.

    Each config may be partial and use nested (``conv: [{channels: 8}]``) or flat
    (``conv.0.channels: 8``) names; a value outside ``space`` is a :class:`SpecError`
    naming the file, the line and the config.
    """
    from automl.engine.space import check_config  # automl.engine.space imports this package

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--enqueue {path}: cannot read it ({exc.strerror})") from None
    data, lines = parse_yaml(text, file=str(path))
    locator = Locator(str(path), lines)
    base: tuple[Any, ...] = ()
    if isinstance(data, Mapping) and set(data) == {"enqueue"}:
        data, base = data["enqueue"], ("enqueue",)
    if not isinstance(data, list) or not all(isinstance(c, Mapping) for c in data):
        raise SpecError("expected a list of configs (mappings of param: value)",
                        file=str(path), line=1)
    for index, config in enumerate(data):
        check_config(space, config, path=(*base, index), error=locator.error)
    return [dict(c) for c in data]
