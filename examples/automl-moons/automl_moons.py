"""An example automl plugin: a dataset loader and a trainer written without torch.

The trainer is softmax regression on the inputs and their powers (``degree``), trained by
full-batch gradient descent in NumPy. Everything the engine expects of a trainer is here:
one ``ctx.report`` per epoch, stop when the answer says so, keep the best epoch's weights,
and a checkpoint that ``evaluate`` reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import make_moons

from automl.plugin import (
    DataError,
    DataInfo,
    Dataset,
    DatasetLoader,
    RegisterDataset,
    RegisterTrainer,
    Split,
    TrialContext,
    TrialData,
    classification_metrics,
    hookimpl,
)

STEPS_PER_EPOCH = 20


def load_moons(n: int = 400, noise: float = 0.25, seed: int = 0) -> Dataset:
    """Two interleaving half circles (2 features, 2 classes)."""
    if n < 20:
        raise DataError(f"moons: n must be at least 20, got {n}")
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return Dataset(name="moons", x=x.astype(np.float32), y=y.astype(np.int64),
                   task="classification", feature_names=("x1", "x2"),
                   class_names=("upper", "lower"))


def _features(x: np.ndarray, mean: np.ndarray, std: np.ndarray, degree: int) -> np.ndarray:
    z = (x.reshape(len(x), -1) - mean) / std
    return np.concatenate([z**d for d in range(1, degree + 1)], axis=1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class NumpyLogReg:
    """Softmax regression; params: ``lr`` (0.1), ``l2`` (1e-4), ``degree`` (1)."""

    name = "numpy_logreg"
    tasks = ("classification",)
    description = "softmax regression in NumPy (example plugin)"

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        lr, l2 = float(params.get("lr", 0.1)), float(params.get("l2", 1e-4))
        degree = int(params.get("degree", 1))
        train = data.train.x.reshape(len(data.train.x), -1)
        mean, std = train.mean(axis=0), train.std(axis=0) + 1e-8  # training split only
        xtr = _features(data.train.x, mean, std, degree)
        xva = _features(data.val.x, mean, std, degree)
        k = data.info.n_outputs
        onehot = np.eye(k)[data.train.y]
        rng = np.random.default_rng(ctx.seed)
        w, b = rng.normal(0.0, 0.01, size=(xtr.shape[1], k)), np.zeros(k)
        best = (w.copy(), b.copy())
        for epoch in range(1, ctx.max_epochs + 1):
            for _ in range(STEPS_PER_EPOCH):
                grad = (_softmax(xtr @ w + b) - onehot) / len(xtr)
                w -= lr * (xtr.T @ grad + l2 * w)
                b -= lr * grad.sum(axis=0)
            train_m = classification_metrics(data.train.y, _softmax(xtr @ w + b), "train_")
            val_m = classification_metrics(data.val.y, _softmax(xva @ w + b), "val_")
            decision = ctx.report(epoch, {"train_loss": train_m["train_log_loss"],
                                          "val_loss": val_m["val_log_loss"], **val_m})
            if decision.improved:
                best = (w.copy(), b.copy())
            if decision.stop:
                break
        w, b = best if ctx.restore_best else (w, b)
        ctx.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        with open(ctx.checkpoint_path, "wb") as f:  # np.savez would add .npz to the name
            np.savez(f, w=w, b=b, mean=mean, std=std, degree=degree)
        proba = _softmax(xva @ w + b)
        return {**classification_metrics(data.val.y, proba, "val_"), "n_params": w.size + k}

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        with np.load(checkpoint) as saved:
            x = _features(split.x, saved["mean"], saved["std"], int(saved["degree"]))
            return classification_metrics(split.y, _softmax(x @ saved["w"] + saved["b"]))


@hookimpl
def register_datasets(register: RegisterDataset) -> None:
    register(DatasetLoader("moons", load_moons, "two interleaving half circles (example)"))


@hookimpl
def register_trainers(register: RegisterTrainer) -> None:
    register(NumpyLogReg())
