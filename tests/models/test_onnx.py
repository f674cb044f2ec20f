"""ONNX export of the built-in trainers: the exported model, run by onnxruntime on the CPU,
gives what the trainer's own ``predict`` gives, for the same raw float32 features.

Tolerances: the graphs compute in float32 where ``predict`` computes in float64 (the torch
softmax, every scikit-learn model), so probabilities are compared to 1e-4 absolute and
regression predictions (in the target's units) to 1e-4 relative.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.data import DataInfo, Split, TrialData, make_splits
from automl.errors import UsageError
from automl.plugin.host import get_plugin_host
from automl.plugin.testing import tiny_dataset
from automl.plugin.trainer import ExportsOnnx
from automl_plugins.sklearn_models import TRAINERS, SklearnTrainer
from tests.helpers import digits_images, trial_context

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

PROBA_ATOL = 1e-4
REGRESSION_RTOL = 1e-4
TINY_CNN: dict[str, Any] = {"conv": [{"channels": 8, "kernel": 3}], "batch_size": 64}
TINY_MLP: dict[str, Any] = {"width": 16, "depth": 1, "batch_size": 64}
SKLEARN_PARAMS: dict[str, dict[str, Any]] = {"random_forest": {"n_estimators": 20}}


def run_onnx(path: Path, x: np.ndarray) -> tuple[Any, np.ndarray]:
    """The session (to read its signature) and its one output for ``x``."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"x": np.asarray(x, dtype=np.float32)})
    assert len(outputs) == 1
    return session, outputs[0]


