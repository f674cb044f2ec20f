"""The engine's torch training loop, so that a model plugin only builds an ``nn.Module``.

``TorchTrainer(name, build_model)`` is a complete :class:`automl.plugin.trainer.Trainer`.

The loop, per trial:

- seeds Python, NumPy and torch from the trial's seed, so a trial on the CPU repeats
  exactly (on CUDA, up to the GPU's nondeterministic kernels); applies ``ctx.threads``;
- keeps the data as tensors on the device when it fits (shuffled index slicing, no
  DataLoader) and streams it through a DataLoader with workers and pinned memory when it
  does not (:mod:`automl.training.feeds`);
- on CUDA: bf16 autocast where the GPU supports it (``ctx.amp``), ``channels_last`` for
  models with 2-D convolutions, ``cudnn.benchmark``, TF32 matmuls;
- fused optimizer steps (Adam, AdamW, SGD; CPU and CUDA);
- ``torch.compile`` of the training step when ``ctx.compile`` (evaluation stays eager, so
  new evaluation shapes never trigger a recompilation);
- synchronises with the device once per epoch, to read that epoch's numbers, never per step;
- evaluates under ``torch.inference_mode()`` in eval mode;
- keeps the best epoch's weights (``restore_best``), saves them, scores the validation
  split with the task's metrics, and measures the inference latency.

Metrics reported each epoch: ``val_loss`` and ``train_loss`` (and ``val_accuracy`` /
``train_accuracy`` for classification, ``val_rmse`` / ``train_rmse`` for regression),
plus ``fit_loss``. **The training loss is measured the way the validation loss is**: in
eval mode (no dropout, batch-norm running statistics), with the epoch's final weights,
on a fixed random sample of ``train_eval_samples`` (256) training rows drawn once per
trial. So ``val_loss - train_loss`` is a real generalization gap, and the overfitting
rule (:mod:`automl.engine.stopping`) compares like with like. The running mean of the loss over
the epoch's steps, under dropout and with weights that changed during the epoch, is
reported as ``fit_loss``: it is what the optimizer saw, and it is biased upward as a
training loss (the gap it gives is often negative). The honest figure costs compute:
measured on the digits CNN of ``bench/loop_speed.py`` (1,078 training rows, one CPU
core), an eval pass over all training rows costs about 45 % of a training epoch, and one
over 256 rows 5-10 %, which the loop's fused optimizer wins back (automl's whole loop ran
at 0.97-1.02x the speed of a minimal hand-written loop that measures no training loss).
256 rows keep the sampling error of the training loss well under the ``max_gap`` values
in use (0.1-0.3); on larger data the cost falls in proportion.

Final metrics returned: ``val_*`` with the task's metrics (:mod:`automl.metrics`),
``n_params``, ``train_time_s`` and ``latency_ms`` (median wall time of one forward pass
on a batch of one, on the trial's device, eager mode, after warm-up).

Params the loop itself reads (the rest go to ``build_model`` untouched, and the loop's
own are passed too, so a model may use them): ``lr`` (1e-3), ``optimizer`` (adam, adamw,
sgd, rmsprop; adam), ``momentum`` (sgd/rmsprop; 0.9), ``weight_decay`` (0), ``batch_size``
(64).

Checkpoints are one dict, loadable with ``torch.load(path, weights_only=True)``:
``state_dict``, ``scaler`` (the standardization fitted on the training split),
``params``, ``input_shape``, ``n_outputs``, ``task``, ``trainer``, ``best_epoch``. A
study's best model is back in one line::

    model = automl.training.load_model("reports/digits-cnn/best/model.pt")
    logits = model(torch.from_numpy(x))  # raw inputs: the scaling is inside
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from automl.data import DataInfo, Split, Task, TrialData
from automl.errors import UsageError
from automl.plugin.trainer import TrialContext

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from automl.training.predictor import BuildModel

TRAIN_EVAL_SAMPLES = 256

# A default search space or configuration: one mapping for every task, or a function of
# the task that returns one (a space in the spec's YAML ``params:`` form).
PerTask: TypeAlias = Mapping[str, Any] | Callable[[Task], Mapping[str, Any]]


class PerTaskLookup:
    """``default_space(task)`` / ``default_config(task)`` of a trainer built with them.

    Returns a deep copy of the mapping (or of what the function returns for ``task``), so a
    caller that edits the result changes nothing for the next caller; a task the trainer
    does not handle is a :class:`automl.errors.UsageError`. An instance attribute rather
    than a method: :class:`automl.plugin.HasDefaultSpace` is a runtime-checkable protocol,
    which looks for the attribute, and a trainer built without a space must not have it.
    """

    def __init__(self, trainer: str, tasks: tuple[Task, ...], what: str,
                 source: PerTask) -> None:
        self.trainer = trainer
        self.tasks = tuple(tasks)
        self.what = what  # "default_space" or "default_config", for messages
        self.source = source

    def __call__(self, task: str) -> dict[str, Any]:
        if task not in self.tasks:
            raise UsageError(f"trainer {self.trainer!r} handles {', '.join(self.tasks)}, "
                             f"not {task}: it has no {self.what} for {task}")
        value = self.source(task) if callable(self.source) else self.source  # type: ignore[arg-type]
        if not isinstance(value, Mapping):
            raise UsageError(f"trainer {self.trainer!r}: {self.what}({task!r}) gave a "
                             f"{type(value).__name__}, not a mapping of param names")
        return copy.deepcopy(dict(value))

    def __repr__(self) -> str:
        return f"<{self.what} of trainer {self.trainer!r}>"


def default_space_attributes(trainer: str, tasks: tuple[Task, ...], space: PerTask | None,
                             config: PerTask | None, cost: float | None) -> dict[str, Any]:
    """The :class:`automl.plugin.HasDefaultSpace` attributes (``default_space``,
    ``default_config``, ``cost``) for a trainer built with ``space`` and ``config``; none
    without them. Raises ``TypeError`` when only one is given, ``ValueError`` for a cost
    that is not a positive number."""
    if space is None and config is None:
        if cost is not None:
            raise TypeError(f"trainer {trainer!r}: cost= means nothing without space= and "
                            f"config=")
        return {}
    if space is None or config is None:
        raise TypeError(f"trainer {trainer!r}: space= and config= go together (a default "
                        f"search space and one configuration inside it)")
    cost = 1.0 if cost is None else cost
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) \
            or not math.isfinite(cost) or cost <= 0:
        raise ValueError(f"trainer {trainer!r}: cost must be a positive number (relative "
                         f"cost per trial, about 1 for a linear model), got {cost!r}")
    return {"default_space": PerTaskLookup(trainer, tasks, "default_space", space),
            "default_config": PerTaskLookup(trainer, tasks, "default_config", config),
            "cost": float(cost)}


class TorchTrainer:
    """A :class:`automl.plugin.Trainer` that trains whatever ``build_model`` returns.

    Creating one imports no torch (the loop lives in :mod:`automl.training.loop`, imported
    by the first ``fit``), so a plugin that registers one loads fast where nothing trains.

    Args:
        name: the trainer's name in specs.
        build_model: ``(params, input_shape, n_outputs) -> nn.Module``; ``input_shape``
            excludes the batch dimension (``(1, 8, 8)`` for digits); the module returns
            logits of shape ``(batch, n_outputs)`` (``(batch, 1)`` for regression).
        tasks: the tasks the model handles.
        standardize: standardize features with the training split's mean and std (right
            for tabular data; images are left as they are by default).
        description: one line for ``automl plugins list``.
        train_eval_samples: training rows evaluated in eval mode each epoch for
            ``train_loss`` (see the module docstring); ``None``: all of them; ``0``: none
            (then no ``train_loss`` is reported, no gap is known and the overfitting rule
            cannot act).
        compile_options: keyword arguments for ``torch.compile`` when a trial compiles
            (``{"mode": "max-autotune"}``, say).
        space: the trainer's default search space, a spec's ``params:`` section in its
            YAML form (``{"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            ...}``), or a function of the task that returns one. With ``config`` it makes
            the trainer a :class:`automl.plugin.HasDefaultSpace`, searched where a spec
            lists it without params of its own.
        config: one configuration inside ``space`` (a mapping or a function of the task):
            cheap to train and good on most data, the first one a search tries.
        cost: the relative cost of a trial at ``config`` (1: a scikit-learn linear model on
            a small table; default 1). Without ``space`` and ``config`` the trainer has none
            of ``default_space``, ``default_config`` and ``cost``, and is no
            ``HasDefaultSpace``.
    """

    def __init__(self, name: str, build_model: BuildModel, *,
                 tasks: tuple[Task, ...] = ("classification", "regression"),
                 standardize: bool = False, description: str = "",
                 train_eval_samples: int | None = TRAIN_EVAL_SAMPLES,
                 compile_options: Mapping[str, Any] | None = None,
                 space: PerTask | None = None, config: PerTask | None = None,
                 cost: float | None = None) -> None:
        self.name = name
        self.build_model = build_model
        self.tasks = tasks
        self.standardize = standardize
        self.description = description or (build_model.__doc__ or "").strip().split("\n")[0]
        self.train_eval_samples = train_eval_samples
        self.compile_options = dict(compile_options or {})
        # Set only when given: isinstance(trainer, HasDefaultSpace) checks that they exist.
        self.__dict__.update(default_space_attributes(name, tasks, space, config, cost))

    def _build(self, params: dict[str, Any], info: DataInfo) -> nn.Module:
        from automl.training import loop

        return loop.build(self, params, info)

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        """Train with the engine's loop; see the module docstring for what it does."""
        from automl.training import loop

        return loop.fit(self, params, data, ctx)

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        """Rebuild the model from ``params``, load the checkpoint and score ``split`` (on the
        CPU, in batches, so a memory-mapped split is never loaded whole)."""
        from automl.training import loop

        return loop.evaluate(self, params, checkpoint, split, info)

    def predict(self, params: dict[str, Any], checkpoint: Path, x: Any,
                info: DataInfo) -> np.ndarray:
        """Class probabilities ``(n, n_outputs)``, or predictions ``(n,)`` in the target's
        units, of the model saved at ``checkpoint`` for features ``x``."""
        from automl.training import loop

        return loop.predict_outputs(self, params, checkpoint, x, info)

    def export_onnx(self, params: dict[str, Any], checkpoint: Path, info: DataInfo,
                    path: Path) -> None:
        """Write the model saved at ``checkpoint`` to ``path`` as an ONNX model: input ``x``,
        float32 ``(n, *info.input_shape)`` raw features (what :meth:`predict` takes; the
        scaling is inside); output ``probabilities`` ``(n, n_outputs)`` or ``predictions``
        ``(n,)`` in the target's units (what :meth:`predict` returns). See
        :mod:`automl.training.onnx_export`."""
        from automl.training import onnx_export

        onnx_export.export_onnx(self, params, checkpoint, info, path)
