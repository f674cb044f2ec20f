"""Samplers and pruners by name: the types plugins register, and building them from a spec.

Every sampler and pruner, the built-in ones included (``automl_plugins.search``), comes
from a ``register_samplers`` / ``register_pruners`` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from automl.log import get_logger
from automl.spec.params import Space

logger = get_logger(__name__)


@dataclass(frozen=True)
class SearchContext:
    """What a sampler or pruner factory may need to know about the search."""

    space: Space
    directions: Sequence[str] = ("maximize",)
    max_epochs: int = 30
    # Whether the spec has constraints. Optuna 5 reads them from each trial
    # (`trial.set_constraint`), so samplers need no constraints_func.
    constraints: bool = False

    @property
    def multi_objective(self) -> bool:
        return len(self.directions) > 1


@dataclass(frozen=True)
class SamplerPlugin:
    """A named sampler: ``build(seed, options, ctx) -> optuna.samplers.BaseSampler``.

    ``multi_objective``: whether it handles several objectives (the engine refuses a spec
    that needs it otherwise); ``constraints``: whether it steers away from infeasible
    trials (read from ``trial.set_constraint``; the engine warns when it does not).
    """

    name: str
    build: Callable[[int | None, dict[str, Any], SearchContext], optuna.samplers.BaseSampler]
    description: str = ""
    multi_objective: bool = True
    constraints: bool = False


@dataclass(frozen=True)
class PrunerPlugin:
    """A named pruner: ``build(options, ctx) -> optuna.pruners.BasePruner``."""

    name: str
    build: Callable[[dict[str, Any], SearchContext], optuna.pruners.BasePruner]
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)


class AlgorithmError(ValueError):
    """A sampler/pruner cannot be built as asked; ``key`` is the spec key to blame."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def build_sampler(plugin: SamplerPlugin, seed: int | None, options: Mapping[str, Any],
                  ctx: SearchContext) -> optuna.samplers.BaseSampler:
    """Build ``plugin``'s sampler; an :class:`AlgorithmError` for what it cannot do."""
    if ctx.multi_objective and not plugin.multi_objective:
        raise AlgorithmError("name", f"sampler {plugin.name!r} cannot optimize several "
                                     "objectives; use tpe, nsga2, random or gp")
    if ctx.constraints and not plugin.constraints:
        logger.warning("sampler %r does not use constraints when sampling (tpe, nsga2 and gp "
                       "do); infeasible trials are still marked and ranked last", plugin.name)
    try:
        return plugin.build(seed, dict(options), ctx)
    except AlgorithmError:
        raise
    except (TypeError, ValueError) as exc:
        raise AlgorithmError("", f"sampler {plugin.name!r}: {_plain(exc)}") from None


def build_pruner(plugin: PrunerPlugin, options: Mapping[str, Any],
                 ctx: SearchContext) -> optuna.pruners.BasePruner:
    """Build ``plugin``'s pruner, wrapped in Optuna's PatientPruner when ``patience`` is set."""
    options = dict(options)
    patience = options.pop("patience", None)
    try:
        pruner = plugin.build(options, ctx)
        if patience is not None:
            pruner = optuna.pruners.PatientPruner(pruner, patience=int(patience))
    except (TypeError, ValueError) as exc:
        raise AlgorithmError("", f"pruner {plugin.name!r}: {_plain(exc)}") from None
    return pruner


def _plain(exc: Exception) -> str:
    """``Sampler.__init__() got an unexpected keyword argument 'x'`` → ``unknown option 'x'``."""
    text = str(exc)
    marker = "got an unexpected keyword argument "
    if marker in text:
        return f"unknown option {text.split(marker, 1)[1]}"
    return text
