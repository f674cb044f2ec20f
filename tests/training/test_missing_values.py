"""The mlp trainer on tabular data with missing values (as a CSV with gaps gives it)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from automl.data import Dataset, make_splits
from automl.training import TorchTrainer
from automl_plugins.mlp import build_mlp
from tests.helpers import trial_context


def test_mlp_trains_on_data_with_missing_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    x[rng.random(x.shape) < 0.1] = np.nan  # 10 % missing
    splits = make_splits(Dataset("gappy", x, y, "classification"), val=0.2, test=0.2, seed=0,
                         stratify=True)
    ctx = trial_context(tmp_path / "m.pt", max_epochs=15)
    trainer = TorchTrainer("mlp", build_mlp, standardize=True)
    metrics = trainer.fit({"lr": 0.01, "width": 16, "depth": 1}, splits.for_trial(), ctx)
    assert math.isfinite(metrics["val_log_loss"])
    assert metrics["val_accuracy"] > 0.75  # the signal survives mean imputation
