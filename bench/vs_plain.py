"""automl against the plain Optuna + torch script it replaces, side by side in one run.

    .venv/bin/python bench/vs_plain.py [--trials 40] [--seeds 0 1 2] [--noop-trials 200]

For each seed, one process after another (nothing else should run on the machine):

- ``plain``: ``bench/plain_script.py``, the digits CNN search of ``search_spaces/cnn.yaml``
  written by hand the fast way (in-memory study, sliced tensors, no DataLoader);
- ``automl default``: ``automl search --space cnn`` with the spec's settings and no
  ``--workers`` (the layout automl picks for the machine: on 2 cores, 2 workers);
- ``automl 1 worker`` (and ``automl 2 workers`` where the default is not 2): the same
  with ``--workers 1`` / ``2``.

All search the same space with the same sampler (TPE), pruner (median, 5 start-up trials,
5 warm-up epochs), seed and number of trials; automl's warm-start config is left out
(``--set enqueue=[]``) so that both start from TPE's own draws (the first 10 trials, TPE's
random start-up, have the same params in both). The last variant is ``cnn.yaml`` as it
ships: its known-good config first, successive halving from 2 epochs. Columns: wall time of the
process, CPU seconds of the process and its children, CPU seconds of automl's controller
process alone, epochs trained, seconds from the command until some trial first reported a
validation accuracy >= 0.99, and the test accuracy of the best trial.

Then the no-op study, for the engine's cost per trial: ``--noop-trials`` trials of 10
epochs that train nothing (``bench/plain_noop.py`` against automl with
``bench/noop_plugin.py``): wall time, and the milliseconds per trial between the first
trial's start and the last one's end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
AUTOML = str(Path(PY).with_name("automl"))
TARGET = 0.99
NOOP_SPEC = """
study: noop
trainer: noop
dataset: {{name: iris}}
budget: {{trials: {trials}, max_epochs: 10}}
sampler: {{name: tpe, seed: {seed}}}
pruner: {{name: median, n_startup_trials: 5, n_warmup_steps: 5}}
params:
  x: {{type: float, low: 0.0, high: 1.0}}
