"""Every hook a plugin can implement. This module is the plugin documentation.

A plugin is a module (usually its own pip package) listed under the ``automl`` entry-point
group; its functions decorated with ``hookimpl`` (``from automl.plugin import hookimpl``)
implement the hooks below. Registration hooks follow the register-callback style: automl
owns each registry and hands the plugin a ``register`` function; registering a name
another plugin already registered is an error that names both plugins. A registration
hook is called once per plugin that implements it, through pluggy, so a hook wrapper
(``@hookimpl(wrapper=True)``) sees each plugin's call. An implementation may accept fewer
arguments than a spec declares, so hooks can gain arguments without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from automl.data import DatasetLoader
    from automl.plugin.algorithms import PrunerPlugin, SamplerPlugin
    from automl.plugin.tracking import TrackerPlugin
    from automl.plugin.trainer import Trainer

hookspec = pluggy.HookspecMarker("automl")


@hookspec
def register_trainers(register: Callable[[Trainer], None]) -> None:
    """Register trainers: the things that train one trial.

    Called once when the plugin manager loads. Call ``register(trainer)`` once per
    trainer; ``trainer`` satisfies :class:`automl.plugin.Trainer` (a ``name``, the
    ``tasks`` it handles, ``fit(params, data, ctx)`` and ``evaluate(...)``). Torch model
    plugins rarely write a trainer by hand: ``automl.plugin.TorchTrainer(name,
    build_model)`` wraps a ``build_model(params, input_shape, n_outputs) -> nn.Module``
    in the engine's training loop. A trainer that also gives a default search space
    (:class:`automl.plugin.HasDefaultSpace`; for a torch model,
    ``TorchTrainer(..., space=..., config=..., cost=...)``) is searched with no params of
    its own when a spec lists it among several trainers.

    Example::

        @hookimpl
        def register_trainers(register):
            register(TorchTrainer("tiny_mlp", build_model=build_tiny_mlp,
                                  space={"width": [16, 32, 64]}, config={"width": 32}))
    """


@hookspec
def register_datasets(register: Callable[[DatasetLoader], None]) -> None:
    """Register dataset loaders, selected by a spec's ``dataset: {name: ...}``.

    Called once when the plugin manager loads. Call ``register(loader)`` once per loader;
    ``loader`` satisfies :class:`automl.plugin.DatasetLoader`: a ``name`` and
    ``load(**args) -> automl.plugin.Dataset`` where ``args`` are the other keys of the
    spec's ``dataset`` mapping. Raise :class:`automl.plugin.DataError` for bad arguments
    or bad data; the CLI shows its message and exits with code 2.

    Example::

        @hookimpl
        def register_datasets(register):
            register(DatasetLoader("two_moons", load=make_two_moons))
    """


@hookspec
def register_samplers(register: Callable[[SamplerPlugin], None]) -> None:
    """Register search algorithms, selected by a spec's ``sampler: {name: ...}``.

    Called once when the plugin manager loads. Call ``register(SamplerPlugin(name, build))``
    where ``build(seed, options, ctx) -> optuna.samplers.BaseSampler``: ``seed`` is the
    spec's ``sampler.seed`` (or ``None``), ``options`` the other keys of the spec's
    ``sampler`` mapping, ``ctx`` an :class:`automl.plugin.SearchContext` (the param
    space, the objective directions, ``max_epochs``). Raise ``ValueError`` or ``TypeError``
    for a bad option: the user sees it with the spec's file and line.

    Example::

        @hookimpl
        def register_samplers(register):
            register(SamplerPlugin("sobol", lambda seed, options, ctx:
                                   optuna.samplers.QMCSampler(seed=seed, **options)))
    """


@hookspec
def register_pruners(register: Callable[[PrunerPlugin], None]) -> None:
    """Register pruners, selected by a spec's ``pruner: {name: ...}``.

    Called once when the plugin manager loads. Call ``register(PrunerPlugin(name, build))``
    where ``build(options, ctx) -> optuna.pruners.BasePruner``, ``options`` being the other
    keys of the spec's ``pruner`` mapping (``patience`` excepted: automl wraps any pruner
    in Optuna's ``PatientPruner`` when it is given) and ``ctx`` an
    :class:`automl.plugin.SearchContext`. Pruning sees the first objective, reported
    once per epoch.

    Example::

        @hookimpl
        def register_pruners(register):
            register(PrunerPlugin("threshold", lambda options, ctx:
                                  optuna.pruners.ThresholdPruner(**options)))
    """


@hookspec
def register_trackers(register: Callable[[TrackerPlugin], None]) -> None:
    """Register experiment trackers: ``register(TrackerPlugin(name, open))``.

    A spec turns a tracker on by name (``tracking: [{name: mlflow, uri: ...}]``, off by
    default); ``open(options, ctx) -> Tracker`` is called once per search run in the
    controller with the entry's other keys and a :class:`~automl.plugin.TrackingContext`,
    and the :class:`~automl.plugin.Tracker` it returns sees each trial's start, epochs
    and end and the study's end (see :mod:`automl.plugin.tracking`). A tracker that raises
    is logged and turned off; the search goes on.

    Example::

        class PrintTracker(Tracker):
            def epoch_finished(self, number, epoch, metrics):
                print(number, epoch, metrics)

        @hookimpl
        def register_trackers(register):
            register(TrackerPlugin("print", lambda options, ctx: PrintTracker()))
    """


@hookspec
def epoch_finished(study_name: str, number: int, epoch: int,
                   metrics: dict[str, float]) -> None:
    """Observe one epoch of a running trial (live tracking).

    Called in the controller's process, never in the trial's training step: the epochs a
    worker reports are handed to observers between the controller's steps, after the
    trial got its answer, so a slow observer delays no epoch. ``number`` is the trial's
    number, ``epoch`` counts from 1, ``metrics`` is what the trainer reported for it (with
    ``split.folds``, also the ``fold``). For one trial the calls come in epoch order and
    before its ``trial_finished``. An observer that raises is logged with the plugin's name
    and is not called again in this run; the trial goes on.

    Example::

        @hookimpl
        def epoch_finished(study_name, number, epoch, metrics):
            print(f"{study_name} #{number} epoch {epoch}: {metrics.get('val_loss')}")
    """


@hookspec
def trial_finished(study_name: str, number: int, state: str, values: list[float] | None,
                   attrs: dict[str, Any]) -> None:
    """Observe a finished trial (tracking, alerts).

    Called by the controller after the trial's outcome is stored, once per trial, in the
    controller's process. ``study_name`` is the study's name, ``number`` the trial's
    number in it (0, 1, ...), ``state`` is ``complete``, ``pruned`` or ``failed``,
    ``values`` the objective value(s) (``None`` unless complete), ``attrs`` the recorded
    trial attributes: ``params``, ``stop_reason``, ``epochs``, ``best_epoch``, ``metrics``
    (at the best epoch), ``history`` (one dict per epoch), ``duration_s``, ``device`` and
    ``error``. An exception raised here is logged with the plugin's name, the plugin's
    observers are not called again in this run, and the study goes on.

    Example::

        @hookimpl
        def trial_finished(study_name, number, state, attrs):
            if state == "failed":
                print(f"{study_name} #{number} failed: {attrs['error']}")
    """


@hookspec
def study_finished(study_name: str, n_trials: int, best: dict[str, Any] | None,
                   reason: str) -> None:
    """Observe the end of a search run (of this process; several may share a study).

    ``study_name`` is the study's name, ``n_trials`` the trials counted against the budget
    so far, ``best`` the best trial's ``number``, ``values``, ``params`` and ``metrics``
    (test metrics included; ``None`` when no trial completed), ``reason`` why this run
    stopped: ``budget``, ``timeout``, ``target``, ``no_improvement``, ``total_epochs``,
    ``grid_exhausted``, ``max_failures`` or ``interrupted``. Exceptions are logged, not
    raised (a plugin that raised in an earlier observer hook of this run is not called).

    Example::

        @hookimpl
        def study_finished(study_name, best, reason):
            if best:
                print(f"{study_name} stopped ({reason}); best trial #{best['number']}")
    """