def assert_signature(session: Any, info: DataInfo) -> None:
    (x,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert x.name == "x" and x.type == "tensor(float)"
    assert isinstance(x.shape[0], str) and list(x.shape[1:]) == list(info.input_shape)
    if info.task == "classification":
        assert out.name == "probabilities"
        assert isinstance(out.shape[0], str) and out.shape[1:] == [info.n_outputs]
    else:
        assert out.name == "predictions"
        assert len(out.shape) == 1 and isinstance(out.shape[0], str)


def assert_same_outputs(out: np.ndarray, ref: np.ndarray, task: str,
                        min_rows: float = 1.0) -> None:
    """``out`` (ONNX) equals ``ref`` (``predict``) within the tolerances, on every row or,
    with ``min_rows`` < 1, on at least that fraction of the rows (a float32 input at a
    tree threshold, two neighbours at one distance) and with the same predicted class
    where that is no tie."""
    assert out.shape == ref.shape
    assert np.isfinite(out).all()
    if task == "classification":
        close = np.isclose(out, ref, rtol=0.0, atol=PROBA_ATOL).all(axis=1)
        # The predicted class, where it is no tie (a forest's 10 of 20 trees for each of
        # two classes: float32 sums break such ties either way).
        top2 = np.sort(ref, axis=1)[:, -2:]
        decisive = top2[:, 1] - top2[:, 0] > 2 * PROBA_ATOL
        assert decisive.mean() > 0.5
        same_class = (out.argmax(axis=1) == ref.argmax(axis=1))[decisive].mean()
        assert same_class >= min_rows, f"argmax agrees on {same_class:.1%} of rows"
    else:
        close = np.isclose(out, ref, rtol=REGRESSION_RTOL, atol=1e-6 * np.abs(ref).max())
    assert close.mean() >= min_rows, (f"{close.mean():.1%} of rows within tolerance; worst "
                                      f"difference {np.abs(out - ref).max():.3g}")
    if min_rows == 1.0 and task == "classification":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def as_regression(data: TrialData) -> TrialData:
    """The digits with their label as a regression target, far from unit scale (so the
    target's unscaling inside the graph is checked)."""
    info = DataInfo(data.info.name, "regression", data.info.input_shape, 1)

    def target(split: Split) -> Split:
        return Split(split.x, (split.y.astype(np.float32) * 40.0 + 300.0))

    return TrialData(info, target(data.train), target(data.val))


# -- torch ----------------------------------------------------------------------------------

@pytest.fixture
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("_one_thread")
@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize(("name", "params"), [("cnn", TINY_CNN), ("mlp", TINY_MLP)])
def test_torch_trainer_onnx_gives_what_predict_gives(tmp_path: Path, name: str,
                                                     params: dict[str, Any],
                                                     task: str) -> None:
    trainer = get_plugin_host().collect().trainers.get(name)
    assert isinstance(trainer, ExportsOnnx)
    data = digits_images(200, 60)
    if task == "regression":
        data = as_regression(data)
    ctx = trial_context(tmp_path / "trial_0.pt", max_epochs=1)
    trainer.fit(params, data, ctx)
    x = data.val.x.copy()
    if name == "mlp":  # standardized inputs: a missing value becomes the training mean
        x[0, 0, 2, 3] = np.nan
        x[1, 0, 0, 0] = np.nan
    path = tmp_path / "model.onnx"
    trainer.export_onnx(params, ctx.checkpoint_path, data.info, path)

    session, out = run_onnx(path, x)
    assert_signature(session, data.info)
    assert_same_outputs(out, trainer.predict(params, ctx.checkpoint_path, x, data.info), task)
    _, one = run_onnx(path, x[:1])  # the batch dimension is dynamic
    assert one.shape == (1, *out.shape[1:])
    np.testing.assert_allclose(one, out[:1], rtol=1e-5, atol=1e-6)


# -- scikit-learn --------------------------------------------------------------------------

def tabular_with_nans(task: str) -> TrialData:
    data = make_splits(tiny_dataset(task, n=200), val=0.3, test=0.0, seed=0,  # type: ignore[arg-type]
                       stratify=task == "classification").for_trial()
    for split in (data.train, data.val):  # a 0/1 column (a one-hot code): not scaled
        split.x[:, 5] = (split.x[:, 5] > 0).astype(np.float32)
    data.train.x[3, 1] = data.train.x[7, 1] = data.train.x[11, 4] = np.nan
    if task == "regression":  # far from unit scale: the graph maps predictions back
        data = TrialData(data.info, Split(data.train.x, data.train.y * 50.0 + 300.0),
                         Split(data.val.x, data.val.y * 50.0 + 300.0))
    return data


def fit_and_export(tmp_path: Path, trainer: SklearnTrainer, data: TrialData
                   ) -> tuple[Path, Path, dict[str, Any]]:
    params = dict(SKLEARN_PARAMS.get(trainer.name, {}))
    ctx = trial_context(tmp_path / "trial_0.skops", max_epochs=2)
    trainer.fit(params, data, ctx)
    path = tmp_path / "model.onnx"
    trainer.export_onnx(params, ctx.checkpoint_path, data.info, path)
    return ctx.checkpoint_path, path, params


CASES = [(t, task) for t in TRAINERS for task in t.tasks]
# k-nearest neighbours computes distances in float32 in the graph: two neighbours at
# nearly one distance can swap. Everything else must agree on every row.
MIN_ROWS = {"knn": 0.95}


@pytest.mark.parametrize(("trainer", "task"), CASES,
                         ids=[f"{t.name}-{task}" for t, task in CASES])
def test_sklearn_trainer_onnx_gives_what_predict_gives(tmp_path: Path,
                                                       trainer: SklearnTrainer,
                                                       task: str) -> None:
    assert isinstance(trainer, ExportsOnnx)
    data = tabular_with_nans(task)
    checkpoint, path, params = fit_and_export(tmp_path, trainer, data)
    x = data.val.x.copy()
    x[0, 2] = np.nan  # missing values at prediction time, in a column seen with some
    x[1, 1] = np.nan  # ... and in one seen with some in training
    x[2, :] = np.nan  # ... and a row of nothing but
    x[3, 5] = np.nan  # ... and in the 0/1 column
    session, out = run_onnx(path, x)
    assert_signature(session, data.info)
    ref = trainer.predict(params, checkpoint, x, data.info)
    assert_same_outputs(out, ref, task, MIN_ROWS.get(trainer.name, 1.0))
    assert_same_outputs(out[:4], ref[:4], task)  # the rows with missing values, exactly
    _, one = run_onnx(path, x[5:6])
    assert one.shape == (1, *out.shape[1:])


@pytest.mark.parametrize("name", ["random_forest", "hist_gbm", "logistic", "knn"])
def test_sklearn_onnx_flattens_image_samples(tmp_path: Path, name: str) -> None:
    trainer = {t.name: t for t in TRAINERS}[name]
    data = digits_images(200, 60)
    checkpoint, path, params = fit_and_export(tmp_path, trainer, data)
    session, out = run_onnx(path, data.val.x)
    assert_signature(session, data.info)
    assert_same_outputs(out, trainer.predict(params, checkpoint, data.val.x, data.info),
                        "classification", MIN_ROWS.get(name, 1.0))


@pytest.mark.parametrize("name", ["logistic", "random_forest"])
def test_a_class_absent_from_training_gets_a_zero_column(tmp_path: Path, name: str) -> None:
    trainer = {t.name: t for t in TRAINERS}[name]
    base = tabular_with_nans("classification")  # classes 0, 1, 2
    info = DataInfo("tiny", "classification", base.info.input_shape, 4)
    # 4 outputs, classes 0 and 3 in the data (class 2 relabelled 3, class 1 left out).

    def split(s: Split) -> Split:
        keep = s.y != 1
        return Split(s.x[keep], np.where(s.y[keep] == 2, 3, s.y[keep]))

    data = TrialData(info, split(base.train), split(base.val))
    checkpoint, path, params = fit_and_export(tmp_path, trainer, data)
    session, out = run_onnx(path, data.val.x)
    assert_signature(session, info)
    ref = trainer.predict(params, checkpoint, data.val.x, info)
    assert ref.shape == (len(data.val.x), 4)
    assert_same_outputs(out, ref, "classification")
    assert (out[:, 1] == 0).all() and (out[:, 2] == 0).all()


def _dummy(task: str, params: dict[str, Any], seed: int) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="prior")


