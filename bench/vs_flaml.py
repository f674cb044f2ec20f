"""automl's default tabular search against FLAML and an untuned scikit-learn baseline.

    .venv/bin/pip install -e ".[bench]"                 # FLAML with lightgbm and xgboost
    .venv/bin/python bench/vs_flaml.py                  # 6 datasets x 60 s x 2 searches
    .venv/bin/python bench/vs_flaml.py --budget 8 --datasets breast_cancer diabetes \\
        --out results.json                              # a quick look

For each dataset, one after another in this process (nothing else should run on the
machine), on the same training rows:

- ``automl``: ``automl.search(spec, data=train_frame, target="y", timeout=budget, ...)``,
  scored with ``run.best_model`` where the API has it (an ensemble when it validates
  better), else ``run.best``. The bundled ``tabular`` spec as it ships, except: the
  trials budget is raised (``budget.trials``: 100000) so that the timeout is what ends
  the search, and for a regression dataset the objective becomes ``val_rmse`` (minimize)
  where the spec's is a classification metric. Each search runs in a fresh temporary
  folder (its reports are thrown away unless ``--keep DIR``); ``--automl-set KEY=VALUE``
  adds spec overrides (``--automl-set report.refit=true``). It gets the table with its
  categorical columns as text (``None`` where missing);
- ``flaml``: ``flaml.AutoML().fit(X_train, y_train, task=..., time_budget=budget,
  seed=seed, metric=...)``, FLAML's defaults otherwise, told the metric scored here
  (``accuracy`` / ``rmse``, as automl's objective is); ``--flaml-metric auto`` leaves
  FLAML's own (ROC AUC for two classes, log loss for more, R2), which can pick a model of
  good AUC whose every prediction is the majority class. Categorical columns as pandas
  ``category``;
- ``hgb``: ``HistGradientBoostingClassifier`` / ``Regressor`` with scikit-learn's
  defaults and ``categorical_features="from_dtype"`` (the ``category`` columns are native
  categorical splits; missing values go down the learned side): the untuned baseline.

Wall time is from the call to a fitted model (for automl: ``search()`` and loading
``run.best``), each library imported beforehand; automl's worker processes start inside
``search()``, so their start-up is in its time (and in its ``budget.timeout``, which also
lets running trials finish and then scores the top trials on its own test split: expect
automl's wall time above the budget). A search that completes no trial within the budget
has no model: ``no model`` in the table, a loss in the summary.

Every method is scored on the same held-out test split: 25 % of the rows, stratified for
classification, ``--seed`` (default 0) fixing the split and each method's seed; the
synthetic tables are always generated with seed 0. Metrics: accuracy (and log loss) for
classification, RMSE (and R2) for regression.

Datasets: scikit-learn's bundled ``breast_cancer``, ``wine``, ``digits`` (classification)
and ``diabetes`` (regression), and two synthetic tables of 5000 rows:
``synth_clf`` (``make_classification``: 20 features, 8 informative, 5 % labels flipped)
and ``synth_reg`` (``make_regression``: 20 features, 10 informative, noise 20, plus
``30 sin(x2)``), in each of
which two informative features are replaced by categorical text columns (binned into the
letters A-E, and into 8 cities in shuffled order) and one noise feature by a useless
3-valued one, with about 3 % missing values in two numeric columns and 2 % in ``city``.

The summary counts the datasets where automl >= FLAML within a tie tolerance (accuracy
0.002 below FLAML's or better; RMSE at most 0.5 % above FLAML's) and where automl is
strictly better than the untuned baseline (and within the same tolerance of it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn import datasets as skd
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = ("automl", "flaml", "hgb")
TIE_ACCURACY = 0.002  # absolute accuracy
TIE_RMSE = 0.005  # relative RMSE
TEST_FRACTION = 0.25
DATA_SEED = 0  # the synthetic tables
CITIES = ["Lyon", "Oslo", "Pune", "Lima", "Kyiv", "Cork", "Nara", "Bern"]


@dataclass
class Data:
    name: str
    task: str  # classification | regression
    X: pd.DataFrame  # categorical columns as pandas category
    y: pd.Series

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.X.columns if isinstance(self.X[c].dtype, pd.CategoricalDtype)]


# -- datasets ---------------------------------------------------------------------------
def bundled(name: str) -> Data:
    loader = {"breast_cancer": skd.load_breast_cancer, "wine": skd.load_wine,
              "digits": skd.load_digits, "diabetes": skd.load_diabetes}[name]
    bunch = loader(as_frame=True)
    X = bunch.data.copy()
    X.columns = [str(c).replace(" ", "_") for c in X.columns]
    task = "regression" if name == "diabetes" else "classification"
    return Data(name, task, X, bunch.target.rename("y"))


def _categorize(X: pd.DataFrame, rng: np.random.Generator, grade: int, city: int,
                junk: int, holes: tuple[int, int]) -> pd.DataFrame:
    """Columns ``grade``, ``city`` (informative) and ``junk`` (noise) of a numeric table
    become text categories; NaN in the ``holes`` columns and in ``city``."""
    out = X.copy()
    letters = pd.qcut(X[grade], 5, labels=list("ABCDE")).astype(str)
    order = list(rng.permutation(CITIES))  # not ordinal: a city's number says nothing
    cities = pd.qcut(X[city], len(order), labels=order).astype(str)
    junk_values = rng.choice(["web", "shop", "phone"], len(X))
    out = out.drop(columns=[grade, city, junk])
    out.insert(0, "grade", letters)
    out.insert(1, "city", cities)
    out["channel"] = junk_values
    out.columns = [c if isinstance(c, str) else f"x{c}" for c in out.columns]
    for c in holes:
        out.loc[rng.random(len(out)) < 0.03, f"x{c}"] = np.nan
    out.loc[rng.random(len(out)) < 0.02, "city"] = np.nan
    for c in ("grade", "city", "channel"):
        out[c] = out[c].astype("category")
    return out


def synthetic(name: str) -> Data:
    rng = np.random.default_rng(DATA_SEED)
    if name == "synth_clf":
        # shuffle=False: columns 0-7 informative, 8-11 redundant, 12-19 noise
        x, y = skd.make_classification(n_samples=5000, n_features=20, n_informative=8,
                                       n_redundant=4, flip_y=0.05, class_sep=0.8,
                                       shuffle=False, random_state=DATA_SEED)
        task = "classification"
    else:
        # shuffle=False: columns 0-9 informative
        x, y = skd.make_regression(n_samples=5000, n_features=20, n_informative=10,
                                   noise=20.0, shuffle=False, random_state=DATA_SEED)
        y = y + 30.0 * np.sin(x[:, 2])  # a bend that a linear model misses
        task = "regression"
    X = _categorize(pd.DataFrame(x), rng, grade=0, city=1, junk=19, holes=(3, 4))
    return Data(name, task, X, pd.Series(y, name="y"))


DATASETS: dict[str, Callable[[], Data]] = {
    **{n: (lambda n=n: bundled(n)) for n in ("breast_cancer", "wine", "digits", "diabetes")},
    **{n: (lambda n=n: synthetic(n)) for n in ("synth_clf", "synth_reg")},
}


# -- scoring ----------------------------------------------------------------------------
def scores(task: str, y_true: pd.Series, pred: Any, proba: Any = None,
           classes: Any = None) -> dict[str, float]:
    if task == "regression":
        pred = np.asarray(pred, dtype=float)
        return {"rmse": float(math.sqrt(mean_squared_error(y_true, pred))),
                "r2": float(r2_score(y_true, pred))}
    out = {"accuracy": float(accuracy_score(np.asarray(y_true).astype(str),
                                            np.asarray(pred).astype(str)))}
    if proba is not None:
        # columns put in sorted label order; a class a model never saw is 0
        proba = np.asarray(proba, dtype=float)
        labels = sorted(pd.unique(y_true).tolist() + [c for c in classes
                                                      if c not in set(y_true)])
        index = {str(c): i for i, c in enumerate(labels)}
        full = np.zeros((len(proba), len(labels)))
        for j, c in enumerate(classes):
            full[:, index[str(c)]] = proba[:, j]
        full = np.clip(full, 1e-15, 1.0)
        full /= full.sum(axis=1, keepdims=True)
        out["log_loss"] = float(log_loss(y_true, full, labels=labels))
    return out


# -- methods ----------------------------------------------------------------------------
@contextlib.contextmanager
def working_dir(keep: Path | None, name: str) -> Iterator[Path]:
    """A fresh folder to run in (``keep/name``, else a temporary one), as the cwd."""
    before = Path.cwd()
    with contextlib.ExitStack() as stack:
        if keep is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vs-flaml-")))
        else:
            folder = keep / name
            folder.mkdir(parents=True, exist_ok=False)
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(before)


def automl_spec(task: str, extra: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The bundled ``tabular`` spec's path and the overrides for this task."""
    from automl.metrics import REGRESSION
    from automl.spec import resolve_space_path

    path = resolve_space_path("tabular").resolve()
    raw = yaml.safe_load(path.read_text())
    objective = raw.get("objective") or {"metric": "val_accuracy"}
    first = objective[0] if isinstance(objective, list) else objective
    metric = str(first.get("metric", "")).removeprefix("val_")
    overrides: dict[str, Any] = {"budget.trials": 100000}
    if task == "regression" and metric not in (*REGRESSION, "loss"):
        overrides["objective"] = {"metric": "val_rmse", "direction": "minimize"}
    return path, {**overrides, **extra}


