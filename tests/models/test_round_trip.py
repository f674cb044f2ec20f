"""Search, then use the model on new raw data in fresh processes, for every built-in trainer.

Each case searches (one or two tiny trials), writes the *raw* rows of the test split to a
CSV (as a user would have them: pixel values 0-16, category names, empty cells), then
predicts on it with ``automl.load`` in a fresh Python process and with ``automl predict``.
Both must give what the trainer itself gives on the test split, and the test metric the
search stored; so must the ONNX model that ``automl export --format onnx`` writes, run by
onnxruntime on those rows as :meth:`automl.models.Model.encode` encodes them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

import automl
from automl.engine.components import load_splits
from automl.engine.studies import resolve_storage
from automl.engine.study_setup import stored_spec
from automl.errors import DataError, UsageError
from automl.models.bundle import read_bundle
from automl.plugin.host import get_plugin_host

pytestmark = pytest.mark.slow

AUTOML = str(Path(sys.executable).with_name("automl"))


def _frame(name: str) -> pd.DataFrame:
    """scikit-learn's own frame of a bundled dataset: raw values and a ``target`` column."""
    if name == "digits":
        bunch = datasets.load_digits()
        frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
        frame["target"] = bunch.target
        return frame
    return getattr(datasets, f"load_{name}")(as_frame=True).frame


def _mixed_csv(path: Path) -> pd.DataFrame:
    """A table with numeric, categorical and missing values; the label depends on all."""
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.normal(50, 15, n).round(2),
        "city": rng.choice(["Lyon", "Oslo", "Quito"], n),
        "plan": rng.choice(["free", "pro"], n),
    })
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame.loc[rng.random(n) < 0.1, "city"] = None
    score = (frame.age / 40 + (frame.city == "Oslo") * 1.5 + (frame.plan == "pro")
             + frame.income.fillna(50) / 50)
    frame["churn"] = np.where(score > score.median(), "yes", "no")
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def _spec(study: str, trainer: str, dataset: dict[str, Any], params: dict[str, Any],
          metric: str = "val_accuracy", direction: str = "maximize") -> dict[str, Any]:
    return {"study": study, "trainer": trainer, "dataset": dataset,
            "objective": {"metric": metric, "direction": direction},
            "budget": {"trials": 2, "max_epochs": 3}, "sampler": {"name": "random", "seed": 0},
            "execution": {"workers": 0}, "params": params, "report": {"top_k": 2}}


CNN = {"lr": 0.01, "batch_size": 64, "n_conv": 1, "dropout": 0.0,
       "conv": {"repeat": "n_conv", "params": {"channels": 8, "kernel": 3}}}
MLP = {"lr": 0.01, "batch_size": 32, "n_layers": 1,
       "layers": {"repeat": "n_layers", "params": {"units": 16}}}
CASES = {
    "cnn": ("cnn", "digits", CNN),
    "mlp": ("mlp", "wine", MLP),
    "random_forest": ("random_forest", "iris", {"n_estimators": 20}),
    "hist_gbm": ("hist_gbm", "breast_cancer", {}),
    "logistic": ("logistic", "wine", {"C": {"type": "float", "low": 0.1, "high": 10}}),
    "ridge": ("ridge", "diabetes", {"alpha": 1.0}),
    "svm": ("svm", "iris", {"C": 1.0}),
    "knn": ("knn", "wine", {"n_neighbors": 5}),
    "csv_hist_gbm": ("hist_gbm", "csv", {}),
    "csv_logistic": ("logistic", "csv", {}),
    "csv_random_forest": ("random_forest", "csv", {"n_estimators": 20}),
}


