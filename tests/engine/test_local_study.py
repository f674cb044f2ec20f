"""A search holds its SQLite study in memory and saves it behind the search: the file ends
up with exactly what memory held, running trials reach it within the flush interval, one
process holds a file at a time, and a failed save is an error, not silent loss."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.engine import local_study
from automl.engine.controller import Controller
from automl.engine.local_study import LocalStudy, StudySaveError
from automl.engine.studies import make_storage
from automl.errors import UsageError
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

FIELDS = ("number", "state", "values", "params", "distributions", "user_attrs",
          "system_attrs", "intermediate_values", "datetime_start", "datetime_complete")


def _file_study(tmp_path: Path, name: str = "s") -> tuple[str, optuna.storages.BaseStorage]:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    durable = make_storage(url, heartbeat=False)
    optuna.create_study(storage=durable, study_name=name, direction="maximize")
    return url, durable


def _same_trials(a: optuna.Study, b: optuna.Study) -> None:
    ta, tb = a.get_trials(), b.get_trials()
    assert len(ta) == len(tb)
    for x, y in zip(ta, tb, strict=True):
        for field in FIELDS:
            assert getattr(x, field) == getattr(y, field), (x.number, field)


def test_the_file_holds_every_field_of_every_trial(in_tmp: Path, write_spec: Spec,
                                                   host: object) -> None:
    text = CURVE_SPEC.replace("pruner: {name: none}",
                              "pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}"
                              ).replace("trials: 6", "trials: 10")
    controller = Controller(load_spec(write_spec(text + "constraints: ['n_params <= 500']\n")),
                            host)  # type: ignore[arg-type]
    opened: list[optuna.Study] = []
    real_open = controller.open

    def spy() -> object:
        handle = real_open()
        opened.append(handle.study)
        return handle

    controller.open = spy  # type: ignore[method-assign]
    controller.run()
    memory = opened[0]
    assert isinstance(memory._storage, local_study.MirroredStorage)
    states = {t.state.name for t in memory.trials}
    assert {"COMPLETE", "PRUNED"} <= states  # pruned trials, intermediate values, constraints
    in_file = optuna.load_study(study_name="curve-study",
                                storage=f"sqlite:///{in_tmp / 'reports/curve-study/study.db'}")
    _same_trials(memory, in_file)
    assert in_file.user_attrs == memory.user_attrs  # spec record, test metrics, last run
    assert in_file.user_attrs["automl_last_run"]["stop_reason"] == "budget"


def test_running_trials_reach_the_file_within_the_flush_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_study, "FLUSH_S", 0.2)
    url, durable = _file_study(tmp_path)
    local = LocalStudy(url)
    study = local.open(durable, "s")
    try:
        finished = study.ask()
        finished.suggest_float("x", 0, 1)
        study.tell(finished, 0.5)
        running = study.ask()
        running.suggest_float("x", 0, 1)
        running.report(0.1, 1)
        running.report(0.2, 2)
        local.flush_due()  # the finished trial goes at once; the running one not yet
        local.sync()
        in_file = optuna.load_study(study_name="s", storage=url).trials
        assert [t.state.name for t in in_file] == ["COMPLETE", "RUNNING"]
        assert in_file[1].intermediate_values == {1: 0.1, 2: 0.2}
        running.report(0.3, 3)
        local.flush_due()  # under FLUSH_S since the last flush: not sent
        time.sleep(0.25)
        local.flush_due()
        local.sync()
        in_file = optuna.load_study(study_name="s", storage=url).trials
        assert in_file[1].intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3}
        study.tell(running, state=optuna.trial.TrialState.PRUNED)
    finally:
        local.close()
    _same_trials(study, optuna.load_study(study_name="s", storage=url))


def test_special_values_survive_the_file(tmp_path: Path) -> None:
    url, durable = _file_study(tmp_path)
    local = LocalStudy(url)
    study = local.open(durable, "s")
    try:
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        for step, value in enumerate((math.nan, math.inf, -math.inf, 1e-300)):
            trial.report(value, step)
        trial.set_user_attr("nested", {"a": [1, 2, {"b": None}], "s": "<b>é</b>"})
        study.tell(trial, math.inf)  # Optuna stores an infinite objective as such
    finally:
        local.close()
    back = optuna.load_study(study_name="s", storage=url).trials[0]
    assert back.value == math.inf and back.user_attrs["nested"]["s"] == "<b>é</b>"
    values = back.intermediate_values
    assert math.isnan(values[0]) and (values[1], values[2], values[3]) == (math.inf, -math.inf,
                                                                             1e-300)


def test_a_trial_the_file_holds_as_running_is_failed_and_retried_at_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url, durable = _file_study(tmp_path)
    crashed = optuna.load_study(study_name="s", storage=durable)
    done = crashed.ask()
    done.suggest_float("x", 0, 1)
    crashed.tell(done, 0.9)
    cut = crashed.ask()  # left RUNNING: its search was killed
    x = cut.suggest_float("x", 0, 1)
    local = LocalStudy(url)
    start = time.monotonic()
    study = local.open(durable, "s")
    try:
        assert time.monotonic() - start < 10  # no heartbeat grace period to wait for
        states = [t.state.name for t in study.trials]
        assert states == ["COMPLETE", "FAIL", "WAITING"]
        assert study.trials[2].system_attrs["fixed_params"] == {"x": x}
        retried = study.ask()
        assert retried.number == 2 and retried.suggest_float("x", 0, 1) == x  # same params
        study.tell(retried, 0.5)
    finally:
        local.close()
    in_file = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state.name for t in in_file] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert in_file[1].system_attrs["fail_reason"] == "the search running it was killed"


def test_one_process_holds_a_file_at_a_time(tmp_path: Path) -> None:
    url, durable = _file_study(tmp_path)
    first = LocalStudy(url)
    first.open(durable, "s")
    try:
        with pytest.raises(UsageError, match=rf"in use by automl search \(pid {os.getpid()}\)"):
            LocalStudy(url).open(durable, "s")
        with pytest.raises(UsageError, match="PostgreSQL"), local_study.shared_lock(url):
            pass  # `automl worker` on the same file: refused as well
    finally:
        first.close()
    second = LocalStudy(url)  # free again once the first is closed
    second.open(durable, "s")
    second.close()


def test_a_second_search_and_a_worker_on_a_held_file_get_one_line_and_exit_2(
        in_tmp: Path, write_spec: Spec, global_host: object) -> None:
    path = write_spec(CURVE_SPEC)
    report = in_tmp / "reports" / "curve-study"
    report.mkdir(parents=True)
    url = f"sqlite:///{report / 'study.db'}"
    durable = make_storage(url, heartbeat=False)
    optuna.create_study(storage=durable, study_name="curve-study", direction="maximize")
    holder = LocalStudy(url)
    holder.open(durable, "curve-study")
    try:
        for args in (["search", "--space", str(path)],
                     ["worker", "--study", "curve-study", "--storage", url]):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 2, result.output
            assert "is in use by automl search" in result.output
            assert "Traceback" not in result.output
        assert optuna.load_study(study_name="curve-study", storage=url).trials == []
    finally:
        holder.close()


def test_a_failed_save_is_an_error_that_names_the_file(tmp_path: Path) -> None:
    url, durable = _file_study(tmp_path)
    local = LocalStudy(url)
    study = local.open(durable, "s")
    try:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        local.sync()
        (tmp_path / "study.db").write_bytes(b"")  # the file is gone from under the writer
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        with pytest.raises(StudySaveError, match=r"could not save the study to .*study\.db"):
            local.sync()
    finally:
        local.close(wait=False)
