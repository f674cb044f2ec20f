"""Everything a plugin author imports: ``from automl.plugin import ...``.

A complete torch model plugin::

    from torch import nn
    from automl.plugin import TorchTrainer, hookimpl

    def build_model(params, input_shape, n_outputs):
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(n_outputs))

    @hookimpl
    def register_trainers(register):
        register(TorchTrainer("linear", build_model))

What is here, by job:

- **Hooks**: :data:`hookimpl` marks an implementation; the hooks are documented in
  :mod:`automl.plugin.hookspecs` (and ``docs/plugins.md``). The ``register`` callbacks
  they receive are typed :data:`RegisterTrainer`, :data:`RegisterDataset`,
  :data:`RegisterSampler`, :data:`RegisterPruner`, :data:`RegisterTracker`.
- **Trainers**: :class:`Trainer` (the protocol), :class:`TrialContext` (what a trial
  gets), :class:`Decision` and :class:`StopReason` (the answer to each epoch report),
  :class:`Reporter`, :class:`ExecutionOptions`, :func:`required_epoch_metrics` /
  :func:`required_final_metrics` (the metrics the contract asks for),
  :class:`Predicts` and :class:`ExportsOnnx` (what a trainer adds for its models to be
  loaded, used for predictions and exported after a search), :class:`HasDefaultSpace`
  (a trainer's own search space, used where a spec lists it with no params),
  :class:`TorchTrainer` and :data:`BuildModel` (a torch model plugin is just a
  ``build_model``), :func:`classification_metrics` / :func:`regression_metrics`.
- **Data**: :class:`Dataset`, :class:`DatasetLoader`, :class:`DataInfo`, :class:`Split`,
  :class:`TrialData`, :data:`Task`; :class:`InputSchema` and :class:`TableColumn` (how raw
  input becomes features: saved with every model so new data is encoded the same way),
  :func:`label_text`, :func:`labels_of`, :data:`MISSING`; :func:`table_dataset` (a
  DataFrame into a dataset, as the CSV loader does), :func:`array_dataset` (arrays into a
  dataset, as the npz loader does), :func:`encode_target` and :func:`load_saved_dataset`
  (data given to ``automl.search(data=...)``).
- **Search algorithms**: :class:`SamplerPlugin`, :class:`PrunerPlugin`,
  :class:`SearchContext`, :class:`AlgorithmError`, and the param types a sampler may walk
  (:class:`Space`, :class:`FloatParam`, :class:`IntParam`, :class:`CategoricalParam`,
  :class:`FixedParam`, :class:`RepeatBlock`, :class:`GroupBlock`).
- **Tracking**: :class:`TrackerPlugin`, :class:`Tracker` (what a tracker does with a
  search's trials, epochs and end), :class:`TrackingContext`, :func:`check_options` (an
  unknown option, refused with a hint); the observer hooks
  ``epoch_finished``, ``trial_finished`` and ``study_finished`` for plugins that only watch;
  :func:`flatten_params` (nested params as the leaderboard's flat column names).
- **Errors**: :class:`TrialFailed` (fail one trial), :class:`DataError` (bad data: exit 2).
- **Helpers**: :func:`get_logger` (a logger under automl's, which the CLI shows),
  :func:`did_you_mean` (a hint for a misspelled name).
- **Contract checks** for a plugin's own tests: :func:`check_trainer`,
  :func:`check_dataset`, :func:`check_plugin`, :func:`check_space`,
  :func:`plugin_host`, :func:`tiny_dataset`, :class:`ContractError`,
  :class:`TrainerCheck`.

Names are imported on first use, so ``import automl.plugin`` stays cheap and does not
import torch until :class:`TorchTrainer` is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from automl import hookimpl
from automl._lazy import lazy_exports

if TYPE_CHECKING:
    from automl.data import DataInfo, Dataset, DatasetLoader, Split, Task, TrialData
    from automl.engine.space import flatten_params
    from automl.errors import DataError, TrialFailed
    from automl.execution.options import ExecutionOptions
    from automl.hints import did_you_mean
    from automl.log import get_logger
    from automl.metrics import classification_metrics, regression_metrics
    from automl.plugin.algorithms import (
        AlgorithmError,
        PrunerPlugin,
        SamplerPlugin,
        SearchContext,
    )
    from automl.plugin.testing import (
        ContractError,
        TrainerCheck,
        check_dataset,
        check_plugin,
        check_space,
        check_trainer,
        plugin_host,
        tiny_dataset,
    )
    from automl.plugin.tracking import Tracker, TrackerPlugin, TrackingContext, check_options
    from automl.plugin.trainer import (
        Decision,
        ExportsOnnx,
        HasDefaultSpace,
        Predicts,
        Reporter,
        StopReason,
        Trainer,
        TrialContext,
        required_epoch_metrics,
        required_final_metrics,
    )
    from automl.saved_data import load_saved_dataset
    from automl.schema import MISSING, InputSchema, TableColumn, label_text, labels_of
    from automl.spec.params import (
        CategoricalParam,
        FixedParam,
        FloatParam,
        GroupBlock,
        IntParam,
        RepeatBlock,
        Space,
    )
    from automl.tables import array_dataset, encode_target, table_dataset
    from automl.training import BuildModel, TorchTrainer

    RegisterTrainer = Callable[[Trainer], None]
    RegisterDataset = Callable[[DatasetLoader], None]
    RegisterSampler = Callable[[SamplerPlugin], None]
    RegisterPruner = Callable[[PrunerPlugin], None]
    RegisterTracker = Callable[[TrackerPlugin], None]
else:
    # The register callbacks' types, for annotating a hook implementation.
    RegisterTrainer = Callable[["Trainer"], None]
    RegisterDataset = Callable[["DatasetLoader"], None]
    RegisterSampler = Callable[["SamplerPlugin"], None]
    RegisterPruner = Callable[["PrunerPlugin"], None]
    RegisterTracker = Callable[["TrackerPlugin"], None]

_EXPORTS = {
    **dict.fromkeys(("DataInfo", "Dataset", "DatasetLoader", "Split", "Task", "TrialData"),
                    "automl.data"),
    **dict.fromkeys(("DataError", "TrialFailed"), "automl.errors"),
    "did_you_mean": "automl.hints",
    "get_logger": "automl.log",
    "ExecutionOptions": "automl.execution.options",
    **dict.fromkeys(("InputSchema", "MISSING", "TableColumn", "label_text", "labels_of"),
                    "automl.schema"),
    **dict.fromkeys(("array_dataset", "encode_target", "table_dataset"), "automl.tables"),
    "load_saved_dataset": "automl.saved_data",
    **dict.fromkeys(("classification_metrics", "regression_metrics"), "automl.metrics"),
    **dict.fromkeys(("AlgorithmError", "PrunerPlugin", "SamplerPlugin", "SearchContext"),
                    "automl.plugin.algorithms"),
    **dict.fromkeys(("ContractError", "TrainerCheck", "check_dataset", "check_plugin",
                     "check_space", "check_trainer", "plugin_host", "tiny_dataset"),
                    "automl.plugin.testing"),
    **dict.fromkeys(("Tracker", "TrackerPlugin", "TrackingContext", "check_options"),
                    "automl.plugin.tracking"),
    "flatten_params": "automl.engine.space",
    **dict.fromkeys(("Decision", "ExportsOnnx", "HasDefaultSpace", "Predicts", "Reporter",
                     "StopReason", "Trainer", "TrialContext", "required_epoch_metrics",
                     "required_final_metrics"),
                    "automl.plugin.trainer"),
    **dict.fromkeys(("CategoricalParam", "FixedParam", "FloatParam", "GroupBlock", "IntParam",
                     "RepeatBlock", "Space"), "automl.spec.params"),
    **dict.fromkeys(("BuildModel", "TorchTrainer"), "automl.training"),
}

__all__ = [
    "AlgorithmError",
    "array_dataset",
    "BuildModel",
    "CategoricalParam",
    "check_dataset",
    "check_options",
    "check_plugin",
    "check_space",
    "check_trainer",
    "classification_metrics",
    "ContractError",
    "DataError",
    "DataInfo",
    "Dataset",
    "DatasetLoader",
    "did_you_mean",
    "encode_target",
    "Decision",
    "ExecutionOptions",
    "ExportsOnnx",
    "FixedParam",
    "flatten_params",
    "FloatParam",
    "get_logger",
    "GroupBlock",
    "HasDefaultSpace",
    "hookimpl",
    "InputSchema",
    "IntParam",
    "label_text",
    "labels_of",
    "load_saved_dataset",
    "MISSING",
    "plugin_host",
    "Predicts",
    "PrunerPlugin",
    "RegisterDataset",
    "RegisterPruner",
    "RegisterSampler",
    "RegisterTracker",
    "RegisterTrainer",
    "regression_metrics",
    "RepeatBlock",
    "Reporter",
    "required_epoch_metrics",
    "required_final_metrics",
    "SamplerPlugin",
    "SearchContext",
    "Space",
    "Split",
    "StopReason",
    "table_dataset",
    "TableColumn",
    "Task",
    "tiny_dataset",
    "TorchTrainer",
    "Tracker",
    "TrackerPlugin",
    "TrackingContext",
    "Trainer",
    "TrainerCheck",
    "TrialContext",
    "TrialData",
    "TrialFailed",
]
__getattr__, _dir = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return list(__all__)
