"""What sampler and pruner plugins register, and what their factories are told.

Every sampler and pruner, the built-in ones included (``automl_plugins.search``), comes
from a ``register_samplers`` / ``register_pruners`` hook; :mod:`automl.engine.algorithms`
builds the ones a spec names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automl.spec.params import Space

if TYPE_CHECKING:
    import optuna

__all__ = ["AlgorithmError", "PrunerPlugin", "SamplerPlugin", "SearchContext"]


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
