"""A real search where an over-sized model on a few digits is stopped as overfitting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.nn import functional as F

import automl
from automl.data import Dataset, DatasetLoader, make_splits
from automl.engine.controller import search
from automl.engine.keys import TRIAL_RESULT
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from automl.training import load_model

SPEC = """
study: overfit
trainer: mlp
dataset: {name: few_digits}
split: {val: 0.5, test: 0.25, seed: 0}     # 100 rows to train on, 200 to validate
objective: {metric: val_accuracy, direction: maximize}
budget: {trials: 1, max_epochs: 100}
pruner: none
early_stopping: {monitor: val_loss, patience: 50, max_gap: 0.3}
execution: {workers: 0}                    # in this process: the dataset is this test's plugin
params:                                    # 300k parameters for 100 rows, no dropout
  width: 512
  depth: 2
  dropout: 0.0
  lr: 0.003
  batch_size: 16
"""


def few_digits() -> Dataset:
    """The first 400 of scikit-learn's digits (about 40 of each class), as 64 features."""
    bunch = load_digits()
    return Dataset("few_digits", (bunch.data[:400] / 16.0).astype(np.float32),
                   bunch.target[:400].astype(np.int64), "classification")


class FewDigits:
    """A dataset plugin registering :func:`few_digits`."""

    @automl.hookimpl
    def register_datasets(self, register: Callable[[DatasetLoader], None]) -> None:
        register(DatasetLoader("few_digits", few_digits))


def test_an_oversized_model_is_stopped_as_overfitting(in_tmp: Path, write_spec: Callable[..., Path]
                                                      ) -> None:
    torch.set_num_threads(1)
    host = PluginHost()
    host.register(FewDigits(), name="few-digits")
    search(load_spec(write_spec(SPEC)), host.collect())

    row = automl.leaderboard("overfit").iloc[0]
    assert row["state"] == "complete" and row["stop_reason"] == "overfitting"
    epochs, best = int(row["epochs"]), int(row["best_epoch"])
    assert best < epochs < 50  # long before patience (50) could end it

    history = automl.load_study("overfit").trials[0].user_attrs[TRIAL_RESULT]["history"]
    at_best, last, before = history[best - 1], history[-1], history[-2]
    for h in (before, last):  # the rule's three conditions, on the last two epochs
        assert h["val_loss"] > at_best["val_loss"]
        assert h["train_loss"] < at_best["train_loss"]
        assert h["val_loss"] - h["train_loss"] > 0.3
    assert last["train_accuracy"] == 1.0  # it has memorised its training rows
    # the leaderboard's numbers are the best epoch's, with its honest gap
    assert row["val_loss"] == pytest.approx(at_best["val_loss"])
    assert row["gap"] == pytest.approx(at_best["val_loss"] - at_best["train_loss"])

    # restore_best: the saved model is the best epoch's, not the last, overfitted one
    model = load_model(in_tmp / "reports/overfit/best/model.pt")
    val = make_splits(few_digits(), val=0.5, test=0.25, seed=0, stratify=True).val
    with torch.inference_mode():
        val_loss = F.cross_entropy(model(torch.from_numpy(val.x)), torch.from_numpy(val.y))
    assert float(val_loss) == pytest.approx(at_best["val_loss"], rel=1e-4)
    assert float(val_loss) < last["val_loss"]
    assert row["test_accuracy"] > 0.5  # chance is 0.1