"""


def run(name: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None
        ) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launched = time.time()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"variant": name, "wall s": wall, "CPU s": cpu, "launched": launched,
            "stdout": proc.stdout}


def plain_row(row: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    reached = [e["at"] for t in record["trials"] for e in t["epochs"]
               if e["val_accuracy"] >= TARGET]
    return {**row, "controller CPU s": None,
            "epochs": sum(len(t["epochs"]) for t in record["trials"]),
            "s to 0.99": min(reached) - row["launched"] if reached else None,
            "best val": record["best_value"], "test acc": record["test_accuracy"]}


def automl_row(row: dict[str, Any], cwd: Path, study_name: str) -> dict[str, Any]:
    study = optuna.load_study(study_name=study_name,
                              storage=f"sqlite:///{cwd / 'reports' / study_name / 'study.db'}")
    reached, epochs = [], 0
    for t in study.get_trials(deepcopy=False):
        history = t.user_attrs.get("automl", {}).get("history") or []
        epochs += len(history)
        if t.datetime_start is None:
            continue
        begun = t.datetime_start.timestamp()
        reached += [begun + h["t"] for h in history if h.get("val_accuracy", 0) >= TARGET]
    last = study.user_attrs.get("automl_last_run", {})
    best = study.best_trial
    test = study.user_attrs.get(f"automl_test_metrics:{best.number}", {})
    return {**row, "controller CPU s": last.get("controller_cpu_s"), "epochs": epochs,
            "s to 0.99": min(reached) - row["launched"] if reached else None,
            "best val": best.value, "test acc": test.get("accuracy"),
            "workers": last.get("workers")}


def cnn_seed(seed: int, trials: int, cwd: Path) -> list[dict[str, Any]]:
    rows = []
    out = cwd / f"plain-{seed}.json"
    row = run("plain (in-memory, sliced)", [PY, str(ROOT / "bench" / "plain_script.py"),
                                           "--trials", str(trials), "--seed", str(seed),
                                           "--out", str(out)], cwd)
    rows.append(plain_row(row, json.loads(out.read_text())))
    common = ["search", "--space", "cnn", "--trials", str(trials), "--seed", str(seed)]
    # the plain script's study: no warm start, median pruning from 5 epochs
    cold = ["--set", "enqueue=[]", "--set",
            "pruner={name: median, n_startup_trials: 5, n_warmup_steps: 5}"]
    from automl.execution.devices import default_cpu_workers

    variants = [("automl default", cold), ("automl 1 worker", [*cold, "--workers", "1"])]
    if default_cpu_workers() != 2:  # else the default is the 2-worker run
        variants.append(("automl 2 workers", [*cold, "--workers", "2"]))
    variants.append(("automl, cnn.yaml as shipped", []))
    for i, (name, extra) in enumerate(variants):
        study = f"cnn-{i}-{seed}"
        row = run(name, [AUTOML, *common, *extra, "--study", study], cwd)
        rows.append(automl_row(row, cwd, study))
    for r in rows:
        r["seed"] = seed
    return rows


def noop(trials: int, seed: int, cwd: Path) -> list[dict[str, Any]]:
    out = cwd / "noop.json"
    plain = run("plain in-memory", [PY, str(ROOT / "bench" / "plain_noop.py"), "--trials",
                                    str(trials), "--seed", str(seed), "--out", str(out)], cwd)
    rec = json.loads(out.read_text())
    plain["ms / trial"] = 1000 * (rec["last_end"] - rec["first_start"]) / trials
    spec = cwd / "noop.yaml"
    spec.write_text(NOOP_SPEC.format(trials=trials, seed=seed))
    env = {**os.environ, "AUTOML_PLUGIN_MODULES": "bench.noop_plugin",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    rows = [plain]
    for name, extra in (("automl default", []), ("automl 1 worker", ["--workers", "1"])):
        study = f"noop-{name.split()[-1]}"
        row = run(name, [AUTOML, "search", "--space", str(spec), "--study", study, *extra],
                  cwd, env)
        st = optuna.load_study(study_name=study,
                               storage=f"sqlite:///{cwd / 'reports' / study / 'study.db'}")
        done = [t for t in st.get_trials(deepcopy=False) if t.datetime_complete]
        first = min(t.datetime_start.timestamp() for t in done if t.datetime_start)
        last = max(t.datetime_complete.timestamp() for t in done if t.datetime_complete)
        row["ms / trial"] = 1000 * (last - first) / trials
        row["controller CPU s"] = st.user_attrs.get("automl_last_run", {}).get(
            "controller_cpu_s")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noop-trials", type=int, default=200)
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        if not args.skip_cnn:
            for seed in args.seeds:
                rows += cnn_seed(seed, args.trials, cwd)
                print(f"seed {seed} done", flush=True)
        noop_rows = noop(args.noop_trials, args.seeds[0], cwd)
    cols = ["seed", "variant", "workers", "wall s", "CPU s", "controller CPU s", "epochs",
            "s to 0.99", "best val", "test acc"]
    print(f"\ndigits CNN, {args.trials} trials, TPE + median pruner, seeds {args.seeds}; "
          f"{os.cpu_count()} cores")
    if rows:
        df = pd.DataFrame(rows)
        print(df[[c for c in cols if c in df]].to_markdown(index=False, floatfmt=".4g"))
        plain = df[df["variant"].str.startswith("plain")].set_index("seed")
        summary = []
        for variant, group in df.groupby("variant", sort=False):
            g = group.set_index("seed")
            summary.append({"variant": variant,
                            "wall / plain": (g["wall s"] / plain["wall s"]).median(),
                            "s to 0.99 / plain": (g["s to 0.99"] / plain["s to 0.99"]).median(),
                            "wall s (median)": g["wall s"].median(),
                            "controller CPU s (median)": g["controller CPU s"].median(),
                            "test acc (median)": g["test acc"].median()})
        print("\nmedians over seeds of the per-seed ratios")
        print(pd.DataFrame(summary).to_markdown(index=False, floatfmt=".3g"))
    nd = pd.DataFrame(noop_rows)
    nd["ms / trial vs plain"] = nd["ms / trial"] / nd.loc[0, "ms / trial"]
    print(f"\nno-op study: {args.noop_trials} trials x 10 epochs, TPE + median")
    print(nd[["variant", "wall s", "CPU s", "controller CPU s", "ms / trial",
              "ms / trial vs plain"]].to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
