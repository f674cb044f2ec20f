"""Search strategies on the digits CNN spec, side by side, on the same budget.

    .venv/bin/python bench/search_strategies.py [--epochs 300 | --timeout 60] [--seeds 0 1 2]
                                                [--strategies algorithms | stopping]

Each strategy runs the space of ``search_spaces/cnn.yaml`` (without its warm-start
config) with the same budget for each seed: a total of training epochs
(``budget.total_epochs``) or of wall time (``budget.timeout``), with automl's default
workers. The table shows, per strategy (mean over seeds, with min-max): the epochs and the
seconds spent until some trial first reached a validation accuracy of 0.99 (every epoch of
every trial reported before that moment counts), how many seeds reached it at all, the
best validation accuracy, and the test accuracy of the best trial. ``--strategies
algorithms`` compares samplers with and without pruning; ``stopping`` compares pruners,
their warm-up and early stopping's patience (how the shipped specs' defaults were chosen).
Runs one after another in this process; nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from automl.engine.controller import search
from automl.engine.keys import TRIAL_RESULT
from automl.reports import leaderboard_frame
from automl.spec import load_spec

SPEC = Path(__file__).parents[1] / "search_spaces" / "cnn.yaml"
TARGET = 0.99

STOPPING: dict[str, dict[str, str]] = {
    "median, warm-up 5, patience 5 (cnn.yaml)": {},
    "median, warm-up 2, patience 5": {"pruner.n_warmup_steps": "2"},
    "median, warm-up 5, patience 3": {"early_stopping.patience": "3"},
    "median, warm-up 5, patience 8": {"early_stopping.patience": "8"},
    "successive halving, min 2 epochs": {"pruner": "{name: successive_halving, min_resource: 2}"},
    "hyperband, min 2 epochs": {"pruner": "{name: hyperband, min_resource: 2}"},
    "no pruning, patience 5": {"pruner.name": "none"},
}

STRATEGIES: dict[str, dict[str, str]] = {
    "tpe + pruning + early stopping": {},
    "tpe, no pruning, no early stopping": {"pruner.name": "none",
                                           "early_stopping.enabled": "false"},
    "random, no pruning, no early stopping": {"sampler.name": "random", "pruner.name": "none",
                                              "early_stopping.enabled": "false"},
}


def time_to_target(study: optuna.Study) -> tuple[int | None, float | None]:
    """Epochs and seconds spent until a trial first reported val_accuracy >= TARGET; the
    epochs are every epoch of every trial reported before that moment."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start is not None]
    if not trials:
        return None, None
    start = min(t.datetime_start.timestamp() for t in trials)  # type: ignore[union-attr]
    moments = []  # (seconds, reached)
    for t in trials:
        begun = t.datetime_start.timestamp() - start  # type: ignore[union-attr]
        for row in t.user_attrs.get(TRIAL_RESULT, {}).get("history", []):
            moments.append((begun + row["t"], row.get("val_accuracy", 0.0) >= TARGET))
    moments.sort()
    for epochs, (at, reached) in enumerate(moments, start=1):
        if reached:
            return epochs, at
    return None, None


def run_one(name: str, overrides: dict[str, str], seed: int, budget: dict[str, str],
            folder: Path) -> dict[str, Any]:
    study = f"bench-{abs(hash(name)) % 10_000}-s{seed}"
    spec = load_spec(SPEC, {**overrides, "study": study, "sampler.seed": str(seed),
                            "budget.trials": "1000", **budget,
                            # no warm start: each strategy finds its own way
                            "enqueue": "[]",
                            "report.dir": str(folder / study), "report.top_k": "1"})
    start = time.perf_counter()
    result = search(spec)
    wall = time.perf_counter() - start
    st = optuna.load_study(study_name=study, storage=result.storage)
    frame = leaderboard_frame(st)
    to_epochs, to_seconds = time_to_target(st)
    spent = sum(t.user_attrs.get(TRIAL_RESULT, {}).get("epochs", 0) for t in st.trials)
    return {"strategy": name, "seed": seed, "trials": len(frame),
            "pruned": int((frame["state"] == "pruned").sum()), "epochs spent": spent,
            "epochs to 0.99": to_epochs, "s to 0.99": to_seconds,
            "best val acc": frame["val_accuracy"].max(),
            "test acc of best": frame.iloc[0].get("test_accuracy"), "wall s": wall}


def summarize(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    out = []
    for name, g in df.groupby("strategy", sort=False):
        def span(col: str, fmt: str = ".0f", g: pd.DataFrame = g) -> str:
            v = g[col].dropna()
            if v.empty:
                return "-"
            return f"{v.mean():{fmt}} ({v.min():{fmt}}-{v.max():{fmt}})"

        out.append({"strategy": name, "reached 0.99": f"{g['epochs to 0.99'].notna().sum()}"
                    f"/{len(g)}", "epochs to 0.99": span("epochs to 0.99"),
                    "s to 0.99": span("s to 0.99", ".1f"), "trials": span("trials"),
                    "pruned": span("pruned"), "best val acc": span("best val acc", ".4f"),
                    "test acc of best": span("test acc of best", ".4f"),
                    "wall s": span("wall s", ".1f")})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=300, help="epoch budget per run")
    parser.add_argument("--timeout", type=int, default=None,
                        help="a budget of seconds per run instead of epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", choices=["algorithms", "stopping"],
                        default="algorithms")
    args = parser.parse_args()
    strategies = STRATEGIES if args.strategies == "algorithms" else STOPPING
    budget = ({"budget.timeout": f"{args.timeout}s"} if args.timeout
              else {"budget.total_epochs": str(args.epochs)})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("automl").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, overrides in strategies.items():
                row = run_one(name, overrides, seed, budget, Path(tmp))
                print(f"seed {seed} | {name}: {row['trials']} trials, "
                      f"{row['epochs to 0.99']} epochs to {TARGET}, "
                      f"best val {row['best val acc']:.4f}, {row['wall s']:.1f}s", flush=True)
                rows.append(row)
    print()
    what = f"{args.timeout} s" if args.timeout else f"{args.epochs} epochs"
    print(f"digits CNN (search_spaces/cnn.yaml), {what} per run, seeds {args.seeds}, "
          f"automl's default workers")
    print(summarize(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
