"""What a scikit-learn trial fits and keeps: the preprocessing fitted on its training split
and the model a checkpoint holds (:mod:`automl_plugins.sklearn_models` trains them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from automl.plugin import Split, Task, classification_metrics, regression_metrics

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.compose import ColumnTransformer

__all__ = ["FittedModel", "flatten_rows", "tabular_preprocessor"]


def tabular_preprocessor(x_train: np.ndarray, *, impute: bool, scale: bool
                         ) -> ColumnTransformer | None:
    """A ColumnTransformer fitted on ``x_train`` (2-D), or ``None`` when nothing is to do.

    Binary columns (all training values 0 or 1, none missing; one-hot codes) get the most
    frequent value for a missing one and no scaling; the other columns get the median and
    a missing-value indicator (``impute``) and standardization (``scale``).
    """
    if not impute and not scale:
        return None
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    present = ~np.isnan(x_train)
    binary = (((x_train == 0) | (x_train == 1)) & present).all(axis=0)
    numeric_steps: list[tuple[str, Any]] = []
    if impute:
        numeric_steps.append(("impute", SimpleImputer(strategy="median", add_indicator=True,
                                                      keep_empty_features=True)))
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[int]]] = []
    numeric = [int(i) for i in np.flatnonzero(~binary)]
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    binary_cols = [int(i) for i in np.flatnonzero(binary)]
    if binary_cols:
        transformers.append(("binary", SimpleImputer(strategy="most_frequent",
                                                     keep_empty_features=True), binary_cols))
    pre = ColumnTransformer(transformers, sparse_threshold=0.0)
    return pre.fit(x_train)


def flatten_rows(x: np.ndarray) -> np.ndarray:
    """Samples of any shape as 2-D float64 rows (what estimators take)."""
    return x.reshape(len(x), -1).astype(np.float64, copy=False)


class FittedModel:
    """A trial's model: the train-fitted preprocessing, the estimator and the target scaling."""

    def __init__(self, preprocessor: ColumnTransformer | None, estimator: BaseEstimator,
                 task: Task, n_outputs: int, y_mean: float = 0.0, y_std: float = 1.0) -> None:
        self.preprocessor = preprocessor
        self.estimator = estimator
        self.task = task
        self.n_outputs = n_outputs
        self.y_mean = y_mean
        self.y_std = y_std

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw features (any shape) to the estimator's input."""
        flat = flatten_rows(x)
        return flat if self.preprocessor is None else self.preprocessor.transform(flat)

    def outputs(self, xt: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_outputs)``, or standardized regression predictions."""
        if self.task == "regression":
            return np.asarray(self.estimator.predict(xt), dtype=np.float64).ravel()
        proba = np.asarray(self.estimator.predict_proba(xt), dtype=np.float64)
        if proba.shape[1] == self.n_outputs:
            return proba
        # A class absent from the training split: give it probability 0, keep the columns.
        full = np.zeros((len(xt), self.n_outputs))
        full[:, np.asarray(self.estimator.classes_, dtype=int)] = proba
        return full

    def scores(self, xt: np.ndarray, y: np.ndarray, prefix: str = "",
               full: bool = True) -> dict[str, float]:
        """``loss`` plus the task's metrics (or only loss and accuracy/rmse: ``full=False``)."""
        out = self.outputs(xt)
        if self.task == "classification":
            metrics = classification_metrics(y, out)
            metrics["loss"] = metrics["log_loss"]
            keep = None if full else ("loss", "accuracy")
        else:
            target = (np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_std
            metrics = regression_metrics(y, out * self.y_std + self.y_mean)
            metrics["loss"] = float(np.mean((out - target) ** 2))
            keep = None if full else ("loss", "rmse")
        return {prefix + k: v for k, v in metrics.items() if keep is None or k in keep}

    def evaluate(self, split: Split, prefix: str = "") -> dict[str, float]:
        return self.scores(self.transform(split.x), split.y, prefix)
