"""Every hook a plugin can implement. This module is the plugin documentation.

A plugin is a module (usually its own pip package) listed under the ``automl`` entry-point
group; its functions decorated with :data:`automl.hookimpl` implement the hooks below.
Registration hooks follow the register-callback style: automl owns each registry and hands
the plugin a ``register`` function; registering a name another plugin already registered
is an error that names both plugins. An implementation may accept fewer arguments than a
spec declares, so hooks can gain arguments without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from automl.data import DatasetLoader
    from automl.trainer import Trainer

hookspec = pluggy.HookspecMarker("automl")


@hookspec
def register_trainers(register: Callable[[Trainer], None]) -> None:
    """Register trainers: the things that train one trial.

    Called once when the plugin manager loads. Call ``register(trainer)`` once per
    trainer; ``trainer`` satisfies :class:`automl.trainer.Trainer` (a ``name``, the
    ``tasks`` it handles, ``fit(params, data, ctx)`` and ``evaluate(...)``). Torch model
    plugins rarely write a trainer by hand: ``automl.torch.TorchTrainer(name,
    build_model)`` wraps a ``build_model(params, input_shape, n_outputs) -> nn.Module``
    in the engine's training loop.

    Example::

        @automl.hookimpl
        def register_trainers(register):
            register(TorchTrainer("tiny_mlp", build_model=build_tiny_mlp))
    """


@hookspec
def register_datasets(register: Callable[[DatasetLoader], None]) -> None:
    """Register dataset loaders, selected by a spec's ``dataset: {name: ...}``.

    Called once when the plugin manager loads. Call ``register(loader)`` once per loader;
    ``loader`` satisfies :class:`automl.data.DatasetLoader`: a ``name`` and
    ``load(**args) -> automl.data.Dataset`` where ``args`` are the other keys of the
    spec's ``dataset`` mapping. Raise :class:`automl.errors.DataError` for bad arguments
    or bad data; the CLI shows its message and exits with code 2.

    Example::

        @automl.hookimpl
        def register_datasets(register):
            register(DatasetLoader("two_moons", load=make_two_moons))
    """


@hookspec
def trial_finished(study_name: str, number: int, state: str, values: list[float] | None,
                   attrs: dict[str, Any]) -> None:
    """Observe a finished trial (tracking, alerts). Called by the controller after the
    trial's outcome is stored; ``state`` is ``complete``, ``pruned`` or ``failed``,
    ``values`` the objective value(s) or ``None``, ``attrs`` the recorded trial attributes
    (stop reason, epochs, metrics at the best epoch, duration, device). An exception
    raised here is logged with the plugin's name and does not stop the study."""


@hookspec
def study_finished(study_name: str, n_trials: int, best: dict[str, Any] | None,
                   reason: str) -> None:
    """Observe the end of a search run. ``best`` holds the best trial's number, values and
    params (``None`` when no trial completed); ``reason`` says why the run stopped
    (``budget``, ``timeout``, ``interrupted``, ...). Exceptions are logged, not raised."""
