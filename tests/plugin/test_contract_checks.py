"""automl.plugin.testing: the checks pass a good plugin and name the promise a broken one breaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import automl
from automl.data import DataInfo, Dataset, DatasetLoader, Split, TrialData
from automl.metrics import classification_metrics
from automl.plugin.testing import (
    ContractError,
    check_dataset,
    check_plugin,
    check_trainer,
    plugin_host,
    tiny_dataset,
)
from automl.plugin.trainer import TrialContext


def _proba(x: np.ndarray, centroids: np.ndarray, k: int) -> np.ndarray:
    d = ((x[:, None, :k] - centroids[None, :, :k]) ** 2).sum(axis=2)
    e = np.exp(-(d - d.min(axis=1, keepdims=True)))
    return e / e.sum(axis=1, keepdims=True)


class Centroids:
    """Nearest centroid on the first ``epoch`` features: a real, if small, trainer whose
    ``flaw`` breaks one promise at a time."""

    name = "centroids"
    tasks = ("classification",)
    description = "nearest centroid (tests)"

    def __init__(self, flaw: str = "") -> None:
        self.flaw = flaw

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> Any:
        x, y = data.train.x, data.train.y
        centroids = np.stack([x[y == c].mean(axis=0) for c in range(data.info.n_outputs)])
        if self.flaw == "noisy":  # an unseeded random source, large enough to show at epoch 1
            centroids = centroids + np.random.default_rng().normal(0.0, 0.1, centroids.shape)
        best = 1
        epochs = ctx.max_epochs + (2 if self.flaw == "too_many_epochs" else 0)
        for epoch in range(1, epochs + 1):
            if self.flaw == "no_report":
                break
            val = classification_metrics(data.val.y, _proba(data.val.x, centroids, epoch),
                                         "val_")
            metrics = {"train_loss": 1.0 / epoch, "val_loss": val["val_log_loss"], **val}
            if self.flaw == "no_val_loss":
                del metrics["val_loss"]
            if self.flaw == "nan" and epoch == 2:
                metrics["train_loss"] = float("nan")
            decision = ctx.report(epoch + (1 if self.flaw == "skips" else 0), metrics)
            if decision.improved and self.flaw != "no_restore":
                best = epoch
            if self.flaw == "no_restore":
                best = epoch
            if decision.stop and self.flaw != "ignores_stop":
                break
        if self.flaw == "no_report":
            return {"val_accuracy": 0.5}
        if self.flaw != "no_checkpoint":
            ctx.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            ctx.checkpoint_path.write_text(json.dumps({"k": best,
                                                       "centroids": centroids.tolist()}))
        return classification_metrics(data.val.y, _proba(data.val.x, centroids, best), "val_")

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        saved = json.loads(checkpoint.read_text())
        k = saved["k"] + (1 if self.flaw == "wrong_checkpoint" else 0)
        out = classification_metrics(split.y, _proba(split.x, np.array(saved["centroids"]), k))
        if self.flaw == "prefixed":
            return {f"val_{key}": v for key, v in out.items()}
        return out


def test_a_good_trainer_passes_and_the_check_says_what_it_saw() -> None:
    (check,) = check_trainer(Centroids(), max_epochs=4)
    assert check.task == "classification" and len(check.reports) == 4
    assert check.evaluated["accuracy"] == check.result["val_accuracy"]


@pytest.mark.parametrize(("flaw", "message"), [
    ("no_report", "returned without calling ctx.report"),
    ("no_val_loss", "epoch 1 did not report val_loss"),
    ("nan", "train_loss is nan"),
    ("skips", "reported epoch 2 where epoch 1 was due"),
    ("too_many_epochs", "reported epoch 4, past ctx.max_epochs=3"),
    ("ignores_stop", "kept training after ctx.report answered stop at epoch 2"),
    ("no_restore", "restore the best epoch's model"),
    ("no_checkpoint", "wrote no checkpoint"),
    ("prefixed", "without a prefix"),
    ("wrong_checkpoint", "the checkpoint is not the model fit() scored"),
    ("noisy", "two fits with the same ctx.seed differ at epoch 1"),
])
def test_a_broken_trainer_is_caught_with_the_promise_it_breaks(flaw: str, message: str) -> None:
    with pytest.raises(ContractError) as exc:
        check_trainer(Centroids(flaw))
    assert message in str(exc.value)
    assert str(exc.value).startswith("trainer 'centroids'")


def test_no_restore_is_caught_even_when_the_last_epoch_is_best() -> None:
    # the stop-at-2 run has epoch 1 as the best, so a trainer that keeps the last epoch
    # is caught whatever its learning curve looks like
    with pytest.raises(ContractError, match="stopped at epoch 2 with epoch 1 the best"):
        check_trainer(Centroids("no_restore"), dataset=tiny_dataset(n_features=2, seed=3))


def test_a_trainer_without_the_protocol_is_caught() -> None:
    class NoTasks(Centroids):
        tasks = ()  # type: ignore[assignment]

    class BadName(Centroids):
        name = "my trainer"

    with pytest.raises(ContractError, match="tasks must be a non-empty tuple"):
        check_trainer(NoTasks())
    with pytest.raises(ContractError, match="name must be"):
        check_trainer(BadName())


def test_nondeterminism_can_be_allowed() -> None:
    check_trainer(Centroids("noisy"), deterministic=False)


def _dataset(**changes: Any) -> Dataset:
    base = tiny_dataset(n=60)
    fields = {"name": "d", "x": base.x, "y": base.y, "task": "classification",
              "class_names": base.class_names, **changes}
    return Dataset(**fields)


@pytest.mark.parametrize(("dataset", "message"), [
    (lambda: _dataset(x=tiny_dataset(n=60).x.astype(np.float64)), "x must be a float32 array"),
    (lambda: _dataset(y=tiny_dataset(n=60).y.astype(np.int32)), "must be int64 class indices"),
    (lambda: _dataset(class_names=("a", "b")), "class indices must lie in 0..1"),
    (lambda: _dataset(feature_names=("a", "b")), "2 feature_names for x of shape (60, 6)"),
    (lambda: _dataset(x=np.where(np.eye(60, 6) > 0, np.inf, tiny_dataset(n=60).x)
                      .astype(np.float32)), "infinite"),
    (lambda: _dataset(task="regression", y=np.full(60, np.nan, np.float32)),
     "regression y must be finite floats"),
])
def test_a_broken_dataset_is_caught(dataset: Any, message: str) -> None:
    with pytest.raises(ContractError) as exc:
        check_dataset(dataset())
    assert message in str(exc.value)


def test_a_loader_must_return_a_dataset_and_the_same_one_twice() -> None:
    with pytest.raises(ContractError, match="load\\(\\) returned a tuple"):
        check_dataset(DatasetLoader("pair", lambda: (1, 2)))
    rng = np.random.default_rng()

    def jitter() -> Dataset:
        return _dataset(x=(tiny_dataset(n=60).x + rng.random()).astype(np.float32))

    with pytest.raises(ContractError, match="two loads with the same arguments"):
        check_dataset(DatasetLoader("jitter", jitter))
    ds = check_dataset(DatasetLoader("tiny", tiny_dataset), n=40, n_classes=2)
    assert len(ds.y) == 40


class _Plugin:
    @automl.hookimpl
    def register_trainers(self, register: Any) -> None:
        register(Centroids())


def test_plugin_host_calls_the_hooks_like_an_installed_plugin() -> None:
    host = plugin_host(_Plugin())
    assert host.trainers.names() == ["centroids"]
    assert "hist_gbm" in plugin_host(_Plugin(), entry_points=True).trainers


def test_check_plugin_for_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOML_PLUGINS", raising=False)
    monkeypatch.delenv("AUTOML_BLOCK_PLUGINS", raising=False)
    info = check_plugin("sklearn", provides={"trainer": ["hist_gbm", "svm"]})
    assert info.distribution == "automl"
    with pytest.raises(ContractError, match="does not register trainer nope"):
        check_plugin("sklearn", provides={"trainer": ["nope"]})
    with pytest.raises(ContractError, match="'not_installed': not found in the 'automl' "
                                            "entry-point group"):
        check_plugin("not_installed")
