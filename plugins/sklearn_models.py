"""scikit-learn trainers: random forest, extremely randomized trees, histogram gradient
boosting, logistic and ridge regression, SVM and k-nearest neighbours, for classification
and regression.

**Epochs.** Models that grow report through ``ctx.report`` as they grow, so pruning and
early stopping work as they do for a torch model: ``hist_gbm`` adds
``iterations_per_epoch`` (10) boosting iterations per epoch (warm start), ``random_forest``
and ``extra_trees`` add trees. With ``restore_best`` the model of the best epoch is the one
kept. The other models fit in one go and report a single epoch.

**Params.** Every param goes to the scikit-learn estimator under its own name (``C``,
``n_estimators``, ``learning_rate``, ``max_leaf_nodes``, ``n_neighbors`` ...; see each
estimator's documentation), so a misspelled one fails the trial with scikit-learn's list
of valid names. The trainers read a few themselves:

- ``hist_gbm``: ``iterations_per_epoch`` (10); ``max_iter`` is the total and defaults to
  ``budget.max_epochs * iterations_per_epoch``, so early stopping decides how many
  iterations a trial keeps. scikit-learn's own early stopping is off: the engine's works
  on the validation split.
- ``random_forest`` and ``extra_trees``: ``n_estimators`` (100), added ``trees_per_epoch``
  (10) at a time, in at most ``budget.max_epochs`` epochs.
- ``svm``: ``gamma_mode``: ``scale`` sets scikit-learn's ``gamma="scale"``, ``fixed`` takes
  the float ``gamma`` (one param cannot be both ``"scale"`` and a log range in a space).
- ``knn``: an ``n_neighbors`` above the training rows is lowered to their number, so a
  space's range fits a small training split too.

**Default search spaces.** Every trainer is an :class:`automl.plugin.HasDefaultSpace`:
``default_space(task)`` is the space a search over several trainers samples when the spec
names no params for it, ``default_config(task)`` the configuration it tries first
(scikit-learn's defaults, but where a log range cannot reach them: ``l2_regularization``
1e-10 for 0), and ``cost`` orders those first trials. The spaces follow auto-sklearn's and
FLAML's choices, with data-independent bounds; the numbers of trees and boosting
iterations are not searched, since they grow per epoch and early stopping picks them.

**Preprocessing, fitted on the training split only** (nothing is learnt from validation
or test rows): images are flattened; for ``logistic``, ``ridge``, ``svm`` and ``knn``
missing values are imputed with the training medians (plus a missing-value indicator
column) and non-binary columns are standardized; 0/1 columns (one-hot codes) are kept as
they are. The tree models take missing values natively and see the data unscaled.
Regression targets are standardized with the training mean and standard deviation and
predictions mapped back, so metrics are in the target's own units.

**Metrics**, reported every epoch: ``train_loss``, ``val_loss`` (log loss for
classification; mean squared error of the standardized target for regression) and the
task's metrics (``val_accuracy``, ``val_balanced_accuracy``, ``val_f1_macro``,
``val_log_loss``; ``val_rmse``, ``val_mae``, ``val_r2``). Training metrics are computed
on at most 5,000 training rows. SVM class probabilities come from Platt scaling
(``CalibratedClassifierCV``, 3-fold on the training split).

**Threads.** A trial uses ``execution.threads`` OpenMP threads, else as many as torch
may use in its worker (the engine's per-worker budget), but one below
``PARALLEL_MIN_VALUES`` training values, where threads cost more than they save; random
forests build their trees on one core (``n_jobs``: 1) unless the spec sets ``n_jobs``.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.plugin import (
    DataInfo,
    RegisterTrainer,
    Split,
    Task,
    TrialContext,
    TrialData,
    TrialFailed,
    hookimpl,
)
from automl.training.trainer import PerTask, default_space_attributes
from automl_plugins.sklearn_fitted import (
    FittedModel,
    flatten_rows,
    load_model,
    save_model,
    tabular_preprocessor,
)

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

# scikit-learn, threadpoolctl and torch are imported where a trial uses them, not when the
# plugin loads: the controller loads every plugin but trains nothing, and starts sooner.

TRAIN_EVAL_ROWS = 5000  # training metrics on a fixed sample: a full pass per epoch is waste
# Below this many training values (rows x features) a trial runs on one thread. Measured
# on 2 cores (3 warm-start fits of 10 boosting iterations), 2 threads vs 1: 5x slower at
# 360 values, 1.2x slower at 10k, 1.25x slower at 100k, 1.3x faster at 1M (with
# OMP_WAIT_POLICY=PASSIVE; with the default spinning threads and other work on the
# machine, 2 threads were 3-10x slower at every size).
PARALLEL_MIN_VALUES = 500_000

BuildEstimator = Callable[[Task, dict[str, Any], int], "BaseEstimator"]


# -- growing models ----------------------------------------------------------------------

@dataclass(frozen=True)
class Growth:
    """How an estimator grows between epochs: ``param`` set to a larger value, warm start."""

    param: str  # n_estimators, max_iter
    chunk_param: str  # the trainer's own param: how much to add per epoch
    chunk: int
    total: int | None  # default for ``param``; None: max_epochs * chunk
    truncate: bool  # restore the best epoch by truncating ``estimators_`` (forests)

    def plan(self, params: Mapping[str, Any], max_epochs: int) -> list[int]:
        """The estimator's size at the end of each epoch."""
        chunk = _positive_int(params, self.chunk_param, self.chunk)
        total = params.get(self.param, self.total)
        if total is None:
            return [chunk * e for e in range(1, max_epochs + 1)]
        total = _positive_int(params, self.param, int(total))
        n = min(max_epochs, math.ceil(total / chunk))
        return [round(total * e / n) for e in range(1, n + 1)]

    def snapshot(self, est: BaseEstimator) -> Any:
        # an in-memory copy of the estimator at its best epoch (never written to a file)
        return len(est.estimators_) if self.truncate else copy.deepcopy(est)

    def restore(self, est: BaseEstimator, snap: Any) -> BaseEstimator:
        if self.truncate:
            est.estimators_ = est.estimators_[:snap]
            est.set_params(**{self.param: snap})
            return est
        return snap


