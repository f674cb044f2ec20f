"""The trainer contract: what a trainer plugin implements, the context a trial runs in, and
the engine's answer to each epoch report.

The contract is written down once, here: :class:`Trainer` declares it,
:func:`required_epoch_metrics` and :func:`required_final_metrics` name the metrics it
must report, and :func:`automl.plugin.check_trainer` checks exactly these promises (no
more, no less).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from automl.data import DataInfo, Split, Task, TrialData
from automl.execution.options import ExecutionOptions

__all__ = [
    "TASK_METRICS",
    "Decision",
    "ExportsOnnx",
    "Predicts",
    "Reporter",
    "StopReason",
    "Trainer",
    "TrialContext",
    "required_epoch_metrics",
    "required_final_metrics",
]

# The metric every trainer reports for each task, with a ``val_`` prefix in every epoch
# report and in what ``fit`` returns, without a prefix from ``evaluate``: it is the
# default objective and the one metric every trainer of a task is compared on.
TASK_METRICS: dict[str, str] = {"classification": "accuracy", "regression": "rmse"}
# Reported every epoch whatever the task: early stopping monitors ``val_loss`` by default,
# and the overfitting rule compares it with ``train_loss``.
EPOCH_LOSSES = ("train_loss", "val_loss")


def required_epoch_metrics(task: Task) -> tuple[str, ...]:
    """The metrics each ``ctx.report(epoch, metrics)`` must hold for ``task``."""
    return (*EPOCH_LOSSES, "val_" + TASK_METRICS[task])


def required_final_metrics(task: Task) -> tuple[str, ...]:
    """The metrics ``Trainer.fit`` must return for ``task`` (those of the kept model)."""
    return ("val_" + TASK_METRICS[task],)


class StopReason(str, Enum):
    """Why a trial ended. Stored per trial and shown in every report."""

    COMPLETED = "completed"  # ran its max_epochs
    EARLY_STOPPED = "early_stopped"  # no improvement for `patience` epochs
    OVERFITTING = "overfitting"  # the max_gap rule (automl.engine.stopping)
    PRUNED = "pruned"  # the pruner judged it a loser against other trials
    FAILED = "failed"  # an exception or a non-finite metric
    TIMEOUT = "timeout"  # the trial ran past execution.trial_timeout
    INTERRUPTED = "interrupted"  # Ctrl-C


@dataclass(frozen=True)
class Decision:
    """The engine's answer to a trainer's per-epoch report.

    ``improved``: this epoch is the best so far, keep its weights; ``stop``: end the trial
    now (``reason`` says why: pruned, early stopped, overfitting).
    """

    stop: bool = False
    reason: StopReason | None = None
    improved: bool = False

    def __reduce__(self) -> tuple[Any, ...]:  # sent to a worker every epoch: keep it cheap
        return Decision, (self.stop, self.reason, self.improved)


class Reporter(Protocol):
    """Whoever answers a trial's epoch reports: the engine during a search, a recorder in
    :func:`automl.plugin.check_trainer`. Raises :class:`automl.errors.TrialFailed` to end
    the trial as failed (a NaN loss, a missing metric, a timeout)."""

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> Decision: ...


_LEGACY_OPTIONS = ("compile", "amp", "threads", "data_on_device")


class TrialContext:
    """Everything a trainer gets from the engine besides params and data.

    Args:
        number: the trial's number in the study (0, 1, ...).
        device: ``"cpu"`` or ``"cuda"`` (the one GPU the worker sees), ``"mps"``.
        seed: seed every random source of the trial from this.
        max_epochs: report at most this many epochs.
        checkpoint_path: where to save the kept model, in any format the trainer's own
            :meth:`Trainer.evaluate` reads back.
        restore_best: end with the weights of the epoch the engine called best
            (``Decision.improved``), not the last epoch's.
        options: how to train (:class:`~automl.execution.options.ExecutionOptions`:
            ``compile``, ``amp``, ``threads``, ``data_on_device``); hints a trainer
            applies where they mean something (the engine's torch loop applies all).
        reporter: what answers :meth:`report`; ``None`` answers "improved, go on" (a
            trainer run outside a search).

    ``report(epoch, metrics)`` must be called once per epoch (epochs count from 1) with
    :func:`required_epoch_metrics` at least; its :class:`Decision` says whether this
    epoch is the best so far and whether to stop.
    """

    def __init__(self, number: int, device: str, seed: int, max_epochs: int,
                 checkpoint_path: Path, restore_best: bool = True,
                 options: ExecutionOptions | None = None, reporter: Reporter | None = None,
                 **legacy: Any) -> None:
        options = options or ExecutionOptions()
        if legacy:
            options, reporter = _legacy_arguments(options, reporter, legacy)
        self.number = number
        self.device = device
        self.seed = seed
        self.max_epochs = max_epochs
        self.checkpoint_path = Path(checkpoint_path)
        self.restore_best = restore_best
        self.options = options
        self.reporter = reporter

    def report(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Report one epoch's metrics and get the engine's decision."""
        if self.reporter is None:
            return Decision(improved=True)
        return self.reporter(epoch, dict(metrics))

    # The options, one attribute away (trainers written before `options` read these).
    @property
    def compile(self) -> bool:
        """``torch.compile`` the model for its training steps (``execution.compile``)."""
        return self.options.compile

    @property
    def amp(self) -> bool:
        """bf16 autocast on a CUDA device that supports it (ignored on CPU)."""
        return self.options.amp

    @property
    def threads(self) -> int | None:
        """Torch intra-op threads for this trial; ``None`` leaves the process setting."""
        return self.options.threads

    @property
    def data_on_device(self) -> bool | None:
        """Keep the data on the device (``True``), stream it (``False``), or decide by
        its size (``None``)."""
        return self.options.data_on_device

    def __repr__(self) -> str:
        return (f"TrialContext(number={self.number}, device={self.device!r}, "
                f"seed={self.seed}, max_epochs={self.max_epochs}, "
                f"checkpoint_path={str(self.checkpoint_path)!r}, "
                f"restore_best={self.restore_best}, options={self.options!r})")


def _legacy_arguments(options: ExecutionOptions, reporter: Reporter | None,
                      legacy: dict[str, Any]) -> tuple[ExecutionOptions, Reporter | None]:
    """``TrialContext(..., compile=..., _judge=...)`` as automl 0.1 took them."""
    unknown = set(legacy) - {*_LEGACY_OPTIONS, "_judge"}
    if unknown:
        raise TypeError(f"TrialContext() got unexpected keyword argument(s): "
                        f"{', '.join(sorted(unknown))}")
    warnings.warn("TrialContext(compile=, amp=, threads=, data_on_device=, _judge=) is "
                  "deprecated: pass options=ExecutionOptions(...) and reporter=...",
                  DeprecationWarning, stacklevel=3)
    judge = legacy.pop("_judge", None)
    return replace(options, **legacy), reporter if judge is None else judge


@runtime_checkable
class Trainer(Protocol):
    """What ``register_trainers`` registers.

    Attributes: ``name`` (unique, used in specs; letters, digits, ``_ - .``), ``tasks``
    (the tasks it handles: ``classification``, ``regression``) and ``description`` (one
    line for ``automl plugins list``).

    The promises, which :func:`automl.plugin.check_trainer` checks one by one:

    1. ``fit`` calls ``ctx.report`` once per epoch, epochs 1, 2, ... up to
       ``ctx.max_epochs``, each time with finite :func:`required_epoch_metrics`
       (``train_loss``, ``val_loss`` and ``val_accuracy`` or ``val_rmse``);
    2. it stops training when the answer says ``stop``;
    3. with ``ctx.restore_best`` it ends with the model of the last epoch answered
       ``improved``, and returns that model's metrics (:func:`required_final_metrics` at
       least, ``val_`` prefixed), saved at ``ctx.checkpoint_path``;
    4. ``evaluate`` reads that checkpoint back and scores a split as ``fit`` did, with
       metric names without a prefix (the engine adds ``test_``);
    5. with the same ``ctx.seed`` two fits report the same numbers (where the trainer
       can promise it; ``check_trainer(deterministic=False)`` otherwise);
    6. a trainer with a default search space (:class:`HasDefaultSpace`) returns a valid
       ``params:`` section from ``default_space(task)``, a configuration inside it from
       ``default_config(task)``, which trains as promise 1 says, and a positive ``cost``.
    """

    name: str
    tasks: tuple[Task, ...]
    description: str

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> Mapping[str, Any]:
        """Train one trial, keeping promises 1-3 above. Returns the final metrics of the
        kept model, plus ``n_params`` where it means something. Raise
        :class:`automl.errors.TrialFailed` (or any exception) to fail only this trial.
        """
        ...

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> Mapping[str, float]:
        """Score the model saved at ``checkpoint`` on ``split``; metric names without prefix."""
        ...


@runtime_checkable
class Predicts(Protocol):
    """What a trainer implements, beside :class:`Trainer`, for its models to be used after
    a search: model bundles, :func:`automl.load`, ``automl predict`` and ``automl export``.

    ``model_file`` (optional, default ``"model.pt"``) names the checkpoint's copy in a
    bundle. The checkpoint must be data only (torch weights loaded with
    ``weights_only=True``, NumPy arrays, skops with a list of trusted types; never a
    pickle): a bundle can come from anyone, and loading one must not run code.
    """

    def predict(self, params: dict[str, Any], checkpoint: Path, x: Any,
                info: DataInfo) -> Any:
        """Outputs of the model saved at ``checkpoint`` for features ``x`` (an array of
        ``(n, *info.input_shape)``, encoded as the training data was): class probabilities
        ``(n, info.n_outputs)`` for classification, predictions ``(n,)`` in the target's
        units for regression."""
        ...


@runtime_checkable
class ExportsOnnx(Protocol):
    """What a trainer implements, beside :class:`Trainer` and :class:`Predicts`, for its
    models to be exported as ONNX models (``automl export --format onnx``).

    The ONNX model has one input, ``x``: float32 features of shape
    ``(n, *info.input_shape)`` with a dynamic batch dimension, exactly the array
    :meth:`Predicts.predict` takes (encoded as the training data was; any scaling or
    imputation the trainer fitted is inside the graph). It has one output, equal to what
    :meth:`Predicts.predict` returns within float32 precision: ``probabilities``
    ``(n, info.n_outputs)`` for classification, ``predictions`` ``(n,)`` in the target's
    units for regression (the built-in trainers name their outputs so). A model the
    trainer cannot export raises :class:`automl.errors.UsageError` in one line that says
    why; a missing optional dependency too (``pip install automl[onnx]``).
    """

    def export_onnx(self, params: dict[str, Any], checkpoint: Path, info: DataInfo,
                    path: Path) -> None:
        """Write the model saved at ``checkpoint`` to ``path`` as an ONNX model."""
        ...


@runtime_checkable
class HasDefaultSpace(Protocol):
    """What a trainer implements, beside :class:`Trainer`, to be searched with no params
    of its own in the spec (``trainer: [mlp, random_forest, ...]`` with ``params:`` naming
    only some of them, or none).

    ``default_space(task)`` returns the params section for that trainer and task, in the
    spec's YAML form (``{"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "n_layers": {"type": "int", "low": 1, "high": 3}, ...}``: every form a ``params:``
    section takes, ``when`` and ``repeat`` included). ``default_config(task)`` is one
    configuration inside that space, cheap to train and good on most data (usually the
    library's own defaults); a search over several trainers tries each trainer's default
    configuration first, cheapest trainer first, before it samples. ``cost`` is the
    trainer's relative cost per trial at its default configuration, about 1 for a
    scikit-learn linear model on a small table; it orders those first trials.
    """

    cost: float

    def default_space(self, task: str) -> dict[str, Any]:
        """This trainer's search space for ``task`` (a spec's ``params:`` section)."""
        ...

    def default_config(self, task: str) -> dict[str, Any]:
        """One configuration of :meth:`default_space`, the first one to try."""
        ...
