"""The digits CNN search as an expert writes it by hand: Optuna + torch, no automl.

The baseline of ``bench/vs_plain.py``: the space, sampler (TPE, multivariate, grouped),
pruner (median, 5 start-up trials, 5 warm-up epochs), early stopping (patience 5 on
val_loss, best weights kept), model and data split of ``search_spaces/cnn.yaml``. Written
the fast way: an in-memory study, the data as tensors sliced with a shuffled index (no
DataLoader), evaluation under ``torch.inference_mode``, torch's default threads.

    python bench/plain_script.py --trials 40 --seed 0 --out run.json

``--out`` gets one JSON record: per trial its start and end (``time.time()``), epochs,
state and per-epoch validation accuracy with the time it was measured, and the test
accuracy of the best trial's kept weights.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from typing import Any

import numpy as np
import optuna
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

MAX_EPOCHS, PATIENCE = 30, 5


def load() -> dict[str, torch.Tensor]:
    digits = load_digits()
    x = torch.from_numpy((digits.images.astype(np.float32) / 16.0)[:, None])
    y = torch.from_numpy(digits.target.astype(np.int64))
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=0.2, random_state=0, stratify=y.numpy())
    train, val = train_test_split(rest, test_size=0.25, random_state=0,
                                  stratify=y.numpy()[rest])
    return {"xtr": x[train], "ytr": y[train], "xva": x[val], "yva": y[val],
            "xte": x[test], "yte": y[test]}


DATA = load()


def build(trial: optuna.Trial) -> nn.Module:
    layers: list[nn.Module] = []
    channels, size = 1, 8
    n_conv = trial.suggest_int("n_conv", 1, 3)
    for i in range(n_conv):
        out = trial.suggest_int(f"conv.{i}.channels", 8, 64, log=True)
        kernel = trial.suggest_categorical(f"conv.{i}.kernel", [3, 5])
        layers += [nn.Conv2d(channels, out, kernel, padding=kernel // 2, bias=False),
                   nn.BatchNorm2d(out), nn.ReLU()]
        if size >= 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        channels = out
    dropout = trial.suggest_float("dropout", 0.0, 0.5, step=0.05)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
               nn.Linear(channels, 10)]
    return nn.Sequential(*layers)


class Search:
    """The objective, keeping a record of each trial and the best weights."""

    def __init__(self) -> None:
        self.trials: list[dict[str, Any]] = []
        self.best_value = -1.0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_model: nn.Module | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        record: dict[str, Any] = {"number": trial.number, "start": time.time(), "epochs": [],
                                  "state": "complete"}
        self.trials.append(record)
        lr = trial.suggest_float("lr", 1e-4, 3e-2, log=True)
        batch_size = trial.suggest_categorical("batch_size", [32, 64, 128])
        name = trial.suggest_categorical("optimizer", ["adam", "sgd"])
        momentum = trial.suggest_float("momentum", 0.5, 0.99) if name == "sgd" else 0.0
        weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
        torch.manual_seed(trial.number)
        model = build(trial)
        opt: torch.optim.Optimizer
        if name == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                  weight_decay=weight_decay)
        xtr, ytr, xva, yva = DATA["xtr"], DATA["ytr"], DATA["xva"], DATA["yva"]
        best_loss, best_acc, best_state, wait = float("inf"), 0.0, None, 0
        try:
            for epoch in range(1, MAX_EPOCHS + 1):
                model.train()
                order = torch.randperm(len(ytr))
                for i in range(0, len(ytr), batch_size):
                    idx = order[i:i + batch_size]
                    opt.zero_grad(set_to_none=True)
                    F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
                    opt.step()
                model.eval()
                with torch.inference_mode():
                    out = model(xva)
                    val_loss = F.cross_entropy(out, yva).item()
                    val_acc = (out.argmax(1) == yva).float().mean().item()
                record["epochs"].append({"epoch": epoch, "val_accuracy": val_acc,
                                         "at": time.time()})
                if val_loss < best_loss:
                    best_loss, best_acc, wait = val_loss, val_acc, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    wait += 1
                trial.report(val_acc, epoch)
                if trial.should_prune():
                    record["state"] = "pruned"
                    raise optuna.TrialPruned()
                if wait >= PATIENCE:
                    break
        finally:
            record["end"] = time.time()
        if best_acc > self.best_value and best_state is not None:
            self.best_value, self.best_state, self.best_model = best_acc, best_state, model
        return best_acc

    def test_accuracy(self) -> float:
        assert self.best_model is not None and self.best_state is not None
        self.best_model.load_state_dict(self.best_state)
        self.best_model.eval()
        with torch.inference_mode():
            out = self.best_model(DATA["xte"])
        return (out.argmax(1) == DATA["yte"]).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = Search()
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed, multivariate=True, group=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    study.optimize(search, n_trials=args.trials)
    result = {"best_value": study.best_value, "test_accuracy": search.test_accuracy(),
              "trials": search.trials}
    print(f"best val {study.best_value:.4f}, test {result['test_accuracy']:.4f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
