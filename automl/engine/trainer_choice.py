"""A search over a list of trainers (``trainer: [mlp, random_forest, ...]``): which of them
take part, the spaces of those the spec gives no params, the first configs to try, and a
pruner that compares a trial only with trials of its own trainer.

The spec itself (:func:`automl.spec.Spec.trial_trainer`) knows how a trial's params name
its trainer; what needs the installed plugins and the data's task is here.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial

from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.plugin.trainer import HasDefaultSpace, Trainer
from automl.spec import Spec
from automl.spec.model import TRAINER_PARAM

__all__ = ["SameTrainerPruner", "lookup_trainers", "resolve_trainers"]

logger = get_logger(__name__)


def lookup_trainers(spec: Spec, host: PluginHost) -> dict[str, Trainer]:
    """Each of the spec's trainers by name; a spec error at the unknown one."""
    registry = host.collect().trainers
    found: dict[str, Trainer] = {}
    for index, name in enumerate(spec.trainers):
        try:
            found[name] = registry.get(name)
        except KeyError as exc:
            where = ("trainer", index) if spec.picks_trainer else ("trainer",)
            raise spec.error(where, exc.args[0]) from None
    return found


def resolve_trainers(spec: Spec, host: PluginHost, task: str) -> Spec:
    """The spec as a search over its trainers runs it on ``task`` data.

    A single trainer must handle the task (a spec error otherwise). From a list, trainers
    that do not handle the task are left out (with a warning: a spec such as ``tabular.yaml``
    lists ``logistic`` and ``ridge`` for both tasks); none left is a spec error. A listed
    trainer without params gets its plugin's default space, and its default configuration
    goes into ``enqueue``, cheapest trainer first, so the first trials are cheap, strong
    baselines. The result's params are complete: resolving it again changes nothing.
    """
    trainers = lookup_trainers(spec, host)
    able = [n for n, t in trainers.items() if task in t.tasks]
    if not spec.picks_trainer or not able:
        if not able:
            name = spec.trainers[0]
            what = (f"trainer {name!r} handles {', '.join(trainers[name].tasks)} data"
                    if not spec.picks_trainer else
                    f"none of the trainers ({', '.join(spec.trainers)}) handles {task} data")
            raise spec.error(("trainer",), f"{what}, but dataset {spec.dataset.name!r} is a "
                                           f"{task} task")
        return spec
    left_out = [n for n in spec.trainers if n not in able]
    if left_out:
        logger.warning("%s: left out of the search (%s data): %s", spec.study, task,
                       ", ".join(f"{n} handles {'/'.join(trainers[n].tasks)} only"
                                 for n in left_out))
    if not left_out and not spec.defaulted_trainers:
        return spec
    data = spec.to_dict()
    data["trainer"] = able
    params: dict[str, Any] = {n: v for n, v in data["params"].items() if n in able}
    starts: list[tuple[float, dict[str, Any]]] = []
    for name in able:
        if name not in spec.defaulted_trainers:
            continue
        trainer = trainers[name]
        # A trainer may carry the attribute unset (None), as TorchTrainer without a space does.
        if not isinstance(trainer, HasDefaultSpace) or not callable(trainer.default_space):
            logger.info("%s: trainer %s has no default space; it trains with its own defaults",
                        spec.study, name)
            params[name] = {}
            continue
        params[name] = dict(trainer.default_space(task))
        starts.append((float(trainer.cost),
                       {TRAINER_PARAM: name, name: dict(trainer.default_config(task))}))
    data["params"] = params
    starts.sort(key=lambda item: item[0])  # stable: the list's order among equal costs
    data["enqueue"] = [*data["enqueue"], *(config for _, config in starts)]
    return Spec.from_data(data, locator=spec._locator, source=spec.source)


class _TrainerStudy(optuna.study.Study):
    """The study as a pruner should see it for one trainer's trial: that trainer's trials
    only (Optuna's Hyperband builds its brackets the same way)."""

    def __init__(self, study: optuna.Study, trainer: str) -> None:
        super().__init__(study_name=study.study_name, storage=study._storage,
                         sampler=study.sampler, pruner=study.pruner)
        self.base = study
        self._trainer = trainer

    def get_trials(self, deepcopy: bool = True,
                   states: Any = None) -> list[FrozenTrial]:
        trials = super().get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.params.get(TRAINER_PARAM) == self._trainer]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


class SameTrainerPruner(optuna.pruners.BasePruner):
    """Prunes a trial against the trials of its own trainer only.

    A random forest that adds 10 trees an epoch and an MLP at its third epoch are not at
    the same point of the same curve; the median (or the rung) of the other trainers'
    curves says nothing about this one's. So each trainer is its own pruning population,
    with the inner pruner's own warm-up and start-up counts per trainer. Trials across
    trainers are compared only where they end: on the objective.
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner
        # One view per study and trainer: building a Study looks its id up in the storage
        # (a query on a database server), and the pruner is asked every epoch.
        self._views: dict[tuple[int, str], _TrainerStudy] = {}

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        trainer = trial.params.get(TRAINER_PARAM)
        if trainer is None:
            return bool(self.inner.prune(study, trial))
        key = (id(study), str(trainer))
        view = self._views.get(key)
        if view is None or view.base is not study:
            view = self._views[key] = _TrainerStudy(study, str(trainer))
        return bool(self.inner.prune(view, trial))

