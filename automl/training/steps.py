"""The pieces of the engine's torch loop: seeding, optimizers, autocast, losses, scoring,
prediction and latency. :class:`automl.training.TorchTrainer` puts them together."""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from automl.data import Task
from automl.errors import TrialFailed
from automl.metrics import classification_metrics, regression_metrics
from automl.plugin.trainer import TrialContext
from automl.training.feeds import Batch, Scaler

Autocast = Callable[[], contextlib.AbstractContextManager[Any]]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device) for one trial."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model: nn.Module, params: Mapping[str, Any], *,
                   fused: bool = True) -> torch.optim.Optimizer:
    """Build the optimizer named by ``params['optimizer']``.

    ``fused``: Adam, AdamW and SGD update every parameter in one kernel (CPU and CUDA;
    measured 3.4x faster than the default per-tensor loop for the digits CNN's Adam on
    one CPU core, about 6 % of its epoch). Where torch cannot fuse (an older torch, an
    unsupported device or dtype) the default implementation is used.
    """
    name = str(params.get("optimizer", "adam")).lower()
    lr = float(params.get("lr", 1e-3))
    wd = float(params.get("weight_decay", 0.0))
    momentum = float(params.get("momentum", 0.9))
    if name not in OPTIMIZERS:
        raise TrialFailed(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    if name == "rmsprop":  # torch has no fused RMSprop
        return torch.optim.RMSprop(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": wd}
    if name == "sgd":
        kwargs["momentum"] = momentum
    if fused:
        try:
            return cls(model.parameters(), fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass
    return cls(model.parameters(), **kwargs)


def autocast_for(device: torch.device, amp: bool) -> Autocast:
    """bf16 autocast on a CUDA device that supports it when ``amp``; else a no-op."""
    if amp and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def has_conv2d(model: nn.Module) -> bool:
    """Whether ``channels_last`` can help this model (it has 2-D convolutions)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def setup_trial(ctx: TrialContext, device: torch.device) -> None:
    seed_everything(ctx.seed)
    if ctx.threads is not None:
        torch.set_num_threads(ctx.threads)
    if device.type == "cuda":
        if device.index is not None:  # kernels that use "the current device" agree
            torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # shapes repeat every epoch: tune once
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 path (amp off) on tensor cores
        torch.backends.cudnn.allow_tf32 = True


def loss_of(out: torch.Tensor, y: torch.Tensor, classification: bool,
          reduction: str = "mean") -> torch.Tensor:
    if classification:
        return F.cross_entropy(out.float(), y, reduction=reduction)
    return F.mse_loss(out.float().reshape(-1), y, reduction=reduction)


@torch.inference_mode()
def score(model: nn.Module, batches: Iterable[Batch], classification: bool,
           autocast: Autocast) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Mean loss, accuracy and the outputs over ``batches``, as device tensors (no
    synchronisation). ``None`` when there are no batches."""
    model.eval()
    loss_sum: torch.Tensor | None = None
    hits: torch.Tensor | None = None
    outs: list[torch.Tensor] = []
    n = 0
    for xb, yb in batches:
        with autocast():
            out = model(xb).float()
        outs.append(out)
        batch_loss = loss_of(out, yb, classification, reduction="sum")
        loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        if classification:
            batch_hits = (out.argmax(1) == yb).sum()
            hits = batch_hits if hits is None else hits + batch_hits
        n += yb.shape[0]
    if loss_sum is None:
        return None
    accuracy = hits.float() / n if hits is not None else torch.zeros_like(loss_sum)
    return loss_sum / n, accuracy, torch.cat(outs) if len(outs) > 1 else outs[0]


@torch.inference_mode()
def predict(model: nn.Module, inputs: Iterable[torch.Tensor], autocast: Autocast
             ) -> np.ndarray:
    model.eval()
    outs = []
    for xb in inputs:
        with autocast():
            outs.append(model(xb).float())
    return torch.cat(outs).cpu().numpy()


def split_metrics(out: np.ndarray, y: np.ndarray, task: Task, scaler: Scaler,
                   prefix: str) -> dict[str, float]:
    """The task's metrics from a model's raw outputs (logits, or standardized targets)."""
    if task == "classification":
        log_proba = torch.log_softmax(torch.from_numpy(out).double(), dim=1).numpy()
        return classification_metrics(y, np.exp(log_proba), prefix, log_proba=log_proba)
    return regression_metrics(y, scaler.unscale_y(out.reshape(-1)), prefix)


@torch.inference_mode()
def measure_latency_ms(model: nn.Module, sample: torch.Tensor, autocast: Autocast = contextlib
                       .nullcontext, *, repeats: int = 10, warmup: int = 2,
                       budget_s: float = 0.5) -> float:
    """Median milliseconds of one forward pass on ``sample`` (a batch of one), eval mode.

    Synchronises around each pass on CUDA so the figure is the kernel time too, not the
    launch. Stops early once ``budget_s`` is spent (big models), after 3 timed passes.
    """
    model.eval()
    cuda = sample.device.type == "cuda"
    times: list[float] = []
    for i in range(warmup + repeats):
        if cuda:
            torch.cuda.synchronize(sample.device)
        start = time.perf_counter()
        with autocast():
            model(sample)
        if cuda:
            torch.cuda.synchronize(sample.device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if len(times) >= 3 and sum(times) > budget_s:
                break
    return statistics.median(times) * 1000.0


def epoch_metrics(numbers: Mapping[str, float], classification: bool,
                   scaler: Scaler) -> dict[str, float]:
    out = {"fit_loss": numbers["fit_loss"]}
    for prefix in ("train_", "val_"):
        if prefix + "loss" not in numbers:
            continue
        out[prefix + "loss"] = numbers[prefix + "loss"]
        if classification:
            out[prefix + "accuracy"] = numbers[prefix + "accuracy"]
        else:
            # The loss is the MSE of standardized targets: back to the target's units.
            mse = max(numbers[prefix + "loss"], 0.0)
            out[prefix + "rmse"] = float(np.sqrt(mse)) * (scaler.y_std or 1.0)
    return out
