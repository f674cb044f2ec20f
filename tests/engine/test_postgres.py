"""Several machines on one PostgreSQL study: `automl worker` processes sharing the budget.

Needs a PostgreSQL server: `.ci/run` starts a throwaway one (scripts/test-postgres.sh) and
exports AUTOML_TEST_POSTGRES_URL. Without it these tests are skipped, except in CI, where
a missing server is a failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

import automl
from automl.engine.controller import Controller
from automl.engine.keys import TRIAL_RESULT
from automl.spec import load_spec
from tests.helpers import SLOW_SPEC, run_cli, wait_for
from tests.helpers import WriteSpec as Spec

URL = os.environ.get("AUTOML_TEST_POSTGRES_URL")
AUTOML = str(Path(sys.executable).with_name("automl"))
if os.environ.get("CI") and not URL:
    raise RuntimeError("CI must run the PostgreSQL tests: AUTOML_TEST_POSTGRES_URL is not set")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not URL, reason="no PostgreSQL (AUTOML_TEST_POSTGRES_URL)")]


def _create(write_spec: Spec, trials: int) -> str:
    """The first process creates the schema and the study, before any worker starts."""
    name = f"pg-{uuid.uuid4().hex[:8]}"
    spec = load_spec(write_spec(SLOW_SPEC), {"execution.storage": str(URL), "study": name,
                                        "budget.trials": str(trials)})
    Controller(spec).open().close()
    return name


def _states(name: str) -> list[str]:
    return [t.state.name for t in automl.load_study(name, URL).trials]


def test_two_workers_finish_one_study_with_the_exact_budget(worker_env: dict[str, str],
                                                            write_spec: Spec) -> None:
    name = _create(write_spec, trials=6)
    runs = [run_cli(["worker", "--study", name, "--storage", str(URL), "--workers", "1"],
                 worker_env) for _ in range(2)]
    outs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    states = _states(name)
    # when both asked for the budget's last trial at once, the newer one was given back to
    # the queue untrained (WAITING): the budget is exact either way
    assert states.count("COMPLETE") == 6 and set(states) <= {"COMPLETE", "WAITING"}, states
    ran = [int(out.split(" run now")[0].rsplit("; ", 1)[-1]) for out in outs]
    assert sum(ran) == 6 and min(ran) >= 1, outs  # both took part
    frame = automl.leaderboard(name, URL)
    assert len(frame) == 6 and list(frame["rank"]) == list(range(1, 7))


def test_kill_9_of_a_worker_leaves_its_trial_failed_and_retried_by_the_other(
        worker_env: dict[str, str], write_spec: Spec) -> None:
    name = _create(write_spec, trials=6)
    # the victim's trials take 10 x 5 s, so the one it holds is surely running when killed
    victim = run_cli(["worker", "--study", name, "--storage", str(URL), "--workers", "1"],
                  {**worker_env, "AUTOML_TEST_EPOCH_S": "5"}, start_new_session=True)
    wait_for(lambda: "RUNNING" in _states(name), timeout=120)
    survivor = run_cli(["worker", "--study", name, "--storage", str(URL), "--workers", "1"],
                    worker_env)
    wait_for(lambda: "COMPLETE" in _states(name), timeout=120)
    assert _states(name)[0] == "RUNNING"  # the victim's
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    out, _ = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, out
    study = automl.load_study(name, URL)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(complete) == 6  # the budget, exactly
    assert len(failed) == 1 and TRIAL_RESULT not in failed[0].user_attrs  # failed by heartbeat
    assert failed[0].params in [t.params for t in complete]  # and retried


def test_predict_and_export_read_a_postgresql_study(in_tmp: Path) -> None:
    """``automl predict STUDY --storage URL --trial N`` and ``automl.load(study=...,
    storage=...)`` on a study that lives on the server: the trial is trained again from
    its params (top_k 1 keeps only the best trial's weights) and predicts well."""
    name = f"pg-{uuid.uuid4().hex[:8]}"
    spec = {"study": name, "trainer": "knn", "dataset": {"name": "iris"},
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "budget": {"trials": 3, "max_epochs": 1}, "sampler": {"name": "random", "seed": 0},
            "execution": {"workers": 0, "storage": str(URL)},
            "params": {"n_neighbors": {"type": "int", "low": 1, "high": 15}},
            "report": {"top_k": 1}}
    run = automl.search(spec, progress=False)
    other = next(n for n in range(3) if n != run.best_trial["number"])
    iris = datasets.load_iris(as_frame=True).frame
    iris.drop(columns=["target"]).to_csv(in_tmp / "new.csv", index=False)

    done = subprocess.run([AUTOML, "predict", name, "--storage", str(URL), "--trial",
                           str(other), "--data", "new.csv", "--out", "p.csv"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    preds = pd.read_csv(in_tmp / "p.csv")
    model = automl.load(study=name, trial=other, storage=str(URL))
    assert model.record.trial == other
    names = np.asarray(datasets.load_iris().target_names)
    assert preds["prediction"].tolist() == list(model.predict(in_tmp / "new.csv"))
    assert np.mean(preds["prediction"].to_numpy() == names[iris["target"]]) > 0.8
    missing = subprocess.run([AUTOML, "predict", name, "--storage", str(URL), "--trial", "9",
                              "--data", "new.csv"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no trial 9" in missing.stderr, missing.stderr


def test_best_materialises_on_the_machine_that_did_not_run_the_best_trial(
        worker_env: dict[str, str], write_spec: Spec, tmp_path: Path) -> None:
    """Two machines, two local folders (each worker's own reports/), one shared artifact
    folder (execution.artifacts): each machine's best/ holds the best trial's weights,
    whichever machine trained it."""
    shared = tmp_path / "shared"
    name = f"pg-{uuid.uuid4().hex[:8]}"
    spec = load_spec(write_spec(SLOW_SPEC), {
        "execution.storage": str(URL), "study": name, "budget.trials": "6",
        "execution.artifacts": str(shared)})
    Controller(spec).open().close()
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    # machine b mounts the shared folder at another path, and says so with --set
    (tmp_path / "mount-b").symlink_to(shared, target_is_directory=True)
    shared.mkdir()
    extra = [[], ["--set", f"execution.artifacts={tmp_path / 'mount-b'}"]]
    runs = []
    for folder, more in zip(machines, extra, strict=True):
        folder.mkdir()
        runs.append(run_cli(["worker", "--study", name, "--storage", str(URL), "--workers",
                             "1", *more], worker_env, cwd=folder))
    outs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    ran = [{int(n) for n in re.findall(r"trial (\d+) complete", out)} for out in outs]
    assert ran[0] and ran[1] and not ran[0] & ran[1], ran  # each trained its own trials
    best = automl.load_study(name, URL).best_trial.number
    checkpoint = shared / name / "checkpoints" / f"trial_{best}.pt"
    assert checkpoint.is_file()
    for folder in machines:
        bundle = folder / "reports" / name / "best"
        assert json.loads((bundle / "metrics.json").read_text())["trial"] == best
        assert (bundle / "model.pt").read_bytes() == checkpoint.read_bytes()
    # the optuna-dashboard artifacts are in the shared store too: a curve per trial
    assert len(list((shared / name / "artifacts").iterdir())) >= 6
