"""Lazy re-exports for package ``__init__`` modules: a name is imported from its module
on first use, so that importing a package (``automl.plugin``, say) does not import torch,
Optuna or pandas until something that needs them is asked for."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str],
                 moved: Mapping[str, str] | None = None
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package`` that import each of
    ``names`` (name -> module) when first asked for. ``moved`` names (name -> module) are
    found too, with a ``DeprecationWarning``: they lived in ``package`` in automl 0.1."""
    moved = dict(moved or {})

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None and name in moved:
            module = moved[name]
            warnings.warn(f"{package}.{name} moved to {module}.{name}", DeprecationWarning,
                          stacklevel=2)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
