"""Looking up what a spec names (trainer, dataset, sampler, pruner) and loading its data.

Shared by the controller, ``automl validate`` and the worker processes; every failure is a
:class:`~automl.errors.SpecError` pointing at the spec key to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from automl.data import DatasetLoader, DataSplits, make_splits
from automl.engine.algorithms import build_pruner, build_sampler
from automl.errors import DataError
from automl.plugin.algorithms import AlgorithmError, SearchContext
from automl.plugin.host import PluginHost, get_plugin_host
from automl.plugin.trainer import Trainer
from automl.spec import ConstraintSpec, Spec


def lookup_trainer(spec: Spec, host: PluginHost) -> Trainer:
    """The spec's trainer (the first of a list); a spec error at ``trainer`` with a hint
    when it is unknown."""
    from automl.engine.trainer_choice import lookup_trainers

    return lookup_trainers(spec, host)[spec.trainers[0]]


def lookup_dataset(spec: Spec, host: PluginHost) -> DatasetLoader:
    """The spec's dataset loader; a spec error at ``dataset.name`` when it is unknown."""
    try:
        return host.collect().datasets.get(spec.dataset.name)
    except KeyError as exc:
        raise spec.error(("dataset", "name"), exc.args[0]) from None


def load_splits(spec: Spec, host: PluginHost) -> DataSplits:
    """Load the spec's dataset and split it (the same split in every process: seeded)."""
    # One trainer must handle the data's task; a list is narrowed to those that do by
    # automl.engine.trainer_choice.resolve_trainers.
    trainer = lookup_trainer(spec, host) if not spec.picks_trainer else None
    ds = spec.dataset
    loader = lookup_dataset(spec, host)
    try:
        dataset = loader.load(**ds.args)
    except DataError:
        raise
    except TypeError as exc:
        raise spec.error(("dataset",), f"bad arguments for dataset {ds.name!r}: {exc}") from None
    if trainer is not None and dataset.task not in trainer.tasks:
        raise spec.error(("trainer",), f"trainer {trainer.name!r} handles "
                         f"{', '.join(trainer.tasks)} data, but dataset {ds.name!r} is a "
                         f"{dataset.task} task")
    sp = spec.split
    return make_splits(dataset, val=sp.val, test=sp.test, seed=sp.seed, stratify=sp.stratify)


def search_context(spec: Spec) -> SearchContext:
    """What sampler and pruner factories get to know about the search."""
    return SearchContext(space=spec.params, directions=[o.direction for o in spec.objectives],
                         max_epochs=spec.budget.max_epochs, constraints=bool(spec.constraints))


def build_algorithms(spec: Spec, seed: int | None, host: PluginHost
                     ) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    """The spec's sampler and pruner; a spec error at the bad name or option."""
    s, p = spec.sampler, spec.pruner
    host = host.collect()
    ctx = search_context(spec)
    try:
        sampler = build_sampler(host.samplers.get(s.name), seed, s.options, ctx)
    except KeyError as exc:
        raise spec.error(("sampler", "name"), exc.args[0]) from None
    except AlgorithmError as exc:
        raise spec.error(("sampler", exc.key) if exc.key else ("sampler",), str(exc)) from None
    try:
        pruner = build_pruner(host.pruners.get(p.name), p.options, ctx)
        if spec.picks_trainer:
            from automl.engine.trainer_choice import SameTrainerPruner

            pruner = SameTrainerPruner(pruner)
    except KeyError as exc:
        raise spec.error(("pruner", "name"), exc.args[0]) from None
    except AlgorithmError as exc:
        raise spec.error(("pruner", exc.key) if exc.key else ("pruner",), str(exc)) from None
    return sampler, pruner


def violations(constraints: Sequence[ConstraintSpec], metrics: Mapping[str, Any]) -> list[float]:
    """Each constraint's violation (<= 0 is feasible; a missing metric is infeasible)."""
    return [c.violation(float(metrics[c.metric])) if c.metric in metrics else float("inf")
            for c in constraints]


def check_spec(spec: Spec, host: PluginHost | None = None) -> None:
    """Everything ``automl validate`` checks beyond the file itself: the trainer, dataset,
    sampler, pruner and tracker names exist and the sampler/pruner options are accepted."""
    from automl.engine.observers import check_trackers
    from automl.engine.trainer_choice import lookup_trainers

    host = host or get_plugin_host()
    lookup_trainers(spec, host)
    lookup_dataset(spec, host)
    build_algorithms(spec, spec.sampler.seed, host)
    check_trackers(spec, host.collect())


def check_objectives(spec: Spec, task: str) -> None:
    """A spec error where an objective or early-stopping metric is one of the other task's
    (``val_accuracy`` on regression data): no trainer reports it, so every trial would
    fail. Metrics automl does not know (a trainer's own) are the trainer's to report."""
    from automl.metrics import CLASSIFICATION, REGRESSION

    other, mine = ((REGRESSION, CLASSIFICATION) if task == "classification"
                   else (CLASSIFICATION, REGRESSION))
    wanted = [(("objective", i, "metric") if len(spec.objectives) > 1
               else ("objective", "metric"), o.metric) for i, o in enumerate(spec.objectives)]
    if spec.early_stopping.monitor is not None:
        wanted.append((("early_stopping", "monitor"), spec.early_stopping.monitor))
    for path, metric in wanted:
        for prefix in ("val_", "train_", "test_"):
            name = metric.removeprefix(prefix)
            if metric.startswith(prefix) and name in other and name not in mine:
                kind = "regression" if task == "classification" else "classification"
                raise spec.error(path, f"{metric} is a {kind} metric, but dataset "
                                       f"{spec.dataset.name!r} is a {task} task; use one of "
                                       f"{', '.join(prefix + m for m in mine)} or {prefix}loss")