def _match_rows(encoded: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each row of ``wanted``, the index of an equal row of ``encoded`` (NaN = NaN)."""
    def key(row: np.ndarray) -> bytes:
        return np.nan_to_num(row.astype(np.float32), nan=-3.25e38).tobytes()

    index: dict[bytes, int] = {}
    for i, row in enumerate(encoded.reshape(len(encoded), -1)):
        index.setdefault(key(row), i)
    return np.array([index[key(row)] for row in wanted.reshape(len(wanted), -1)])


def _onnx_outputs(case: str, raw_rows: pd.DataFrame, model: Any, out: Path) -> np.ndarray:
    """``automl export CASE --format onnx``, run by onnxruntime on ``raw_rows`` as
    ``model.encode`` encodes them."""
    ort = pytest.importorskip("onnxruntime")
    done = subprocess.run([AUTOML, "export", case, "--format", "onnx", "--out", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert read_bundle(out).trial == model.record.trial  # the best trial, as best/ holds it
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"x": model.encode(raw_rows).astype(np.float32)})
    return np.asarray(output, dtype=np.float64)


def _fresh_load(source: str, data: Path, out: Path, regression: bool) -> np.ndarray:
    """``automl.load(source).predict_proba(data)`` (``predict`` for regression) in a new
    Python process."""
    call = "predict" if regression else "predict_proba"
    code = textwrap.dedent(f"""
        import numpy as np, automl
        model = automl.load({source!r})
        np.save({str(out)!r}, np.asarray(model.{call}({str(data)!r}), dtype=np.float64))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    return np.load(out)


@pytest.mark.parametrize("case", list(CASES))
def test_load_and_predict_give_the_trainers_test_predictions(case: str, in_tmp: Path) -> None:
    trainer_name, data_name, params = CASES[case]
    if data_name == "csv":
        raw = _mixed_csv(in_tmp / "train.csv")
        dataset = {"name": "csv", "path": str(in_tmp / "train.csv"), "target": "churn"}
        target = "churn"
    else:
        raw = _frame(data_name)
        dataset = {"name": data_name}
        target = "target"
    regression = data_name == "diabetes"
    spec = _spec(case, trainer_name, dataset, params,
                 *(("val_rmse", "minimize") if regression else ()))
    run = automl.search(spec, progress=False)
    assert run.best_trial is not None and run.best is not None

    # What the trainer itself gives on the test split, from the checkpoint it saved.
    url = resolve_storage(case, None)
    splits = load_splits(stored_spec(case, url), get_plugin_host())
    bundle = read_bundle(in_tmp / "reports" / case)
    trainer = get_plugin_host().collect().trainers.get(trainer_name)
    test_x, test_y = np.asarray(splits.test.x), np.asarray(splits.test.y)
    expected = np.asarray(trainer.predict(bundle.params, bundle.model_path, test_x,
                                          splits.info))

    # The same rows as a user has them: raw values, category names, empty cells.
    rows = _match_rows(run.best.encode(raw), test_x)
    new = in_tmp / "new.csv"
    raw.iloc[rows].to_csv(new, index=False)

    loaded = _fresh_load(f"reports/{case}", new, in_tmp / "loaded.npy", regression)
    cli = subprocess.run([AUTOML, "predict", case, "--data", str(new), "--out", "preds.csv"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    preds = pd.read_csv(in_tmp / "preds.csv")
    assert len(preds) == len(test_y)

    onnx = _onnx_outputs(case, raw.iloc[rows].drop(columns=[target]), run.best,
                         in_tmp / "onnx")
    # float32 in the graph where predict computes in float64 (test_onnx.py's tolerances);
    # k-nearest neighbours may swap two neighbours at nearly one distance.
    close = (np.isclose(onnx, expected, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(expected).max()))
             if regression else np.isclose(onnx, expected, rtol=0.0, atol=1e-4).all(axis=1))
    assert close.mean() >= (0.95 if trainer_name == "knn" else 1.0), (
        f"ONNX agrees on {close.mean():.1%} of the test rows; worst difference "
        f"{np.abs(onnx - expected).max():.3g}")

    metrics = bundle.metrics
    if regression:
        np.testing.assert_allclose(loaded, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(preds["prediction"], expected, rtol=1e-6, atol=1e-6)
        truth = raw[target].iloc[rows].to_numpy()
        np.testing.assert_allclose(truth, test_y, rtol=1e-6)
        rmse = float(np.sqrt(np.mean((preds["prediction"].to_numpy() - truth) ** 2)))
        assert rmse == pytest.approx(metrics["test_rmse"], rel=1e-5)
        return
    np.testing.assert_allclose(loaded, expected, atol=1e-6)
    classes = run.best.classes
    proba = preds[[f"proba_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    labels = np.asarray(classes, dtype=object)[expected.argmax(axis=1)]
    assert preds["prediction"].astype(str).tolist() == [str(v) for v in labels]
    predicted = preds["prediction"].astype(str).to_numpy()
    if data_name == "csv":  # the labels as the file has them
        assert set(predicted) <= {"no", "yes"}
        np.testing.assert_array_equal(raw[target].iloc[rows].to_numpy(),
                                      np.asarray(classes)[test_y])
    index = {str(c): i for i, c in enumerate(classes)}
    accuracy = float(np.mean([index[p] for p in predicted] == test_y))
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert accuracy > 1.5 / len(classes)  # well above chance


def test_a_model_of_the_csv_takes_unseen_categories_and_rejects_bad_files(in_tmp: Path
                                                                           ) -> None:
    raw = _mixed_csv(in_tmp / "train.csv")
    spec = _spec("mixed", "logistic", {"name": "csv", "path": "train.csv", "target": "churn"},
                 {})
    automl.search(spec, progress=False)
    model = automl.load("reports/mixed")
    assert model.schema.target == "churn" and model.classes == ["no", "yes"]
    assert {c.name: c.kind for c in model.schema.columns} == {
        "age": "numeric", "income": "numeric", "city": "categorical", "plan": "categorical"}
    new = raw.drop(columns=["churn"]).head(4).copy()
    new.loc[new.index[0], "city"] = "Tokyo"  # never seen: all its one-hot codes are 0
    assert len(model.predict(new)) == 4

    bad = {
        "missing.csv": (raw.drop(columns=["plan"]), "missing column(s) 'plan'"),
        "extra.csv": (raw.assign(zip="x"), "unexpected column(s) 'zip'"),
        "text.csv": (raw.assign(age="old"), "column 'age' must be numeric"),
    }
    for name, (frame, message) in bad.items():
        frame.to_csv(in_tmp / name, index=False)
        out = subprocess.run([AUTOML, "predict", "reports/mixed", "--data", name, "--out",
                              "p.csv"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, (name, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and name in lines[0], out.stderr
        assert not (in_tmp / "p.csv").exists()  # nothing half-written
    with pytest.raises(DataError, match="missing column"):
        model.predict(raw.drop(columns=["age"]))
    np.save(in_tmp / "wrong.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match="give a table"):
        model.predict(in_tmp / "wrong.npy")


def test_load_by_study_and_trial_exports_on_first_use(in_tmp: Path) -> None:
    spec = _spec("pick", "knn", {"name": "iris"},
                 {"n_neighbors": {"type": "int", "low": 1, "high": 15}})
    spec["budget"]["trials"] = 3
    spec["report"]["top_k"] = 1  # only the best trial keeps its weights
    run = automl.search(spec, progress=False)
    best = run.best_trial["number"]
    other = next(n for n in range(3) if n != best)
    assert not (in_tmp / f"reports/pick/checkpoints/trial_{other}.pt").exists()

    model = automl.load(study="pick", trial=other)  # trained again from its params
    assert model.record.trial == other
    assert model.params == run.leaderboard.set_index("trial").loc[other, ["n_neighbors"]
                                                                    ].to_dict()
    assert (in_tmp / f"reports/pick/bundles/trial_{other}/bundle.json").is_file()
    iris = datasets.load_iris()
    assert np.mean(model.predict(iris.data) == iris.target_names[iris.target]) > 0.8
    assert automl.load("reports/pick", trial=best).record.trial == best
    with pytest.raises(UsageError, match="no trial 7"):
        automl.load(study="pick", trial=7)