def _positive_int(params: Mapping[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    whole = isinstance(value, (int, np.integer)) or (isinstance(value, float)
                                                      and value.is_integer())
    if isinstance(value, bool) or not whole or value < 1:
        raise TrialFailed(f"param {key!r} must be a positive integer, got {value!r}")
    return int(value)


# -- the trainer ---------------------------------------------------------------------------

class SklearnTrainer:
    """A :class:`automl.plugin.Trainer` around a scikit-learn estimator.

    Args:
        name: the trainer's name in specs.
        build: ``(task, params, seed) -> estimator``, unfitted; ``params`` are the trial's
            params less the ones the growth reads (``growth.param``, ``growth.chunk_param``).
        tasks: the tasks it handles.
        description: one line for ``automl plugins list``.
        scale: impute missing values and standardize non-binary columns (models that
            need it: linear, kernel and distance based).
        growth: how the estimator grows between epochs (``None``: one epoch).
        space: the default search space (a spec's ``params:`` section, YAML form), one
            mapping or a function of the task; with ``config`` it makes the trainer a
            :class:`automl.plugin.HasDefaultSpace`.
        config: one configuration inside ``space`` (mapping or function of the task), the
            first a search tries.
        cost: the relative cost of a trial at ``config`` (1: a linear model; default 1).
    """

    def __init__(self, name: str, build: BuildEstimator, *, tasks: tuple[Task, ...],
                 description: str, scale: bool = False, growth: Growth | None = None,
                 space: PerTask | None = None, config: PerTask | None = None,
                 cost: float | None = None) -> None:
        self.name = name
        self.build = build
        self.tasks = tasks
        self.description = description
        self.scale = scale
        self.growth = growth
        # Set only when given: isinstance(trainer, HasDefaultSpace) checks that they exist.
        self.__dict__.update(default_space_attributes(name, tasks, space, config, cost))

    def _estimator(self, task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
        own = {self.growth.param, self.growth.chunk_param} if self.growth else set()
        rest = {k: v for k, v in params.items() if k not in own}
        try:
            return self.build(task, rest, seed)
        except (TypeError, ValueError) as exc:  # set_params names the valid params
            raise TrialFailed(f"{self.name}: {exc}") from None

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        """Train one trial; see the module docstring for the params and the epochs."""
        # OpenMP threads beyond the trial's share of the cores fight the other workers:
        # keep to the engine's budget (execution.threads, else the worker's torch setting),
        # and to one thread for small data, where threads cost more than they save.
        import torch
        from threadpoolctl import threadpool_limits

        threads = getattr(ctx, "threads", None) or torch.get_num_threads()
        if data.train.x.size < PARALLEL_MIN_VALUES:
            threads = 1
        with threadpool_limits(limits=threads):
            return self._fit(params, data, ctx)

    def _fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        info = data.info
        if info.task not in self.tasks:
            raise TrialFailed(f"{self.name} handles {', '.join(self.tasks)}, not {info.task}")
        seed = int(ctx.seed) % (2**32)
        start = time.perf_counter()
        x_train = flatten_rows(data.train.x)
        pre = tabular_preprocessor(x_train, impute=self.scale, scale=self.scale)
        y_mean, y_std = 0.0, 1.0
        y_fit = data.train.y
        if info.task == "regression":
            y_mean = float(np.mean(data.train.y))
            y_std = float(np.std(data.train.y)) or 1.0
            y_fit = (np.asarray(data.train.y, dtype=np.float64) - y_mean) / y_std
        est = self._estimator(info.task, params, seed)
        _fit_to_rows(est, len(x_train))
        model = FittedModel(pre, est, info.task, info.n_outputs, y_mean, y_std)
        xt_train = x_train if pre is None else pre.transform(x_train)
        xt_val = model.transform(data.val.x)
        rows = _sample(len(xt_train), TRAIN_EVAL_ROWS, seed)

        sizes: list[int | None] = (list(self.growth.plan(params, ctx.max_epochs))
                                   if self.growth else [None])
        best: Any = None
        for epoch, size in enumerate(sizes, start=1):
            if size is not None and self.growth is not None:
                est.set_params(**{self.growth.param: size})
            with warnings.catch_warnings():
                # Not converging within max_iter is a property of the trial's params, and
                # the metrics show its effect; a warning per trial would flood the log.
                from sklearn.exceptions import ConvergenceWarning

                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(xt_train, y_fit)
            metrics = {
                **_renamed(model.scores(xt_train[rows], data.train.y[rows], full=False),
                           "train_"),
                **model.scores(xt_val, data.val.y, "val_"),
            }
            decision = ctx.report(epoch, metrics)
            if decision.improved and ctx.restore_best and self.growth is not None:
                best = self.growth.snapshot(est)
            if decision.stop:
                break
        if best is not None and self.growth is not None:
            model.estimator = est = self.growth.restore(est, best)
        train_time = time.perf_counter() - start

        save_model(ctx.checkpoint_path, self.name, model)
        final: dict[str, Any] = model.scores(xt_val, data.val.y, "val_")
        final.update(_size(est))
        final["train_time_s"] = train_time
        return final

    model_file = "model.skops"  # the checkpoint's name in a model bundle

    def _load(self, checkpoint: Path) -> FittedModel:
        try:
            return load_model(checkpoint, self.name)
        except ValueError as exc:
            raise TrialFailed(str(exc)) from None

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        """Score the model saved at ``checkpoint`` on ``split`` (metric names without prefix)."""
        return self._load(checkpoint).evaluate(split)

    def predict(self, params: dict[str, Any], checkpoint: Path, x: Any,
                info: DataInfo) -> np.ndarray:
        """Class probabilities ``(n, n_outputs)``, or predictions ``(n,)`` in the target's
        units, of the model saved at ``checkpoint``."""
        model = self._load(checkpoint)
        out = model.outputs(model.transform(np.asarray(x)))
        return out if model.task == "classification" else out * model.y_std + model.y_mean

    def export_onnx(self, params: dict[str, Any], checkpoint: Path, info: DataInfo,
                    path: Path) -> None:
        """Write the model saved at ``checkpoint`` to ``path`` as an ONNX model: input ``x``,
        float32 ``(n, *info.input_shape)`` (what :meth:`predict` takes; the preprocessing is
        inside); output ``probabilities`` ``(n, n_outputs)`` or ``predictions`` ``(n,)`` in
        the target's units (what :meth:`predict` returns, to float32 precision). Needs
        skl2onnx (``pip install automl[onnx]``); a model it cannot convert raises
        :class:`automl.errors.UsageError`. See :mod:`automl_plugins.sklearn_onnx`."""
        from automl.errors import UsageError
        from automl_plugins.sklearn_onnx import export_onnx

        try:
            model = load_model(checkpoint, self.name)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        export_onnx(self.name, model, info, path)


def _fit_to_rows(est: BaseEstimator, n_rows: int) -> None:
    """Lower ``n_neighbors`` to the training rows: scikit-learn refuses more neighbours than
    rows, and a default space's range (up to 50) must fit a small training split too."""
    k = est.get_params(deep=False).get("n_neighbors")
    if isinstance(k, (int, np.integer)) and k > n_rows:
        est.set_params(n_neighbors=n_rows)


def _renamed(metrics: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {prefix + k: v for k, v in metrics.items()}


def _sample(n: int, k: int, seed: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _size(est: BaseEstimator) -> dict[str, int]:
    """How big the kept model is: parameters for linear models, trees or iterations."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if hasattr(est, "coef_"):
        return {"n_params": int(np.size(est.coef_) + np.size(getattr(est, "intercept_", 0)))}
    if hasattr(est, "estimators_") and isinstance(est.estimators_, list):
        return {"n_estimators": len(est.estimators_)}
    if hasattr(est, "n_iter_") and isinstance(est, (HistGradientBoostingClassifier,
                                                    HistGradientBoostingRegressor)):
        return {"n_iter": int(est.n_iter_)}
    return {}


# -- the estimators -----------------------------------------------------------------------

def _configured(est: BaseEstimator, params: dict[str, Any]) -> BaseEstimator:
    return est.set_params(**params) if params else est


def _forest(kind: str) -> Any:
    """The estimator factory of a forest of ``sklearn.ensemble``: ``kind`` ``RandomForest``
    or ``ExtraTrees``, with ``Classifier`` or ``Regressor`` after it by task."""
    def make(task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
        import sklearn.ensemble

        cls = getattr(sklearn.ensemble,
                      kind + ("Classifier" if task == "classification" else "Regressor"))
        # n_jobs=1: the engine gives each trial worker its share of the cores.
        return _configured(cls(random_state=seed, n_jobs=1, warm_start=True), params)
    return make


def _hist_gbm(task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = (HistGradientBoostingClassifier if task == "classification"
           else HistGradientBoostingRegressor)
    return _configured(cls(random_state=seed, warm_start=True, early_stopping=False), params)


def _logistic(task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression

    return _configured(LogisticRegression(max_iter=1000, random_state=seed), params)


def _ridge(task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.linear_model import Ridge

    return _configured(Ridge(random_state=seed), params)


def _svm_gamma(params: dict[str, Any]) -> dict[str, Any]:
    """The params with the trainer's ``gamma_mode`` turned into scikit-learn's ``gamma``."""
    if "gamma_mode" not in params:
        return params
    rest = {k: v for k, v in params.items() if k != "gamma_mode"}
    mode = params["gamma_mode"]
    if mode == "scale":
        if "gamma" in rest:
            raise ValueError(f"gamma_mode 'scale' takes no gamma (got gamma={rest['gamma']!r})")
        rest["gamma"] = "scale"
    elif mode == "fixed":
        if "gamma" not in rest:
            raise ValueError("gamma_mode 'fixed' needs a gamma")
    else:
        raise ValueError(f"gamma_mode must be 'scale' or 'fixed', got {mode!r}")
    return rest


def _svm(task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    params = _svm_gamma(params)
    if task == "regression":
        return _configured(SVR(), params)
    # SVC(probability=True) is deprecated (scikit-learn 1.9) for exactly this wrapper.
    return CalibratedClassifierCV(_configured(SVC(random_state=seed), params), ensemble=False,
                                  cv=3)


def _knn(task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
    return _configured(cls(), params)


BOTH: tuple[Task, ...] = ("classification", "regression")


# -- default search spaces ------------------------------------------------------------------
# Bounds are data-independent (a space is a function of the task only), so they are wide
# enough for a few hundred to a few hundred thousand rows; the sampler narrows them.

def _log(kind: str, low: float, high: float) -> dict[str, Any]:
    return {"type": kind, "low": low, "high": high, "log": True}


# max_features as choices: scikit-learn's classification default ("sqrt") and the
# fractions a float range would give cannot share one range.
_MAX_FEATURES = ["sqrt", "log2", 0.25, 0.5, 0.75, 1.0]


def _random_forest_space(task: Task) -> dict[str, Any]:
    # auto-sklearn's forest space; n_estimators grows per epoch (early stopping cuts it).
    space: dict[str, Any] = {
        "max_features": list(_MAX_FEATURES),
        "min_samples_split": {"type": "int", "low": 2, "high": 20},
        "min_samples_leaf": _log("int", 1, 20),
        "bootstrap": [True, False],
    }
    if task == "classification":
        space = {"criterion": ["gini", "entropy"], **space}
    return space


def _random_forest_config(task: Task) -> dict[str, Any]:
    config: dict[str, Any] = {
        "max_features": "sqrt" if task == "classification" else 1.0,
        "min_samples_split": 2, "min_samples_leaf": 1, "bootstrap": True}
    return {"criterion": "gini", **config} if task == "classification" else config


def _extra_trees_config(task: Task) -> dict[str, Any]:
    # scikit-learn's defaults: no bootstrap (the random splits are the randomness).
    return {**_random_forest_config(task), "bootstrap": False}


# After auto-sklearn's and FLAML's boosting ranges, max_leaf_nodes cut at 256 (with
# scikit-learn's 31 at the middle of the log range); max_iter grows per epoch.
_HIST_GBM_SPACE: dict[str, Any] = {
    "learning_rate": _log("float", 0.01, 0.3),
    "max_leaf_nodes": _log("int", 4, 256),
    "min_samples_leaf": _log("int", 1, 200),
    "l2_regularization": _log("float", 1e-10, 10.0),
    "max_features": {"type": "float", "low": 0.1, "high": 1.0},
}
# scikit-learn's defaults; l2_regularization 1e-10 stands for its 0, out of a log range.
_HIST_GBM_CONFIG: dict[str, Any] = {"learning_rate": 0.1, "max_leaf_nodes": 31,
                                    "min_samples_leaf": 20, "l2_regularization": 1e-10,
                                    "max_features": 1.0}

_LOGISTIC_SPACE: dict[str, Any] = {"C": _log("float", 1e-3, 1e3),
                                   "class_weight": [None, "balanced"]}
_LOGISTIC_CONFIG: dict[str, Any] = {"C": 1.0, "class_weight": None}

# alpha against standardized inputs and target: a sum of squares, so it scales with rows.
_RIDGE_SPACE: dict[str, Any] = {"alpha": _log("float", 1e-3, 1e4)}
_RIDGE_CONFIG: dict[str, Any] = {"alpha": 1.0}


def _svm_space(task: Task) -> dict[str, Any]:
    # The RBF kernel's C and gamma (Hsu, Chang & Lin's guide; C cut at 1e3, where libsvm's
    # fit time climbs). On standardized inputs ||x - x'||^2 is about 2 * n_features, so
    # "scale" is about 1 / n_features and a gamma above 1 turns the kernel into the
    # identity on any table of a few columns. poly and sigmoid kernels rarely beat RBF on
    # standardized inputs and can take far longer to converge, so the kernel is fixed.
    space: dict[str, Any] = {
        "C": _log("float", 1e-2, 1e3),
        "gamma_mode": ["scale", "fixed"],
        "gamma": {**_log("float", 1e-5, 1.0), "when": {"gamma_mode": "fixed"}},
    }
    if task == "regression":  # epsilon against the standardized target
        space["epsilon"] = _log("float", 1e-3, 1.0)
    return space


def _svm_config(task: Task) -> dict[str, Any]:
    config: dict[str, Any] = {"C": 1.0, "gamma_mode": "scale"}
    return {**config, "epsilon": 0.1} if task == "regression" else config


_KNN_SPACE: dict[str, Any] = {"n_neighbors": _log("int", 1, 50),
                              "weights": ["uniform", "distance"],
                              "p": [1, 2]}  # Manhattan, Euclidean
_KNN_CONFIG: dict[str, Any] = {"n_neighbors": 5, "weights": "uniform", "p": 2}

# Both forests grow 10 trees an epoch up to scikit-learn's 100; early stopping cuts them.
_FOREST_GROWTH = Growth("n_estimators", "trees_per_epoch", chunk=10, total=100, truncate=True)

# Costs: the wall time of a trial at the default configuration relative to the linear
# model (logistic or ridge), one core, max_epochs 30, rounded from the geometric mean over
# digits, breast_cancer, diabetes and a synthetic 20,000 x 20 table of each task:
#   knn 0.7-1.3 (-> 1) | svm 0.5-67, growing with rows squared (3) | random_forest 0.7-206
#   (10) | hist_gbm 3.5-280, 280 on digits' ten classes (30) | mlp 2.7-55 (5, in
#   automl_plugins.mlp) | cnn 45 on digits (50, automl_plugins.cnn) | extra_trees 0.22-0.73
#   of random_forest's time, geometric mean 0.49 (100 trees on digits, breast_cancer,
#   diabetes and make_classification 20,000 x 20) (5).
TRAINERS = [
    SklearnTrainer("random_forest", _forest("RandomForest"), tasks=BOTH,
                   description="scikit-learn random forest; trees added per epoch",
                   growth=_FOREST_GROWTH, space=_random_forest_space,
                   config=_random_forest_config, cost=10.0),
    # FLAML's and auto-sklearn's extra_trees: split thresholds drawn at random, so a tree
    # costs a fraction of a forest's and the ensemble is smoother where classes overlap
    # (FLAML's pick on bench/vs_flaml.py's synth_clf, where random_forest trailed it).
    SklearnTrainer("extra_trees", _forest("ExtraTrees"), tasks=BOTH,
                   description="scikit-learn extremely randomized trees; trees added per epoch",
                   growth=_FOREST_GROWTH, space=_random_forest_space,
                   config=_extra_trees_config, cost=5.0),
    SklearnTrainer("hist_gbm", _hist_gbm, tasks=BOTH,
                   description="scikit-learn histogram gradient boosting; iterations per epoch",
                   growth=Growth("max_iter", "iterations_per_epoch", chunk=10, total=None,
                                 truncate=False),
                   space=_HIST_GBM_SPACE, config=_HIST_GBM_CONFIG, cost=30.0),
    SklearnTrainer("logistic", _logistic, tasks=("classification",), scale=True,
                   description="scikit-learn logistic regression (standardized inputs)",
                   space=_LOGISTIC_SPACE, config=_LOGISTIC_CONFIG, cost=1.0),
    SklearnTrainer("ridge", _ridge, tasks=("regression",), scale=True,
                   description="scikit-learn ridge regression (standardized inputs)",
                   space=_RIDGE_SPACE, config=_RIDGE_CONFIG, cost=1.0),
    SklearnTrainer("svm", _svm, tasks=BOTH, scale=True,
                   description="scikit-learn support vector machine (SVC/SVR)",
                   space=_svm_space, config=_svm_config, cost=3.0),
    SklearnTrainer("knn", _knn, tasks=BOTH, scale=True,
                   description="scikit-learn k-nearest neighbours",
                   space=_KNN_SPACE, config=_KNN_CONFIG, cost=1.0),
]


@hookimpl
def register_trainers(register: RegisterTrainer) -> None:
    for trainer in TRAINERS:
        register(trainer)
