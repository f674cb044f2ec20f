"""The digits CNN search written the usual way: one Optuna + torch script, no automl.

The reference point for ``bench/workers.py``: the same space, sampler (TPE, seed 0),
pruner (median, 5 start-up trials, 5 warm-up epochs), early stopping (patience 5 on
val_loss, best weights kept), model and data split as ``search_spaces/cnn.yaml``, with a
DataLoader over a TensorDataset as most scripts have it.

    python bench/plain_optuna.py [--trials 40] [--storage sqlite:///x.db]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import optuna
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def data() -> tuple[TensorDataset, torch.Tensor, torch.Tensor]:
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None]
    y = digits.target.astype(np.int64)
    idx = np.arange(len(y))
    rest, _test = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    train, val = train_test_split(rest, test_size=0.25, random_state=0, stratify=y[rest])
    return (TensorDataset(torch.from_numpy(x[train]), torch.from_numpy(y[train])),
            torch.from_numpy(x[val]), torch.from_numpy(y[val]))


TRAIN, XVAL, YVAL = data()


def build(trial: optuna.Trial) -> nn.Module:
    layers: list[nn.Module] = []
    channels, size = 1, 8
    for i in range(trial.suggest_int("n_conv", 1, 3)):
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


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 3e-2, log=True)
    batch_size = trial.suggest_categorical("batch_size", [32, 64, 128])
    name = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    momentum = trial.suggest_float("momentum", 0.5, 0.99) if name == "sgd" else 0.0
    weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
    torch.manual_seed(trial.number)
    model = build(trial)
    if name == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr,
                                                      weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                              weight_decay=weight_decay)
    loader = DataLoader(TRAIN, batch_size=batch_size, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    best_loss, best_acc, best_state, wait = float("inf"), 0.0, None, 0
    for epoch in range(1, 31):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(XVAL)
            val_loss = loss_fn(out, YVAL).item()
            val_acc = (out.argmax(1) == YVAL).float().mean().item()
        if val_loss < best_loss:
            best_loss, best_acc, wait = val_loss, val_acc, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            wait += 1
        trial.report(val_acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
        if wait >= 5:
            break
    torch.save(best_state, "/dev/null")
    return best_acc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--storage", default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", storage=args.storage, study_name="plain-digits",
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, group=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    start = time.perf_counter()
    study.optimize(objective, n_trials=args.trials)
    print(f"best {study.best_value:.4f} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
