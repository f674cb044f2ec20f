"""Building the sampler and pruner a spec names from what plugins registered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from automl.log import get_logger
from automl.plugin.algorithms import AlgorithmError, PrunerPlugin, SamplerPlugin, SearchContext

logger = get_logger(__name__)


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
