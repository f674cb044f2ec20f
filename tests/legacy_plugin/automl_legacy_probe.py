"""A third-party plugin as it was written against automl 0.1, before `automl.plugin`.

It imports from the modules of that release (automl.torch, automl.trainer, automl.data,
automl.errors, automl.metrics, automl.stopping, automl.algorithms, automl.testing) and
builds a TrialContext the old way. Do not modernise it: the tests keep it running
unchanged, which is the promise made to plugin authors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from torch import nn

import automl
from automl.algorithms import SamplerPlugin
from automl.data import DataInfo, Dataset, DatasetLoader, Split, TrialData
from automl.errors import DataError, TrialFailed
from automl.metrics import classification_metrics
from automl.stopping import Decision, StopReason
from automl.torch import TorchTrainer
from automl.trainer import TrialContext


def build_legacy_mlp(params: dict[str, Any], input_shape: tuple[int, ...],
                     n_outputs: int) -> nn.Module:
    """A one-layer torch network (built through automl.torch.TorchTrainer)."""
    width = int(params.get("width", 16))
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
                         nn.Linear(width, n_outputs))


def load_blobs(n: int = 150, seed: int = 0) -> Dataset:
    """Three Gaussian blobs in 4 features."""
    if n < 30:
        raise DataError(f"legacy_blobs: n must be at least 30, got {n}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 4)) + 2.5 * np.eye(3, 4)[y]
    return Dataset(name="legacy_blobs", x=x.astype(np.float32), y=y.astype(np.int64),
                   task="classification", class_names=("a", "b", "c"))


class NearestCentroid:
    """A hand-written trainer on the 0.1 protocol: one 'epoch' per shrinkage step."""

    name = "legacy_centroid"
    tasks = ("classification",)
    description = "nearest centroid with shrinkage (automl 0.1 API)"

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        if not isinstance(ctx.compile, bool) or not isinstance(ctx.amp, bool):
            raise TrialFailed("the context lost its execution options")
        k = data.info.n_outputs
        centroids = np.stack([data.train.x[data.train.y == c].mean(axis=0) for c in range(k)])
        best: np.ndarray = centroids
        for epoch in range(1, ctx.max_epochs + 1):
            shrunk = centroids * (1.0 - float(params.get("shrink", 0.1)) * (epoch - 1) / 10)
            train_m = classification_metrics(data.train.y, _proba(shrunk, data.train.x), "train_")
            val_m = classification_metrics(data.val.y, _proba(shrunk, data.val.x), "val_")
            decision: Decision = ctx.report(epoch, {"train_loss": train_m["train_log_loss"],
                                                    "val_loss": val_m["val_log_loss"], **val_m})
            if decision.improved:
                best = shrunk
            if decision.stop:
                assert decision.reason in tuple(StopReason)
                break
        ctx.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        with open(ctx.checkpoint_path, "wb") as f:
            np.save(f, best)
        return classification_metrics(data.val.y, _proba(best, data.val.x), "val_")

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        with open(checkpoint, "rb") as f:
            centroids = np.load(f)
        return classification_metrics(split.y, _proba(centroids, split.x))


def _proba(centroids: np.ndarray, x: np.ndarray) -> np.ndarray:
    d = -((x[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    e = np.exp(d - d.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sobol(seed: int | None, options: dict[str, Any], ctx: Any) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(seed=seed, **options)


@automl.hookimpl
def register_trainers(register: Callable[[Any], None]) -> None:
    register(TorchTrainer("legacy_mlp", build_legacy_mlp, standardize=True))
    register(NearestCentroid())


@automl.hookimpl
def register_datasets(register: Callable[[DatasetLoader], None]) -> None:
    register(DatasetLoader("legacy_blobs", load_blobs, "three blobs (automl 0.1 API)"))


@automl.hookimpl
def register_samplers(register: Callable[[SamplerPlugin], None]) -> None:
    register(SamplerPlugin("legacy_sobol", _sobol, "QMC sampling (automl 0.1 API)"))
