"""The built-in search algorithms: Optuna's samplers and pruners, registered by name.

Each option in a spec's ``sampler:`` or ``pruner:`` mapping is passed to the Optuna
constructor as a keyword, so Optuna's documentation is the reference for options.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# Optuna is imported where a sampler or pruner is built: workers load this plugin too, and
# they never search, so importing it here cost each of them 0.25 s of CPU at start.
from automl.plugin import (
    AlgorithmError,
    CategoricalParam,
    FixedParam,
    FloatParam,
    GroupBlock,
    IntParam,
    PrunerPlugin,
    RegisterPruner,
    RegisterSampler,
    RepeatBlock,
    SamplerPlugin,
    SearchContext,
    Space,
    hookimpl,
)


def _sampler(cls: str) -> Any:
    """A factory of ``optuna.samplers.<cls>`` with the spec's seed and options as given."""
    def build(seed: int | None, options: dict[str, Any], ctx: SearchContext) -> Any:
        import optuna

        return getattr(optuna.samplers, cls)(seed=seed, **options)
    return build


def _pruner(cls: str) -> Any:
    """A factory of ``optuna.pruners.<cls>`` with the spec's options as given."""
    def build(options: dict[str, Any], ctx: SearchContext) -> Any:
        import optuna

        return getattr(optuna.pruners, cls)(**options)
    return build


def _tpe(seed: int | None, options: dict[str, Any], ctx: SearchContext) -> Any:
    import optuna

    options.setdefault("multivariate", True)
    # `group` only makes sense with multivariate, and helps with conditional params.
    options.setdefault("group", bool(options["multivariate"]))
    with warnings.catch_warnings():
        # `group` is marked experimental; it is what conditional spaces need, so say it once
        # here (in this docstring) rather than at every run.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, **options)


def _grid(seed: int | None, options: dict[str, Any], ctx: SearchContext) -> Any:
    import optuna

    class _GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler without the ``study.stop()`` of its ``after_trial``: with
        ask/tell there is no optimize loop to stop (it raises), so the controller stops the
        search itself once ``is_exhausted``."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    grid = options.pop("search_space", None) or grid_of(ctx.space)
    return _GridSampler(grid, seed=seed, **options)


def grid_of(space: Space, prefix: str = "", counts: dict[str, int] | None = None
            ) -> dict[str, list[Any]]:
    """The grid of every sampled param: categorical choices and stepped ranges.

    A repeat block contributes ``block.i.param`` for every layer its count can reach.
    A float range without ``step`` has no grid: an :class:`AlgorithmError` names it.
    """
    grid: dict[str, list[Any]] = {}
    counts = dict(counts or {})
    for name, param in space.items():
        flat = prefix + name
        if isinstance(param, CategoricalParam):
            grid[flat] = list(param.choices)
            layers = [c for c in param.choices if isinstance(c, int) and not isinstance(c, bool)]
            if layers:  # a layer count given as choices
                counts[name] = max(layers)
        elif isinstance(param, IntParam):
            if param.log:
                raise AlgorithmError("name", f"grid sampler: params.{flat} is a log range; "
                                             "give it choices or a linear step instead")
            grid[flat] = list(range(param.low, param.high + 1, param.step))
            counts[name] = param.high
        elif isinstance(param, FloatParam):
            if param.step is None:
                raise AlgorithmError("name", f"grid sampler: params.{flat} has no step, so "
                                             "it has no grid; add `step:` or use choices")
            n = int(round((param.high - param.low) / param.step))
            grid[flat] = [float(v) for v in np.round(param.low + np.arange(n + 1) * param.step,
                                                     12)]
        elif isinstance(param, GroupBlock):
            # Optuna's grid is one product of every param; one trainer's grid is not another's.
            raise AlgorithmError("name", "grid sampler: a search over several trainers has no "
                                         "single grid; use tpe, random or qmc")
        elif isinstance(param, RepeatBlock):
            count = param.repeat if isinstance(param.repeat, int) else counts.get(param.repeat, 0)
            for i in range(count):
                grid.update(grid_of(param.params, f"{flat}.{i}.", counts))
        elif isinstance(param, FixedParam):
            if isinstance(param.value, int) and not isinstance(param.value, bool):
                counts[name] = param.value  # a fixed layer count
        else:  # pragma: no cover - the spec has no other kind
            raise AlgorithmError("name", f"grid sampler: cannot grid params.{flat}")
    return grid


def grid_size(space: Space) -> int:
    """How many points the grid of ``space`` has (an upper bound with conditional params)."""
    return int(np.prod([len(v) for v in grid_of(space).values()] or [1]))


def _startup(options: dict[str, Any], ctx: SearchContext) -> None:
    # A warm-up matters: without one, large configs were pruned in their first 1-3 epochs
    # (MEASURED.md), before they could show what they learn.
    options.setdefault("n_startup_trials", 5)
    options.setdefault("n_warmup_steps", min(5, max(0, ctx.max_epochs // 4)))


def _median(options: dict[str, Any], ctx: SearchContext) -> Any:
    import optuna

    _startup(options, ctx)
    return optuna.pruners.MedianPruner(**options)


def _percentile(options: dict[str, Any], ctx: SearchContext) -> Any:
    import optuna

    options.setdefault("percentile", 25.0)
    _startup(options, ctx)
    return optuna.pruners.PercentilePruner(**options)


def _hyperband(options: dict[str, Any], ctx: SearchContext) -> Any:
    import optuna

    options.setdefault("min_resource", 1)
    options.setdefault("max_resource", ctx.max_epochs)
    return optuna.pruners.HyperbandPruner(**options)


def _none(options: dict[str, Any], ctx: SearchContext) -> Any:
    import optuna

    if options:
        raise ValueError(f"takes no options, got {', '.join(options)}")
    return optuna.pruners.NopPruner()


SAMPLERS = [
    SamplerPlugin("tpe", _tpe, "Tree-structured Parzen Estimator (multivariate, grouped)",
                  constraints=True),
    SamplerPlugin("random", _sampler("RandomSampler"), "independent uniform sampling"),
    SamplerPlugin("cmaes", _sampler("CmaEsSampler"),
                  "CMA evolution strategy (continuous params; one objective)",
                  multi_objective=False),
    SamplerPlugin("gp", _sampler("GPSampler"), "Gaussian-process Bayesian optimization",
                  constraints=True),
    SamplerPlugin("nsga2", _sampler("NSGAIISampler"),
                  "NSGA-II genetic algorithm (multi-objective)",
                  constraints=True),
    SamplerPlugin("qmc", _sampler("QMCSampler"), "quasi-Monte Carlo (Sobol) space filling"),
    SamplerPlugin("grid", _grid, "every combination of choices and stepped ranges"),
]

PRUNERS = [
    PrunerPlugin("median", _median, "prune below the median of earlier trials at the same epoch"),
    PrunerPlugin("percentile", _percentile, "prune below a percentile (25) of earlier trials"),
    PrunerPlugin("hyperband", _hyperband, "Hyperband: successive halving in several brackets"),
    PrunerPlugin("successive_halving", _pruner("SuccessiveHalvingPruner"),
                 "asynchronous successive halving"),
    PrunerPlugin("wilcoxon", _pruner("WilcoxonPruner"),
                 "Wilcoxon signed-rank test against the best trial"),
    PrunerPlugin("none", _none, "no pruning"),
]


@hookimpl
def register_samplers(register: RegisterSampler) -> None:
    for plugin in SAMPLERS:
        register(plugin)


@hookimpl
def register_pruners(register: RegisterPruner) -> None:
    for plugin in PRUNERS:
        register(plugin)
