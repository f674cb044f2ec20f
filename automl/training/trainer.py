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
rule (:mod:`automl.search.stopping`) compares like with like. The running mean of the loss over
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

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automl.data import DataInfo, Split, Task, TrialData
from automl.errors import TrialFailed
from automl.plugin.trainer import TrialContext
from automl.training.feeds import Feed, Scaler, make_feed
from automl.training.predictor import BuildModel
from automl.training.steps import (
    autocast_for,
    count_parameters,
    epoch_metrics,
    has_conv2d,
    loss_of,
    make_optimizer,
    measure_latency_ms,
    predict,
    score,
    setup_trial,
    split_metrics,
)

TRAIN_EVAL_SAMPLES = 256
CHECKPOINT_FORMAT = 2


def _plain(value: Any) -> Any:
    """``value`` as the plain Python types ``torch.load(weights_only=True)`` accepts
    (NumPy scalars become numbers, tuples lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _save(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # a reader never sees half a checkpoint


class TorchTrainer:
    """A :class:`automl.plugin.trainer.Trainer` that trains whatever ``build_model`` returns.

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
        model = self.build_model(params, info.input_shape, info.n_outputs)
        if not isinstance(model, nn.Module):
            raise TrialFailed(f"build_model of {self.name!r} returned {type(model).__name__}, "
                              "not a torch.nn.Module")
        return model

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        """Train with the engine's loop; see the module docstring for what it does."""
        device = torch.device(ctx.device)
        setup_trial(ctx, device)
        info = data.info
        batch_size = int(params.get("batch_size", 64))
        if batch_size < 1:
            raise TrialFailed(f"batch_size must be at least 1, not {batch_size}")
        model = self._build(params, info).to(device)
        channels_last = device.type == "cuda" and len(info.input_shape) == 3 and has_conv2d(model)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        scaler = Scaler.fit(data.train, info.task, self.standardize)
        feed = make_feed(data.train, data.val, scaler, device, batch_size, seed=ctx.seed,
                         train_eval_samples=self.train_eval_samples,
                         on_device=ctx.data_on_device, channels_last=channels_last)
        try:
            best_epoch, val_out, train_time = self._loop(model, params, feed, info, ctx,
                                                         device, scaler)
            final: dict[str, Any] = split_metrics(val_out.cpu().numpy(), data.val.y,
                                                   info.task, scaler, "val_")
            final["latency_ms"] = measure_latency_ms(model, feed.sample(),
                                                     autocast_for(device, ctx.amp))
        finally:
            feed.close()
        _save(ctx.checkpoint_path, {
            "format": CHECKPOINT_FORMAT,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in
                           model.state_dict().items()},
            "scaler": scaler.state(),
            "params": _plain(params),
            "input_shape": list(info.input_shape),
            "n_outputs": info.n_outputs,
            "task": info.task,
            "trainer": self.name,
            "best_epoch": best_epoch,
        })
        final["n_params"] = count_parameters(model)
        final["train_time_s"] = train_time
        return final

    def _loop(self, model: nn.Module, params: dict[str, Any], feed: Feed, info: DataInfo,
              ctx: TrialContext, device: torch.device, scaler: Scaler
              ) -> tuple[int | None, torch.Tensor, float]:
        """The epochs. Returns the best epoch (as the engine judged it), the validation
        outputs of the model kept (no second pass over the validation split needed for
        the final metrics) and the time taken. ``model`` ends with the kept weights."""
        classification = info.task == "classification"
        optimizer = make_optimizer(model, params)
        step_model = torch.compile(model, **self.compile_options) if ctx.compile else model
        autocast = autocast_for(device, ctx.amp)
        best_state: dict[str, torch.Tensor] | None = None
        best_epoch: int | None = None
        best_out = val_out = torch.empty(0)
        start = time.perf_counter()
        for epoch in range(1, ctx.max_epochs + 1):
            model.train()
            fit_sum = torch.zeros((), device=device)
            seen = 0
            for xb, yb in feed.train_batches():
                optimizer.zero_grad(set_to_none=True)
                with autocast():
                    out = step_model(xb)
                loss = loss_of(out, yb, classification)
                loss.backward()
                optimizer.step()
                fit_sum += loss.detach() * yb.shape[0]
                seen += yb.shape[0]
            names, values = ["fit_loss"], [fit_sum / max(seen, 1)]
            for prefix, batches in (("train_", feed.train_eval_batches()),
                                    ("val_", feed.val_batches())):
                scored = score(model, batches, classification, autocast)
                if scored is not None:
                    names += [prefix + "loss", prefix + "accuracy"]
                    values += scored[:2]
                    if prefix == "val_":
                        val_out = scored[2]
            # The epoch's one synchronisation: every number at once.
            numbers = dict(zip(names, torch.stack(values).tolist(), strict=True))
            decision = ctx.report(epoch, epoch_metrics(numbers, classification, scaler))
            if decision.improved:
                best_epoch, best_out = epoch, val_out
                if ctx.restore_best:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if decision.stop:
                break
        train_time = time.perf_counter() - start
        if best_state is not None:
            model.load_state_dict(best_state)
            return best_epoch, best_out, train_time
        return best_epoch, val_out, train_time

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        """Rebuild the model from ``params``, load the checkpoint and score ``split`` (on the
        CPU, in batches, so a memory-mapped split is never loaded whole)."""
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model = self._build(params, info)
        model.load_state_dict(state["state_dict"])
        scaler = Scaler.from_state(state["scaler"])
        x, y = split.x, split.y  # one read each: the test split counts them

        def inputs() -> Iterator[torch.Tensor]:
            for i in range(0, len(y), 4096):
                yield torch.from_numpy(scaler.x(x[i:i + 4096]))

        pred = predict(model, inputs(), contextlib.nullcontext)
        return split_metrics(pred, np.asarray(y), info.task, scaler, "")
