"""The no-op study written by hand: Optuna in memory, TPE and the median pruner, and an
objective that trains nothing but reports ``--epochs`` epochs (``bench/noop_plugin.py``'s
curve). The baseline of the per-trial overhead in ``bench/vs_plain.py``.

    python bench/plain_noop.py --trials 200 --epochs 10 --seed 0 --out run.json
"""

from __future__ import annotations

import argparse
import json
import time

import optuna


def curve(x: float, epoch: int) -> float:
    return (0.95 - (x - 0.3) ** 2) * (1 - 0.5 ** epoch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    starts: list[float] = []
    ends: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        starts.append(time.time())
        x = trial.suggest_float("x", 0.0, 1.0)
        acc = 0.0
        try:
            for epoch in range(1, args.epochs + 1):
                acc = curve(x, epoch)
                trial.report(acc, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        finally:
            ends.append(time.time())
        return acc

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed, multivariate=True, group=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    study.optimize(objective, n_trials=args.trials)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"first_start": starts[0], "last_end": ends[-1],
                       "trials": args.trials}, f)


if __name__ == "__main__":
    main()
