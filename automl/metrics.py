"""Metrics chosen by task, computed with scikit-learn on a model's predictions."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

CLASSIFICATION = ("accuracy", "balanced_accuracy", "f1_macro", "log_loss")
REGRESSION = ("rmse", "mae", "r2")


def classification_metrics(y_true: np.ndarray, proba: np.ndarray,
                           prefix: str = "") -> dict[str, float]:
    """Accuracy, balanced accuracy, macro F1 and log loss from class probabilities."""
    pred = proba.argmax(axis=1)
    labels = np.arange(proba.shape[1])
    out = {
        "accuracy": skm.accuracy_score(y_true, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, pred),
        "f1_macro": skm.f1_score(y_true, pred, average="macro", labels=labels, zero_division=0),
        "log_loss": skm.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=labels),
    }
    return {prefix + k: float(v) for k, v in out.items()}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                       prefix: str = "") -> dict[str, float]:
    """RMSE, MAE and R² in the target's own units."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    out = {
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan"),
    }
    return {prefix + k: float(v) for k, v in out.items()}