def test_a_model_skl2onnx_cannot_convert_is_refused_in_one_line(tmp_path: Path) -> None:
    trainer = SklearnTrainer("dummy", _dummy, tasks=("classification",), description="x")
    data = tabular_with_nans("classification")
    ctx = trial_context(tmp_path / "trial_0.skops", max_epochs=1)
    trainer.fit({}, data, ctx)
    path = tmp_path / "model.onnx"
    with pytest.raises(UsageError) as caught:
        trainer.export_onnx({}, ctx.checkpoint_path, data.info, path)
    message = str(caught.value)
    assert message.startswith("dummy: scikit-learn model DummyClassifier cannot be exported "
                              "to ONNX (skl2onnx: ")
    assert "DummyClassifier" in message.split("(skl2onnx: ", 1)[1]
    assert "\n" not in message and message.endswith(")")
    assert not path.exists() and not list(tmp_path.glob("*.tmp"))


def test_export_without_skl2onnx_says_what_to_install(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = {t.name: t for t in TRAINERS}["logistic"]
    data = tabular_with_nans("classification")
    ctx = trial_context(tmp_path / "trial_0.skops", max_epochs=1)
    trainer.fit({}, data, ctx)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # import skl2onnx: ImportError
    with pytest.raises(UsageError, match=r"pip install automl\[onnx\]"):
        trainer.export_onnx({}, ctx.checkpoint_path, data.info, tmp_path / "model.onnx")


def test_a_file_that_is_no_model_is_refused(tmp_path: Path) -> None:
    trainer = {t.name: t for t in TRAINERS}["ridge"]
    bad = tmp_path / "trial_0.skops"
    bad.write_bytes(b"not a skops file")
    info = DataInfo("tiny", "regression", (6,), 1)
    with pytest.raises(UsageError, match="is not a ridge model file"):
        trainer.export_onnx({}, bad, info, tmp_path / "model.onnx")


def test_exports_onnx_is_a_runtime_checkable_protocol() -> None:
    from automl.training import TorchTrainer

    assert isinstance(TorchTrainer("t", lambda p, s, n: None), ExportsOnnx)  # type: ignore[arg-type, return-value]
    assert not isinstance(object(), ExportsOnnx)
