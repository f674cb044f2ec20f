"""The body of :class:`automl.training.TorchTrainer`: building the model, the epochs,
saving and scoring. Kept apart so that the class (and a plugin that registers one) can be
imported without importing torch: the controller never trains, and saves 1.7 s at start.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from automl.data import DataInfo, Split, TrialData
from automl.errors import TrialFailed
from automl.plugin.trainer import TrialContext
from automl.training.feeds import Feed, Scaler, make_feed
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

if TYPE_CHECKING:
    from automl.training.trainer import TorchTrainer

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


def build(trainer: TorchTrainer, params: dict[str, Any], info: DataInfo) -> nn.Module:
    model = trainer.build_model(params, info.input_shape, info.n_outputs)
    if not isinstance(model, nn.Module):
        raise TrialFailed(f"build_model of {trainer.name!r} returned {type(model).__name__}, "
                          "not a torch.nn.Module")
    return model

def fit(trainer: TorchTrainer, params: dict[str, Any], data: TrialData,
    ctx: TrialContext) -> dict[str, Any]:
    """Train with the engine's loop; see the module docstring for what it does."""
    device = torch.device(ctx.device)
    setup_trial(ctx, device)
    info = data.info
    batch_size = int(params.get("batch_size", 64))
    if batch_size < 1:
        raise TrialFailed(f"batch_size must be at least 1, not {batch_size}")
    model = build(trainer, params, info).to(device)
    channels_last = device.type == "cuda" and len(info.input_shape) == 3 and has_conv2d(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    scaler = Scaler.fit(data.train, info.task, trainer.standardize)
    feed = make_feed(data.train, data.val, scaler, device, batch_size, seed=ctx.seed,
                     train_eval_samples=trainer.train_eval_samples,
                     on_device=ctx.data_on_device, channels_last=channels_last)
    try:
        best_epoch, val_out, train_time = run_epochs(trainer, model, params, feed, info, ctx,
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
        "trainer": trainer.name,
        "best_epoch": best_epoch,
    })
    final["n_params"] = count_parameters(model)
    final["train_time_s"] = train_time
    return final

def run_epochs(trainer: TorchTrainer, model: nn.Module, params: dict[str, Any], feed: Feed,
           info: DataInfo,
          ctx: TrialContext, device: torch.device, scaler: Scaler
          ) -> tuple[int | None, torch.Tensor, float]:
    """The epochs. Returns the best epoch (as the engine judged it), the validation
    outputs of the model kept (no second pass over the validation split needed for
    the final metrics) and the time taken. ``model`` ends with the kept weights."""
    classification = info.task == "classification"
    optimizer = make_optimizer(model, params)
    step_model = torch.compile(model, **trainer.compile_options) if ctx.compile else model
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

def _raw_outputs(trainer: TorchTrainer, params: dict[str, Any], checkpoint: Path,
                 x: Any, info: DataInfo) -> tuple[np.ndarray, Scaler]:
    """The saved model's raw outputs (logits, or standardized targets) for ``x``: on the
    CPU, in batches, so a memory-mapped split is never loaded whole."""
    from automl.training.predictor import load_weights

    try:
        state = load_weights(checkpoint)
    except ValueError as exc:  # a damaged or foreign file: the file's fault, said as such
        raise TrialFailed(str(exc)) from None
    model = build(trainer, params, info)
    model.load_state_dict(state["state_dict"])
    scaler = Scaler.from_state(state["scaler"])

    def inputs() -> Iterator[torch.Tensor]:
        for i in range(0, len(x), 4096):
            yield torch.from_numpy(scaler.x(np.asarray(x[i:i + 4096], dtype=np.float32)))

    return predict(model, inputs(), contextlib.nullcontext), scaler


def evaluate(trainer: TorchTrainer, params: dict[str, Any], checkpoint: Path, split: Split,
             info: DataInfo) -> dict[str, float]:
    """Rebuild the model from ``params``, load the checkpoint and score ``split``."""
    x, y = split.x, split.y  # one read each: the test split counts them
    out, scaler = _raw_outputs(trainer, params, checkpoint, x, info)
    return split_metrics(out, np.asarray(y), info.task, scaler, "")


def predict_outputs(trainer: TorchTrainer, params: dict[str, Any], checkpoint: Path,
                    x: Any, info: DataInfo) -> np.ndarray:
    """Class probabilities ``(n, n_outputs)``, or predictions in the target's units ``(n,)``."""
    out, scaler = _raw_outputs(trainer, params, checkpoint, x, info)
    if info.task == "classification":
        return torch.softmax(torch.from_numpy(out).double(), dim=1).numpy()
    return np.asarray(scaler.unscale_y(out.reshape(-1)), dtype=np.float64)
