"""Samplers and pruners by name, built from a spec's ``sampler:`` and ``pruner:`` sections."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna

from automl.hints import did_you_mean

SamplerFactory = Callable[..., optuna.samplers.BaseSampler]
PrunerFactory = Callable[..., optuna.pruners.BasePruner]


def _tpe(seed: int | None, **options: Any) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, **options)


def _random(seed: int | None, **options: Any) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed, **options)


SAMPLERS: dict[str, SamplerFactory] = {"tpe": _tpe, "random": _random}


def _median(max_epochs: int, **options: Any) -> optuna.pruners.BasePruner:
    # A warm-up matters: without one, large configs were pruned in their first 1-3 epochs
    # (see MEASURED.md), before they could show what they learn.
    options.setdefault("n_startup_trials", 5)
    options.setdefault("n_warmup_steps", min(5, max(0, max_epochs // 4)))
    return optuna.pruners.MedianPruner(**options)


def _percentile(max_epochs: int, **options: Any) -> optuna.pruners.BasePruner:
    options.setdefault("percentile", 25.0)
    options.setdefault("n_startup_trials", 5)
    options.setdefault("n_warmup_steps", min(5, max(0, max_epochs // 4)))
    return optuna.pruners.PercentilePruner(**options)


def _hyperband(max_epochs: int, **options: Any) -> optuna.pruners.BasePruner:
    options.setdefault("min_resource", 1)
    options.setdefault("max_resource", max_epochs)
    return optuna.pruners.HyperbandPruner(**options)


def _successive_halving(max_epochs: int, **options: Any) -> optuna.pruners.BasePruner:
    return optuna.pruners.SuccessiveHalvingPruner(**options)


def _none(max_epochs: int, **options: Any) -> optuna.pruners.BasePruner:
    return optuna.pruners.NopPruner()


PRUNERS: dict[str, PrunerFactory] = {
    "median": _median,
    "percentile": _percentile,
    "hyperband": _hyperband,
    "successive_halving": _successive_halving,
    "none": _none,
}


class AlgorithmError(ValueError):
    """An unknown sampler/pruner name or a bad option; the caller adds the spec location."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def _build(kind: str, table: Mapping[str, Callable[..., Any]], name: str,
           first: Any, options: Mapping[str, Any]) -> Any:
    if name not in table:
        raise AlgorithmError("name", f"unknown {kind} {name!r}{did_you_mean(name, table)}; "
                                     f"known: {', '.join(table)}")
    try:
        return table[name](first, **dict(options))
    except TypeError as exc:
        raise AlgorithmError("name", f"bad option for {kind} {name!r}: {exc}") from None
    except ValueError as exc:
        raise AlgorithmError("name", f"bad option for {kind} {name!r}: {exc}") from None


def build_sampler(name: str, seed: int | None,
                  options: Mapping[str, Any]) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` with ``seed`` and ``options`` (its constructor's keywords)."""
    return _build("sampler", SAMPLERS, name, seed, options)


def build_pruner(name: str, max_epochs: int,
                 options: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner called ``name``; ``max_epochs`` sizes defaults such as Hyperband's."""
    return _build("pruner", PRUNERS, name, max_epochs, options)
