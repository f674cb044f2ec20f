"""Trials in real worker processes: failures of every kind, Ctrl-C, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import time
from multiprocessing import Pipe
from typing import Any

import optuna
import pytest

import automl
import automl.plugin.host
from automl.engine.controller import search
from automl.engine.keys import TRIAL_RESULT
from automl.execution import messages, worker
from automl.spec import load_spec
from tests.helpers import (
    FAULTY_SPEC,
    SLOW_SPEC,
    one_done_one_running,
    run_cli,
    trial_states,
    wait_for,
)
from tests.helpers import WriteSpec as Spec

pytestmark = pytest.mark.slow

def _result(study: optuna.Study, number: int) -> dict:
    return study.trials[number].user_attrs[TRIAL_RESULT]


def test_every_failure_kind_is_recorded_and_the_study_goes_on(worker_env: dict[str, str],
                                                              write_spec: Spec) -> None:
    result = search(load_spec(write_spec(FAULTY_SPEC)))
    assert result.n_trials == 7 and result.stop_reason == "budget"
    study = automl.load_study("faulty")
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "FAIL", "FAIL", "FAIL", "FAIL", "COMPLETE"]
    assert "ValueError: bad luck in epoch 2" in _result(study, 1)["error"]
    assert "non-finite val_loss" in _result(study, 2)["error"]
    assert _result(study, 3)["error"].startswith("out of memory")
    assert "SIGKILL" in _result(study, 4)["error"]
    hang = _result(study, 5)
    assert hang["stop_reason"] == "timeout" and "trial_timeout" in hang["error"]
    # one worker process, reused while it lives, replaced after the OOM, the crash and the hang
    pids = [_result(study, n)["metrics"].get("pid") for n in (0, 6)]
    assert all(pids) and pids[0] != pids[1]
    frame = automl.leaderboard("faulty")
    assert list(frame["stop_reason"][frame["state"] == "failed"].sort_values()) == [
        "failed", "failed", "failed", "failed", "timeout"]
    assert (frame["device"] == "cpu").all()


def test_a_trainer_oserror_fails_its_trial_and_the_study_goes_on(
        worker_env: dict[str, str], write_spec: Spec) -> None:
    # A file the trainer cannot open is the trial's failure, not a lost controller.
    spec = FAULTY_SPEC.split("enqueue:")[0].replace(
        "mode: [ok, raise, nan, oom, crash, hang, slow]", "mode: [missing_file, ok]").replace(
        "trials: 7", "trials: 2") + "enqueue:\n  - {mode: missing_file, x: 0.3}\n" \
        "  - {mode: ok, x: 0.3}\n"
    result = search(load_spec(write_spec(spec)))
    assert result.n_trials == 2
    study = automl.load_study("faulty")
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert _result(study, 0)["error"].startswith("FileNotFoundError: ")
    assert "no-such-input.bin" in _result(study, 0)["error"]


class _Runner:
    """A worker's runner whose trial does ``trial(reporter)`` outside any trainer."""

    def __init__(self, trial: Any) -> None:
        self._trial = trial

    def trial(self, task: messages.TrialTask, reporter: Any) -> messages.FitResult:
        return self._trial(reporter)


def _worker_in_process(monkeypatch: pytest.MonkeyPatch, trial: Any,
                       before: Any = None) -> list[Any]:
    """Run :func:`worker.worker_main` here on one trial task (then Stop); returns what it
    sent. ``before(controller_end)`` runs once the tasks are queued."""
    monkeypatch.setattr(worker.signal, "signal", lambda *args: None)  # pytest's own SIGINT
    monkeypatch.setattr(worker, "show_in_worker", lambda: None)
    monkeypatch.setattr(worker.TrialRunner, "from_init",
                        classmethod(lambda cls, init, shared=None: _Runner(trial)))
    controller, end = Pipe()
    controller.send(messages.TrialTask(0, {}, 1, "/nonexistent/model.pt"))
    controller.send(messages.Stop())
    if before is not None:
        before(controller)
    worker.worker_main(end, messages.WorkerInit({}, None, "cpu", "cpu"))
    sent = []
    while not controller.closed and controller.poll(0.1):
        sent.append(controller.recv())
    return sent


