"""automl with 1 and 2 workers against a plain Optuna + torch script, in one run.

    .venv/bin/python bench/workers.py [--trials 40]

Every variant runs the digits CNN search of ``search_spaces/cnn.yaml`` (same space, TPE
with seed 0, median pruner, early stopping) as its own process, one after another, and
the table shows wall time, CPU time (the process and all its children) and trials per
minute, with ratios to the plain script. The plain script is ``bench/plain_optuna.py``,
run with Optuna's default in-memory storage and with an SQLite file (automl keeps every
study in an SQLite file by default). Nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
AUTOML = str(Path(PY).with_name("automl"))


def measure(name: str, cmd: list[str], cwd: Path) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = (proc.stdout.strip().splitlines() or [""])[0]
    print(f"{name}: {wall:.1f}s wall, {cpu:.1f}s CPU | {last}", flush=True)
    return {"variant": name, "wall s": wall, "CPU s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    n = str(args.trials)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        spec = str(ROOT / "search_spaces" / "cnn.yaml")
        common = ["--space", spec, "--trials", n, "--seed", "0", "--set", "enqueue=[]"]
        rows.append(measure("plain Optuna script (in-memory)",
                            [PY, str(ROOT / "bench" / "plain_optuna.py"), "--trials", n], cwd))
        rows.append(measure("plain Optuna script (SQLite)",
                            [PY, str(ROOT / "bench" / "plain_optuna.py"), "--trials", n,
                             "--storage", f"sqlite:///{cwd / 'plain.db'}"], cwd))
        rows.append(measure("automl, 1 worker", [AUTOML, "search", *common, "--workers", "1",
                                                 "--study", "w1"], cwd))
        rows.append(measure("automl, 2 workers", [AUTOML, "search", *common, "--workers", "2",
                                                  "--study", "w2"], cwd))
    df = pd.DataFrame(rows)
    df["trials/min"] = args.trials / df["wall s"] * 60
    plain = df.loc[0, "wall s"]
    plain_sqlite = df.loc[1, "wall s"]
    one = df.loc[2, "wall s"]
    df["wall / plain (in-memory)"] = df["wall s"] / plain
    df["wall / plain (SQLite)"] = df["wall s"] / plain_sqlite
    df["speed-up vs automl 1 worker"] = one / df["wall s"]
    print()
    print(f"digits CNN, {args.trials} trials, TPE seed 0, median pruner; "
          f"{os.cpu_count()} cores")
    print(df.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
