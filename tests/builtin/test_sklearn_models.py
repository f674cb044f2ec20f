"""The scikit-learn trainers: the contract, growth per epoch, best-epoch restore, and
preprocessing fitted on the training split only."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.data import DataInfo, Split, TrialData, make_splits
from automl.engine.stopping import Decision, StopReason
from automl.errors import TrialFailed
from automl.plugin.host import PluginHost
from automl.plugin.testing import check_trainer, tiny_dataset
from automl.plugin.trainer import TrialContext
from automl_plugins.sklearn_fitted import load_model
from automl_plugins.sklearn_models import TRAINERS, Growth, SklearnTrainer
from tests.helpers import trial_context

BY_NAME = {t.name: t for t in TRAINERS}


class Script:
    """A judge that records reports, calls epochs ``improved`` and stops at ``stop_at``."""

    def __init__(self, improved: set[int] | None = None, stop_at: int | None = None) -> None:
        self.improved = improved
        self.stop_at = stop_at
        self.reports: list[dict[str, float]] = []

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        self.reports.append(dict(metrics))
        improved = self.improved is None or epoch in self.improved
        if self.stop_at is not None and epoch >= self.stop_at:
            return Decision(stop=True, reason=StopReason.EARLY_STOPPED, improved=improved)
        return Decision(improved=improved)


def ctx_for(tmp_path: Path, judge: Any = None, max_epochs: int = 10) -> TrialContext:
    return trial_context(tmp_path / "trial_0.pt", reporter=judge, seed=3,
                         max_epochs=max_epochs)


def trial_data(task: str = "classification", n: int = 160) -> TrialData:
    return make_splits(tiny_dataset(task, n=n), val=0.25, test=0.0, seed=0,  # type: ignore[arg-type]
                       stratify=task == "classification").for_trial()


def saved_model(tmp_path: Path, trainer: str = "logistic") -> Any:
    return load_model(tmp_path / "trial_0.pt", trainer)


def test_the_plugin_registers_every_trainer_through_its_entry_point() -> None:
    host = PluginHost().collect()
    expected = {"random_forest", "extra_trees", "hist_gbm", "logistic", "ridge", "svm", "knn"}
    assert expected <= set(host.trainers.names())
    assert {host.trainers.provider(n) for n in expected} == {"sklearn"}
    assert host.trainers.get("logistic").tasks == ("classification",)
    assert host.trainers.get("ridge").tasks == ("regression",)


@pytest.mark.parametrize("trainer", TRAINERS, ids=lambda t: t.name)
def test_trainer_keeps_the_contract_for_each_of_its_tasks(trainer: SklearnTrainer) -> None:
    checks = check_trainer(trainer)
    assert [c.task for c in checks] == list(trainer.tasks)
    for check in checks:
        assert len(check.reports) == (3 if trainer.growth else 1)


@pytest.mark.parametrize(("growth", "params", "max_epochs", "sizes"), [
    (Growth("n_estimators", "trees_per_epoch", 10, 100, True), {}, 30, list(range(10, 101, 10))),
    (Growth("n_estimators", "trees_per_epoch", 10, 100, True), {}, 4, [25, 50, 75, 100]),
    (Growth("n_estimators", "trees_per_epoch", 10, 100, True), {"n_estimators": 15}, 30, [8, 15]),
    (Growth("n_estimators", "trees_per_epoch", 10, 100, True), {"trees_per_epoch": 50}, 30,
     [50, 100]),
    (Growth("max_iter", "iterations_per_epoch", 10, None, False), {}, 3, [10, 20, 30]),
    (Growth("max_iter", "iterations_per_epoch", 10, None, False),
     {"iterations_per_epoch": 5.0}, 2, [5, 10]),
    (Growth("max_iter", "iterations_per_epoch", 10, None, False), {"max_iter": 25}, 30,
     [8, 17, 25]),
])
def test_growth_plan(growth: Growth, params: dict[str, Any], max_epochs: int,
                     sizes: list[int]) -> None:
    assert growth.plan(params, max_epochs) == sizes


@pytest.mark.parametrize("bad", [0, -3, 2.5, "ten", True])
def test_growth_plan_rejects_a_bad_chunk(bad: object) -> None:
    growth = Growth("max_iter", "iterations_per_epoch", 10, None, False)
    with pytest.raises(TrialFailed, match="iterations_per_epoch.*positive integer"):
        growth.plan({"iterations_per_epoch": bad}, 5)


def test_hist_gbm_adds_iterations_per_epoch_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    judge = Script(improved={1, 2}, stop_at=4)
    result = BY_NAME["hist_gbm"].fit({"learning_rate": 0.3}, trial_data(),
                                     ctx_for(tmp_path, judge))
    assert len(judge.reports) == 4  # stopped when told, at epoch 4
    assert result["n_iter"] == 20  # the model of epoch 2: 2 x 10 iterations
    assert result["val_accuracy"] == judge.reports[1]["val_accuracy"]
    assert result["val_loss"] == pytest.approx(judge.reports[1]["val_loss"])
    # the training loss falls as iterations are added: the epochs are real
    losses = [r["train_loss"] for r in judge.reports]
    assert losses == sorted(losses, reverse=True) and losses[0] > losses[-1]
    assert saved_model(tmp_path, "hist_gbm").estimator.n_iter_ == 20


@pytest.mark.parametrize("name", ["random_forest", "extra_trees"])
def test_a_forest_restores_the_best_epoch_by_dropping_later_trees(tmp_path: Path,
                                                                  name: str) -> None:
    judge = Script(improved={1}, stop_at=3)
    result = BY_NAME[name].fit({"n_estimators": 30}, trial_data(),
                               ctx_for(tmp_path, judge, max_epochs=3))
    assert len(judge.reports) == 3
    assert result["n_estimators"] == 10
    model = saved_model(tmp_path, name).estimator
    assert len(model.estimators_) == 10
    assert result["val_accuracy"] == judge.reports[0]["val_accuracy"]
    assert type(model).__name__ == {"random_forest": "RandomForestClassifier",
                                    "extra_trees": "ExtraTreesClassifier"}[name]


def test_a_misspelled_param_fails_the_trial_naming_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(TrialFailed, match="random_forest.*n_estimator.*Valid parameters"):
        BY_NAME["random_forest"].fit({"n_estimator": 5}, trial_data(), ctx_for(tmp_path))


def test_params_reach_the_estimator(tmp_path: Path) -> None:
    BY_NAME["knn"].fit({"n_neighbors": 7, "weights": "distance"}, trial_data(),
                       ctx_for(tmp_path))
    est = saved_model(tmp_path, "knn").estimator
    assert est.n_neighbors == 7 and est.weights == "distance"


def _with_missing_values(shift: float = 0.0) -> tuple[TrialData, np.ndarray]:
    rng = np.random.default_rng(0)
    n_train, n_val = 80, 40
    x = rng.normal(size=(n_train + n_val, 3)).astype(np.float32)
    x[:, 2] = rng.integers(0, 2, size=len(x))  # a 0/1 column, like a one-hot code
    y = (x[:, 0] > 0).astype(np.int64)
    x[rng.random(len(x)) < 0.2, 0] = np.nan
    x[n_train:, 1] += shift  # validation values far from training ones
    info = DataInfo(name="m", task="classification", input_shape=(3,), n_outputs=2)
    data = TrialData(info=info, train=Split(x[:n_train], y[:n_train]),
                     val=Split(x[n_train:], y[n_train:]))
    return data, x[:n_train]


def test_imputation_and_scaling_are_fitted_on_the_training_split_only(tmp_path: Path) -> None:
    data, x_train = _with_missing_values(shift=1000.0)
    BY_NAME["logistic"].fit({}, data, ctx_for(tmp_path))
    pre = saved_model(tmp_path).preprocessor
    numeric = pre.named_transformers_["numeric"]
    np.testing.assert_allclose(numeric.named_steps["impute"].statistics_,
                               np.nanmedian(x_train[:, :2], axis=0), rtol=1e-6)
    imputed = np.where(np.isnan(x_train[:, 0]), np.nanmedian(x_train[:, 0]), x_train[:, 0])
    scale = numeric.named_steps["scale"]
    assert scale.mean_[:2] == pytest.approx([imputed.mean(), x_train[:, 1].mean()], rel=1e-5)
    assert pre.transformers_[1][0] == "binary" and pre.transformers_[1][2] == [2]


@pytest.mark.parametrize("name", ["hist_gbm", "random_forest", "extra_trees", "logistic", "svm",
                                  "knn"])
def test_missing_values_are_handled(tmp_path: Path, name: str) -> None:
    data, _ = _with_missing_values()
    result = BY_NAME[name].fit({}, data, ctx_for(tmp_path, max_epochs=2))
    assert result["val_accuracy"] >= 0.75  # the label is x0 > 0, missing in 20% of rows


def test_regression_metrics_are_in_the_targets_units(tmp_path: Path) -> None:
    data = trial_data("regression")
    scaled = TrialData(info=data.info, train=Split(data.train.x, data.train.y * 1000 + 5000),
                       val=Split(data.val.x, data.val.y * 1000 + 5000))
    a = BY_NAME["ridge"].fit({"alpha": 1.0}, data, ctx_for(tmp_path / "a"))
    b = BY_NAME["ridge"].fit({"alpha": 1.0}, scaled, ctx_for(tmp_path / "b"))
    assert b["val_rmse"] == pytest.approx(1000 * a["val_rmse"], rel=1e-4)
    assert b["val_r2"] == pytest.approx(a["val_r2"], abs=1e-6)
    assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)  # standardized units


def test_a_class_missing_from_the_training_split_keeps_its_column(tmp_path: Path) -> None:
    # class 0 is absent from training (1 and 2 are there): a positional copy of the
    # estimator's columns would shift classes 1 and 2 into 0 and 1
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.where(x[:, 0] > 0, 2, 1).astype(np.int64)
    info = DataInfo(name="gap", task="classification", input_shape=(4,), n_outputs=3)
    val_y = y[40:].copy()
    val_y[:2] = 0
    data = TrialData(info=info, train=Split(x[:40], y[:40]), val=Split(x[40:], val_y))
    result = BY_NAME["logistic"].fit({}, data, ctx_for(tmp_path, max_epochs=2))
    model = saved_model(tmp_path)
    proba = model.outputs(model.transform(data.val.x))
    assert proba.shape == (20, 3) and (proba[:, 0] == 0).all()
    assert (proba.argmax(1)[2:] == val_y[2:]).mean() >= 0.8  # classes 1 and 2 where they were
    assert result["val_accuracy"] >= 0.7
    evaluated = BY_NAME["logistic"].evaluate({}, tmp_path / "trial_0.pt", data.val, info)
    assert evaluated["accuracy"] == result["val_accuracy"]


def test_images_are_flattened(tmp_path: Path) -> None:
    ds = tiny_dataset(image_shape=(1, 4, 4))
    checks = check_trainer(BY_NAME["logistic"], dataset=ds)
    assert checks[0].result["n_params"] == 16 * 3 + 3


class _Planted:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_evaluate_and_predict_never_unpickle_a_planted_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "trial_0.pt"
    path.write_bytes(pickle.dumps({"format": 1, "model": _Planted(marker)}))
    data = trial_data()
    with pytest.raises(TrialFailed, match="not a svm model file"):
        BY_NAME["svm"].evaluate({}, path, data.val, data.info)
    with pytest.raises(TrialFailed, match="not a svm model file"):
        BY_NAME["svm"].predict({}, path, data.val.x, data.info)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the planted file does run code when unpickled
    assert marker.exists()


def test_a_model_file_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    import skops.io

    path = tmp_path / "trial_0.pt"
    skops.io.dump({"format": 2, "trainer": "svm", "estimator": Growth("n", "c", 1, None, False)},
                  path)
    with pytest.raises(ValueError, match="types automl does not trust.*Growth"):
        load_model(path, "svm")


@pytest.mark.parametrize("trainer", TRAINERS, ids=lambda t: t.name)
def test_every_built_in_model_saves_to_a_file_it_trusts_and_predicts_as_it_scored(
        trainer: SklearnTrainer, tmp_path: Path) -> None:
    for task in trainer.tasks:
        data = trial_data(task, n=120)
        folder = tmp_path / task
        result = trainer.fit({}, data, ctx_for(folder, max_epochs=2))
        model = load_model(folder / "trial_0.pt", trainer.name)  # no untrusted type
        out = trainer.predict({}, folder / "trial_0.pt", data.val.x, data.info)
        if task == "classification":
            assert out.shape == (len(data.val), data.info.n_outputs)
            assert np.allclose(out.sum(axis=1), 1.0)
            accuracy = float((out.argmax(axis=1) == data.val.y).mean())
            assert accuracy == pytest.approx(result["val_accuracy"])
        else:
            rmse = float(np.sqrt(np.mean((out - data.val.y) ** 2)))
            assert rmse == pytest.approx(result["val_rmse"], rel=1e-6)
        assert model.task == task