def test_an_oserror_raised_by_the_task_is_reported_not_taken_for_a_lost_controller(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def trial(reporter: Any) -> messages.FitResult:
        raise FileNotFoundError(2, "No such file or directory", "/data/part-7.bin")

    sent = _worker_in_process(monkeypatch, trial)
    assert isinstance(sent[0], messages.Ready)
    # Before: the worker ended without a word, as if the controller had gone, and the
    # trial failed as "the worker exited" with nothing of why.
    crashed = sent[1]
    assert isinstance(crashed, messages.Crashed)
    assert crashed.error.startswith("FileNotFoundError: ") and "/data/part-7.bin" in crashed.error


def test_a_controller_gone_mid_trial_ends_the_worker_quietly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reached: list[str] = []

    def trial(reporter: Any) -> messages.FitResult:
        try:
            reporter(1, {"val_loss": 0.5})
        except Exception:  # a trainer's own handler must not swallow it  # noqa: BLE001
            reached.append("swallowed")
        reached.append("trained on")
        raise AssertionError("unreachable")

    sent = _worker_in_process(monkeypatch, trial, before=lambda controller: controller.close())
    assert sent == [] and reached == []  # it ended at the report, and raised nothing


def test_a_worker_is_reused_across_trials(worker_env: dict[str, str], write_spec: Spec) -> None:
    spec = FAULTY_SPEC.replace("mode: [ok, raise, nan, oom, crash, hang, slow]", "mode: ok").split(
        "enqueue:")[0].replace("trials: 7", "trials: 4")
    search(load_spec(write_spec(spec)))
    study = automl.load_study("faulty")
    pids = {_result(study, n)["metrics"]["pid"] for n in range(4)}
    assert len(pids) == 1 and os.getpid() not in pids  # not the controller's process


def test_refit_trains_in_a_worker_not_in_the_controller(worker_env: dict[str, str],
                                                       write_spec: Spec) -> None:
    spec = FAULTY_SPEC.replace("mode: [ok, raise, nan, oom, crash, hang, slow]", "mode: ok").split(
        "enqueue:")[0].replace("trials: 7", "trials: 3") + "report: {refit: true}\n"
    search(load_spec(write_spec(spec)))
    study = automl.load_study("faulty")
    refit = study.user_attrs["automl_refit"]
    workers = {_result(study, n)["metrics"]["pid"] for n in range(3)}
    # the trainer's evaluate() reports its pid: the refit model was scored in the worker
    assert refit["metrics"]["refit_test_pid"] in workers
    assert refit["metrics"]["refit_test_pid"] != os.getpid()
    assert automl.leaderboard("faulty").iloc[0]["refit_test_accuracy"] == 0.5


def test_two_workers_share_one_sqlite_study(worker_env: dict[str, str], write_spec: Spec) -> None:
    spec = FAULTY_SPEC.split("enqueue:")[0].replace(
        "mode: [ok, raise, nan, oom, crash, hang, slow]", "mode: slow").replace(
        "trials: 7", "trials: 6").replace("workers: 1", "workers: 2")
    result = search(load_spec(write_spec(spec)))
    assert result.n_trials == 6 and result.workers == 2
    study = automl.load_study("faulty")
    assert len(study.trials) == 6 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert len({_result(study, n)["metrics"]["pid"] for n in range(6)}) == 2
    # the two workers really ran at the same time
    spans = sorted((t.datetime_start, t.datetime_complete) for t in study.trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_ctrl_c_lets_the_running_trial_finish_then_resume_reaches_the_budget(
        worker_env: dict[str, str], write_spec: Spec) -> None:
    path = write_spec(SLOW_SPEC)
    # 5 s trials: a running one is in the file long enough to be seen on a loaded machine
    proc = run_cli(["search", "--space", str(path)], {**worker_env, "AUTOML_TEST_EPOCH_S": "0.5"})
    wait_for(one_done_one_running("faulty", at_most=3), run=proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "Ctrl-C" in out
    states = trial_states("faulty")
    assert states and all(s == "COMPLETE" for s in states)  # the running one finished
    done = len(states)
    assert done < 5

    proc = run_cli(["search", "--space", str(path)], worker_env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert trial_states("faulty") == ["COMPLETE"] * 5
    assert f"{5 - done} run now" in out


def test_second_ctrl_c_stops_now_and_the_trial_is_retried(worker_env: dict[str, str],
                                                         write_spec: Spec) -> None:
    path = write_spec(SLOW_SPEC)
    # 5 s trials: the one seen running is still running when the second Ctrl-C comes
    proc = run_cli(["search", "--space", str(path)], {**worker_env, "AUTOML_TEST_EPOCH_S": "0.5"})
    wait_for(one_done_one_running("faulty", at_most=3), run=proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    study = automl.load_study("faulty")
    interrupted = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(interrupted) == 1
    assert interrupted[0].user_attrs[TRIAL_RESULT]["stop_reason"] == "interrupted"

    proc = run_cli(["search", "--space", str(path)], worker_env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    study = automl.load_study("faulty")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 5
    assert interrupted[0].params in [t.params for t in complete]  # retried, same params


def test_kill_9_of_the_whole_search_then_resume(worker_env: dict[str, str],
                                                write_spec: Spec) -> None:
    path = write_spec(SLOW_SPEC)
    # 5 s trials: the one seen running is still running when the kill comes
    proc = run_cli(["search", "--space", str(path)], {**worker_env, "AUTOML_TEST_EPOCH_S": "0.5"},
                start_new_session=True)
    wait_for(one_done_one_running("faulty", at_most=3), run=proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    before = automl.load_study("faulty").trials
    complete_before = [t.number for t in before if t.state.name == "COMPLETE"]
    stale = [t for t in before if t.state.name == "RUNNING"]
    assert len(stale) == 1
    # The file, written behind the search, lost nothing that finished: each completed
    # trial is there with its whole curve (10 epochs: intermediate values and history).
    for t in before:
        if t.state.name == "COMPLETE":
            assert sorted(t.intermediate_values) == list(range(1, 11))
            assert [h["epoch"] for h in t.user_attrs[TRIAL_RESULT]["history"]] == \
                list(range(1, 11))
    # The running trial's epochs reached it too, up to about a second before the kill.
    assert stale[0].intermediate_values, "the running trial's epochs were not saved"

    proc = run_cli(["search", "--space", str(path)], worker_env)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert "1 trial(s) were running when the last search of faulty was killed" in out
    study = automl.load_study("faulty")
    states = {t.number: t.state.name for t in study.trials}
    assert all(states[n] == "COMPLETE" for n in complete_before)  # nothing finished is lost
    assert states[stale[0].number] == "FAIL"  # failed at the resume (nobody else ran it)...
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 5  # ...not counted, and the budget is exact
    assert stale[0].params in [t.params for t in complete]  # ...and retried
    frame = automl.leaderboard("faulty")
    assert len(frame) == 6
    row = frame[frame["trial"] == stale[0].number].iloc[0]
    assert row["stop_reason"] == "interrupted"
