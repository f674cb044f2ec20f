"""Search strategies on the digits CNN spec, side by side, on the same budget of epochs.

    .venv/bin/python bench/search_strategies.py [--epochs 300] [--seeds 0 1 2]

Each strategy runs the space of ``search_spaces/cnn.yaml`` with the same total budget of
training epochs (``budget.total_epochs``) for each seed, and the table shows, per
strategy (mean over seeds, with min-max): the epochs and the wall time spent until some
trial first reached a validation accuracy of 0.99 (counting every epoch of every trial
before it), how many seeds reached it at all, the best validation accuracy, and the test
accuracy of the best trial. Runs one after another in this process; nothing else should
run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import torch

from automl.reports import leaderboard_frame
from automl.search.controller import search
from automl.search.keys import TRIAL_RESULT
from automl.spec import load_spec

SPEC = Path(__file__).parents[1] / "search_spaces" / "cnn.yaml"
TARGET = 0.99

STRATEGIES: dict[str, dict[str, str]] = {
    "tpe + pruning + early stopping": {},
    "tpe, no pruning, no early stopping": {"pruner.name": "none",
                                           "early_stopping.enabled": "false"},
    "random, no pruning, no early stopping": {"sampler.name": "random", "pruner.name": "none",
                                              "early_stopping.enabled": "false"},
}


def time_to_target(study: optuna.Study) -> tuple[int | None, float | None]:
    """Epochs and seconds spent until a trial first reported val_accuracy >= TARGET."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    if not trials or trials[0].datetime_start is None:
        return None, None
    start = trials[0].datetime_start
    epochs = 0
    for t in trials:
        for row in t.user_attrs.get(TRIAL_RESULT, {}).get("history", []):
            epochs += 1
            if row.get("val_accuracy", 0.0) >= TARGET:
                assert t.datetime_start is not None
                return epochs, (t.datetime_start - start).total_seconds() + row["t"]
    return None, None


def run_one(name: str, overrides: dict[str, str], seed: int, epochs: int,
            folder: Path) -> dict[str, Any]:
    study = f"bench-{abs(hash(name)) % 10_000}-s{seed}"
    spec = load_spec(SPEC, {**overrides, "study": study, "sampler.seed": str(seed),
                            "budget.trials": "1000", "budget.total_epochs": str(epochs),
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("automl").setLevel(logging.WARNING)
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, overrides in STRATEGIES.items():
                row = run_one(name, overrides, seed, args.epochs, Path(tmp))
                print(f"seed {seed} | {name}: {row['trials']} trials, "
                      f"{row['epochs to 0.99']} epochs to {TARGET}, "
                      f"best val {row['best val acc']:.4f}, {row['wall s']:.1f}s", flush=True)
                rows.append(row)
    print()
    print(f"digits CNN (search_spaces/cnn.yaml), {args.epochs} epochs per run, seeds "
          f"{args.seeds}, torch threads {torch.get_num_threads()}")
    print(summarize(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