def run_automl(data: Data, X_tr: pd.DataFrame, y_tr: pd.Series, X_te: pd.DataFrame,
               budget: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    import automl

    spec, overrides = automl_spec(data.task, args.automl_set)
    frame = as_text(X_tr)
    frame["y"] = y_tr.to_numpy()
    study = f"vs-flaml-{data.name}-{seed}"
    with working_dir(args.keep, study):
        start = time.perf_counter()
        run = automl.search(spec, data=frame, target="y", task=data.task, timeout=budget,
                            seed=seed, study=study, overrides=overrides, progress=False)
        # the model the API says to use: an ensemble where the engine has them, else the
        # best trial's
        model = run.best_model if hasattr(type(run), "best_model") else run.best
        wall = time.perf_counter() - start
        trainer = run.best_trial and run.best_trial.get("params", {}).get("trainer")
        info = f"{run.n_new} trials ({run.stop_reason})" + (f", best {trainer}" if trainer
                                                            else "")
        if model is not None and type(model).__name__ != "Model":
            info += f", {type(model).__name__}"
        if model is None:
            return {"wall_s": wall, "pred": None, "info": f"no model: {info}"}
        X_test = as_text(X_te)
        pred = model.predict(X_test)
        proba = model.predict_proba(X_test) if data.task == "classification" else None
        classes = model.classes if data.task == "classification" else None
    return {"wall_s": wall, "pred": pred, "proba": proba, "classes": classes, "info": info}


def run_flaml(data: Data, X_tr: pd.DataFrame, y_tr: pd.Series, X_te: pd.DataFrame,
              budget: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from flaml import AutoML

    kwargs: dict[str, Any] = {}
    if args.flaml_metric == "same":
        kwargs["metric"] = "accuracy" if data.task == "classification" else "rmse"
    start = time.perf_counter()
    model = AutoML()
    model.fit(X_tr, y_tr, task=data.task, time_budget=budget, seed=seed, verbose=0, **kwargs)
    wall = time.perf_counter() - start
    proba = model.predict_proba(X_te) if data.task == "classification" else None
    return {"wall_s": wall, "pred": model.predict(X_te), "proba": proba,
            "classes": list(model.classes_) if data.task == "classification" else None,
            "info": f"best {model.best_estimator}"}


def run_hgb(data: Data, X_tr: pd.DataFrame, y_tr: pd.Series, X_te: pd.DataFrame,
            budget: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = (HistGradientBoostingClassifier if data.task == "classification"
           else HistGradientBoostingRegressor)
    start = time.perf_counter()
    model = cls(categorical_features="from_dtype", random_state=seed).fit(X_tr, y_tr)
    wall = time.perf_counter() - start
    proba = model.predict_proba(X_te) if data.task == "classification" else None
    return {"wall_s": wall, "pred": model.predict(X_te), "proba": proba,
            "classes": list(model.classes_) if data.task == "classification" else None,
            "info": f"{model.n_iter_} iterations"}


RUNNERS = {"automl": run_automl, "flaml": run_flaml, "hgb": run_hgb}


def as_text(X: pd.DataFrame) -> pd.DataFrame:
    """The table as a CSV file would give it: categories as text, ``None`` where missing."""
    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


# -- the run ----------------------------------------------------------------------------
def bench_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    data = DATASETS[name]()
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.X, data.y, test_size=TEST_FRACTION, random_state=args.seed,
        stratify=data.y if data.task == "classification" else None)
    metric = "accuracy" if data.task == "classification" else "rmse"
    row: dict[str, Any] = {
        "dataset": name, "task": data.task, "rows": len(data.X), "train": len(X_tr),
        "test": len(X_te), "features": data.X.shape[1], "categorical": len(data.categorical),
        "missing": int(data.X.isna().sum().sum()), "metric": metric, "budget_s": args.budget,
        "seed": args.seed}
    for method in args.methods:
        print(f"{name}: {method} ...", file=sys.stderr, flush=True)
        try:
            out = RUNNERS[method](data, X_tr, y_tr, X_te, args.budget, args.seed, args)
        except Exception as exc:  # noqa: BLE001 - one method failing leaves the others
            print(f"{name}: {method} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            row[f"{method}_error"] = f"{type(exc).__name__}: {exc}"
            continue
        row[f"{method}_wall_s"] = out["wall_s"]
        row[f"{method}_info"] = out["info"]
        if out["pred"] is None:
            row[f"{method}_error"] = out["info"]
            continue
        for key, value in scores(data.task, y_te, out["pred"], out["proba"],
                                 out["classes"]).items():
            row[f"{method}_{key}"] = value
    return row


def at_least(a: float, b: float, metric: str) -> bool:
    """``a`` is as good as ``b`` or better, within the tie tolerance."""
    if metric == "accuracy":
        return a >= b - TIE_ACCURACY
    return a <= b * (1 + TIE_RMSE)


def better(a: float, b: float, metric: str) -> bool:
    return a > b if metric == "accuracy" else a < b


def summary(rows: list[dict[str, Any]], methods: list[str]) -> list[str]:
    lines = []
    tol = f"tie tolerance: accuracy {TIE_ACCURACY}, RMSE {TIE_RMSE:.1%}"
    for other, label in (("flaml", "FLAML"), ("hgb", "untuned HGB")):
        if "automl" not in methods or other not in methods:
            continue
        # datasets where the other method has a score; automl without one loses there
        pairs = [(r.get(f"automl_{r['metric']}"), r[f"{other}_{r['metric']}"], r["metric"])
                 for r in rows if f"{other}_{r['metric']}" in r]
        ties = sum(a is not None and at_least(a, b, m) for a, b, m in pairs)
        wins = sum(a is not None and better(a, b, m) for a, b, m in pairs)
        missing = sum(a is None for a, _, _ in pairs)
        note = f"; automl has no model on {missing}, counted as losses" if missing else ""
        if other == "flaml":
            lines.append(f"automl >= FLAML on {ties}/{len(pairs)} datasets ({tol}; "
                         f"strictly better on {wins}{note})")
        else:
            lines.append(f"automl > {label} on {wins}/{len(pairs)} datasets "
                         f"(>= within the tolerance on {ties}{note})")
    return lines


def table(rows: list[dict[str, Any]], methods: list[str]) -> pd.DataFrame:
    out = []
    for r in rows:
        line = {"dataset": r["dataset"], "task": r["task"], "rows": r["rows"],
                "features (cat)": f"{r['features']} ({r['categorical']})",
                "metric": r["metric"]}
        for m in methods:
            value = r.get(f"{m}_{r['metric']}")
            line[m] = ("no model" if f"{m}_wall_s" in r else "failed") if value is None \
                else f"{value:.4f}"
        for m in methods:
            value = r.get(f"{m}_wall_s")
            line[f"{m} s"] = "" if value is None else f"{value:.1f}"
        second = "log_loss" if r["task"] == "classification" else "r2"
        for m in methods:
            value = r.get(f"{m}_{second}")
            line[f"{m} 2nd"] = "" if value is None else f"{value:.4f}"
        out.append(line)
    return pd.DataFrame(out)


def notes(rows: list[dict[str, Any]], methods: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": r["dataset"],
                          **{m: r.get(f"{m}_info") or r.get(f"{m}_error", "") for m in methods}}
                         for r in rows])


def write(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        path.write_text(json.dumps(rows, indent=1) + "\n")


def warm_up(methods: list[str]) -> None:
    """Import what each method imports, so that no method's time includes the imports of
    this process (automl's worker processes still import theirs: that is in its time)."""
    if "automl" in methods:
        import torch  # noqa: F401 - the trainers' import

        from automl.engine import controller  # noqa: F401
        from automl.plugin.host import get_plugin_host

        get_plugin_host()  # the plugins, loaded once per process
    if "flaml" in methods:
        import flaml.automl  # noqa: F401
        for name in ("lightgbm", "xgboost"):
            with contextlib.suppress(ImportError):
                __import__(name)


def quiet() -> None:
    """FLAML's and LightGBM's chatter; warnings stay visible once each."""
    logging.getLogger("flaml.automl.logger").setLevel(logging.WARNING)
    warnings.simplefilter("once")


def overrides_arg(values: list[str]) -> dict[str, Any]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--automl-set {item!r}: expected KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0,
                        help="wall seconds per dataset for each search (default 60)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--flaml-metric", choices=("same", "auto"), default="same",
                        help="FLAML's metric: the one scored here (default) or its own")
    parser.add_argument("--automl-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a spec override for automl (value read as YAML); repeatable")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="run automl in DIR/<study> and keep its reports")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the rows to a .json (default) or .csv file")
    args = parser.parse_args()
    args.automl_set = overrides_arg(args.automl_set)
    if args.keep is not None:
        args.keep = args.keep.resolve()
    if args.out is not None:
        args.out = args.out.resolve()
    methods = [m for m in METHODS if m in args.methods]
    args.methods = methods
    quiet()
    warm_up(methods)

    rows = []
    for name in args.datasets:
        rows.append(bench_dataset(name, args))
        if args.out is not None:
            write(rows, args.out)  # what finished survives a later crash
    print(f"\nbudget {args.budget:g} s per search, seed {args.seed}, test split "
          f"{TEST_FRACTION:.0%} (stratified for classification); rows = all rows, "
          f"features (cat) = columns (categorical ones); 2nd = log loss / R2")
    print(table(rows, methods).to_markdown(index=False))
    print()
    print(notes(rows, methods).to_markdown(index=False))
    print()
    for line in summary(rows, methods):
        print(line)


if __name__ == "__main__":
    main()
