"""The task metrics agree with scikit-learn's definitions, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax
from sklearn import metrics as skm

from automl.metrics import classification_metrics, confusion, regression_metrics


def sklearn_classification(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    pred = proba.argmax(axis=1)
    labels = np.arange(proba.shape[1])
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0),
        "log_loss": skm.log_loss(y, proba, labels=labels),
    }


def random_case(seed: int, n: int, k: int, missing: int | None = None,
                skill: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    if missing is not None:
        y[y == missing] = (missing + 1) % k  # a class no sample has
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += skill  # better than chance, not perfect
    log_proba = log_softmax(logits, axis=1)
    return y, np.exp(log_proba), log_proba


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # the reference's
@pytest.mark.parametrize(("seed", "n", "k", "missing"), [
    (0, 200, 10, None),   # digits-like
    (1, 50, 3, None),     # iris-like
    (2, 100, 2, None),    # binary
    (3, 60, 5, 2),        # class 2 never occurs in y_true (balanced accuracy skips it)
    (4, 7, 4, None),      # a handful of rows: some classes never predicted (F1 0 there)
])
def test_classification_matches_scikit_learn(seed: int, n: int, k: int,
                                             missing: int | None) -> None:
    y, proba, log_proba = random_case(seed, n, k, missing)
    expected = sklearn_classification(y, proba)
    assert classification_metrics(y, proba) == pytest.approx(expected, rel=1e-9)
    exact = classification_metrics(y, proba, "val_", log_proba=log_proba)
    assert exact == pytest.approx({"val_" + k: v for k, v in expected.items()}, rel=1e-9)


def test_log_loss_of_a_certain_mistake_is_clipped_not_infinite() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    out = classification_metrics(np.array([1, 1]), proba)
    assert out["log_loss"] == pytest.approx(-np.log(1e-15) / 2)
    assert out["accuracy"] == 0.5 and out["balanced_accuracy"] == 0.5


def test_a_class_index_beyond_the_probabilities_is_an_error() -> None:
    with pytest.raises(ValueError, match="class indices must be in 0..1"):
        classification_metrics(np.array([0, 2]), np.full((2, 2), 0.5))


def test_confusion_counts() -> None:
    assert confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3).tolist() == \
        [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


@pytest.mark.parametrize(("y", "pred"), [
    (np.array([3.0, -0.5, 2.0, 7.0]), np.array([2.5, 0.0, 2.0, 8.0])),
    (np.random.default_rng(0).normal(50, 10, 300), np.random.default_rng(1).normal(50, 5, 300)),
    (np.array([2.0, 2.0, 2.0]), np.array([2.0, 2.0, 2.0])),  # constant and exact: R² 1
    (np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0])),  # constant, missed: R² 0
])
def test_regression_matches_scikit_learn(y: np.ndarray, pred: np.ndarray) -> None:
    expected = {"rmse": np.sqrt(skm.mean_squared_error(y, pred)),
                "mae": skm.mean_absolute_error(y, pred), "r2": skm.r2_score(y, pred)}
    assert regression_metrics(y, pred, "test_") == \
        pytest.approx({"test_" + k: v for k, v in expected.items()}, rel=1e-9)


def test_r2_of_one_sample_is_nan() -> None:
    assert np.isnan(regression_metrics(np.array([1.0]), np.array([2.0]))["r2"])
