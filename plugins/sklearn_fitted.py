"""What a scikit-learn trial fits and keeps: the preprocessing fitted on its training split
and the model a checkpoint holds (:mod:`automl_plugins.sklearn_models` trains them).

A checkpoint is a `skops <https://skops.readthedocs.io>`_ file, never a pickle: skops
rebuilds scikit-learn objects from data and refuses any type it is not told to trust.
:func:`load_model` trusts scikit-learn's estimators (skops' own default list) and the few
internal types of :data:`TRUSTED_TYPES` that the built-in estimators hold, nothing else,
so a planted or tampered file cannot run code when a study is resumed, evaluated or a
model loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.plugin import Split, Task, classification_metrics, regression_metrics

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.compose import ColumnTransformer

__all__ = ["TRUSTED_TYPES", "FittedModel", "flatten_rows", "load_model", "save_model",
           "tabular_preprocessor"]

FORMAT = 2  # 1 was a pickle
# Internal types of the built-in estimators that skops does not trust by default; a test
# saves every built-in estimator and checks that this covers what it holds.
TRUSTED_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.tree._tree.Tree",
})


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


def save_model(path: Path, trainer: str, model: FittedModel) -> None:
    """Write ``model`` to ``path`` as a skops file (atomically: a reader never sees half)."""
    import skops.io

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    skops.io.dump({"format": FORMAT, "trainer": trainer, "task": model.task,
                   "n_outputs": model.n_outputs, "y_mean": model.y_mean, "y_std": model.y_std,
                   "preprocessor": model.preprocessor, "estimator": model.estimator}, tmp)
    tmp.replace(path)


def load_model(path: Path, trainer: str) -> FittedModel:
    """The model :func:`save_model` wrote; a ``ValueError`` for any other file, and for one
    that holds a type outside scikit-learn's estimators and :data:`TRUSTED_TYPES`."""
    import zipfile

    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a {trainer} model file (a skops file): "
                         f"{type(exc).__name__}: {exc}") from None
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise ValueError(f"{path} holds types automl does not trust, so it is not loaded: "
                         f"{', '.join(refused)}")
    saved = skops.io.load(path, trusted=list(untrusted))
    if not isinstance(saved, dict) or saved.get("format") != FORMAT \
            or saved.get("trainer") != trainer:
        raise ValueError(f"{path} is not a {trainer} model file")
    return FittedModel(saved["preprocessor"], saved["estimator"], saved["task"],
                       int(saved["n_outputs"]), float(saved["y_mean"]), float(saved["y_std"]))
