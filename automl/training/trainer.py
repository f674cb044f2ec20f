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

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.data import DataInfo, Split, Task, TrialData
from automl.plugin.trainer import TrialContext

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from automl.training.predictor import BuildModel

TRAIN_EVAL_SAMPLES = 256


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
    """

    def __init__(self, name: str, build_model: BuildModel, *,
                 tasks: tuple[Task, ...] = ("classification", "regression"),
                 standardize: bool = False, description: str = "",
                 train_eval_samples: int | None = TRAIN_EVAL_SAMPLES,
                 compile_options: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.build_model = build_model
        self.tasks = tasks
        self.standardize = standardize
        self.description = description or (build_model.__doc__ or "").strip().split("\n")[0]
        self.train_eval_samples = train_eval_samples
        self.compile_options = dict(compile_options or {})

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
