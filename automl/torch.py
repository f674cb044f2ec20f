"""The engine's torch training loop, so that a model plugin only builds an ``nn.Module``.

``TorchTrainer(name, build_model)`` is a complete :class:`automl.trainer.Trainer`.

The loop, per trial:

- seeds Python, NumPy and torch from the trial's seed, so a trial on the CPU repeats
  exactly (on CUDA, up to the GPU's nondeterministic kernels); applies ``ctx.threads``;
- keeps the data as tensors on the device when it fits (shuffled index slicing, no
  DataLoader) and streams it through a DataLoader with workers and pinned memory when it
  does not (:mod:`automl.batches`);
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
rule (:mod:`automl.stopping`) compares like with like. The running mean of the loss over
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

    model = automl.torch.load_model("reports/digits-cnn/best/model.pt")
    logits = model(torch.from_numpy(x))  # raw inputs: the scaling is inside
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from automl.batches import Batch, Feed, Scaler, make_feed
from automl.data import DataInfo, Split, Task, TrialData
from automl.errors import TrialFailed
from automl.metrics import classification_metrics, regression_metrics
from automl.trainer import TrialContext

BuildModel = Callable[[dict[str, Any], tuple[int, ...], int], nn.Module]
Autocast = Callable[[], contextlib.AbstractContextManager[Any]]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
TRAIN_EVAL_SAMPLES = 256
CHECKPOINT_FORMAT = 2


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


def _setup(ctx: TrialContext, device: torch.device) -> None:
    seed_everything(ctx.seed)
    if ctx.threads is not None:
        torch.set_num_threads(ctx.threads)
    if device.type == "cuda":
        if device.index is not None:  # kernels that use "the current device" agree
            torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # shapes repeat every epoch: tune once
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 path (amp off) on tensor cores
        torch.backends.cudnn.allow_tf32 = True


def _loss(out: torch.Tensor, y: torch.Tensor, classification: bool,
          reduction: str = "mean") -> torch.Tensor:
    if classification:
        return F.cross_entropy(out.float(), y, reduction=reduction)
    return F.mse_loss(out.float().reshape(-1), y, reduction=reduction)


@torch.inference_mode()
def _score(model: nn.Module, batches: Iterable[Batch], classification: bool,
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
        batch_loss = _loss(out, yb, classification, reduction="sum")
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
def _predict(model: nn.Module, inputs: Iterable[torch.Tensor], autocast: Autocast
             ) -> np.ndarray:
    model.eval()
    outs = []
    for xb in inputs:
        with autocast():
            outs.append(model(xb).float())
    return torch.cat(outs).cpu().numpy()


def _split_metrics(out: np.ndarray, y: np.ndarray, task: Task, scaler: Scaler,
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


class Predictor(nn.Module):
    """A trained model that takes raw inputs, as the dataset gives them.

    The standardization fitted on the training split is applied inside; regression outputs
    come back in the target's units; classification outputs are logits.
    """

    def __init__(self, model: nn.Module, scaler: Scaler, task: Task) -> None:
        super().__init__()
        self.model, self.task = model, task
        mean = None if scaler.x_mean is None else torch.from_numpy(scaler.x_mean)
        std = None if scaler.x_std is None else torch.from_numpy(scaler.x_std)
        self.register_buffer("x_mean", mean)
        self.register_buffer("x_std", std)
        self.y_mean, self.y_std = scaler.y_mean or 0.0, scaler.y_std or 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.x_mean is not None:
            x = (x - self.x_mean) / self.x_std
        out = self.model(x)
        if self.task == "regression":
            out = out * self.y_std + self.y_mean
        return out


def load_model(path: str | Path, build_model: BuildModel | None = None,
               device: str = "cpu") -> Predictor:
    """Load a checkpoint written by :class:`TorchTrainer` as a :class:`Predictor` in eval mode.

    ``build_model`` defaults to the one of the installed trainer plugin that wrote the
    checkpoint (its name is stored in it). Loads with ``weights_only=True``.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "params" not in state:
        raise ValueError(f"{path} has no params: it was written by an older automl; "
                         "rebuild the model yourself and load state['state_dict']")
    if build_model is None:
        from automl.plugins import get_plugin_host

        trainer = get_plugin_host().collect().trainers.get(state["trainer"])
        build_model = trainer.build_model  # type: ignore[attr-defined]
    model = build_model(dict(state["params"]), tuple(state["input_shape"]), state["n_outputs"])
    model.load_state_dict(state["state_dict"])
    return Predictor(model, Scaler.from_state(state["scaler"]), state["task"]).to(device).eval()


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
    """A :class:`automl.trainer.Trainer` that trains whatever ``build_model`` returns.

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
        _setup(ctx, device)
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
            final: dict[str, Any] = _split_metrics(val_out.cpu().numpy(), data.val.y,
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
                loss = _loss(out, yb, classification)
                loss.backward()
                optimizer.step()
                fit_sum += loss.detach() * yb.shape[0]
                seen += yb.shape[0]
            names, values = ["fit_loss"], [fit_sum / max(seen, 1)]
            for prefix, batches in (("train_", feed.train_eval_batches()),
                                    ("val_", feed.val_batches())):
                scored = _score(model, batches, classification, autocast)
                if scored is not None:
                    names += [prefix + "loss", prefix + "accuracy"]
                    values += scored[:2]
                    if prefix == "val_":
                        val_out = scored[2]
            # The epoch's one synchronisation: every number at once.
            numbers = dict(zip(names, torch.stack(values).tolist(), strict=True))
            decision = ctx.report(epoch, _epoch_metrics(numbers, classification, scaler))
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

        pred = _predict(model, inputs(), contextlib.nullcontext)
        return _split_metrics(pred, np.asarray(y), info.task, scaler, "")


def _epoch_metrics(numbers: Mapping[str, float], classification: bool,
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
