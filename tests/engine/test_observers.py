"""Observers of a search: the ``epoch_finished`` / ``trial_finished`` / ``study_finished``
hooks and the spec's trackers, in order, off the training path, a broken one turned off."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import automl
from automl.cli import main
from automl.engine.controller import search
from automl.errors import SpecError, UsageError
from automl.plugin import Tracker, TrackerPlugin, TrackingContext, hookimpl
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC, CurvePlugin, mlp_spec_head

Event = tuple[Any, ...]


class EpochObserver:
    """Observer hooks that record what they see; ``fail`` raises at the first epoch."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[Event] = []

    @hookimpl
    def epoch_finished(self, study_name: str, number: int, epoch: int,
                       metrics: dict[str, float]) -> None:
        self.events.append(("epoch", number, epoch, metrics["val_accuracy"]))
        if self.fail:
            raise RuntimeError("observer down")

    @hookimpl
    def trial_finished(self, number: int, state: str) -> None:
        self.events.append(("trial", number, state))

    @hookimpl
    def study_finished(self, study_name: str, reason: str) -> None:
        self.events.append(("study", study_name, reason))


class RecordingTracker(Tracker):
    def __init__(self, options: dict[str, Any], ctx: TrackingContext,
                 log: list[Event]) -> None:
        self.log = log
        self.fail_in = options.get("fail_in")
        log.append(("open", ctx.study_name, ctx.objectives, dict(options)))

    def _note(self, *event: Any) -> None:
        self.log.append(event)
        if event[0] == self.fail_in:
            raise RuntimeError(f"tracker down in {event[0]}")

    def trial_started(self, number: int, params: Mapping[str, Any]) -> None:
        self._note("started", number, dict(params))

    def epoch_finished(self, number: int, epoch: int, metrics: Mapping[str, float]) -> None:
        self._note("epoch", number, epoch)

    def trial_finished(self, number: int, state: str, values: list[float] | None,
                       attrs: Mapping[str, Any]) -> None:
        self._note("trial", number, state, attrs["epochs"])

    def study_finished(self, n_trials: int, best: Mapping[str, Any] | None, reason: str,
                       best_dir: Path | None) -> None:
        self._note("study", n_trials, best["number"] if best else None, best_dir)

    def close(self) -> None:
        self.log.append(("close",))


class TrackerPlugins:
    """Registers ``record`` (the recording tracker) and ``strict`` (refuses its options)."""

    def __init__(self) -> None:
        self.logs: dict[str, list[Event]] = {}

    @hookimpl
    def register_trackers(self, register: Callable[[TrackerPlugin], None]) -> None:
        def opener(name: str) -> Callable[[dict[str, Any], TrackingContext], Tracker]:
            def open_(options: dict[str, Any], ctx: TrackingContext) -> Tracker:
                return RecordingTracker(options, ctx, self.logs.setdefault(name, []))
            return open_

        def strict(options: dict[str, Any], ctx: TrackingContext) -> Tracker:
            raise UsageError(f"unknown option {sorted(options)[0]!r}; it takes: uri")

        def broken(options: dict[str, Any], ctx: TrackingContext) -> Tracker:
            raise ConnectionError("tracking server unreachable")

        register(TrackerPlugin("record", opener("record"), "records events (tests)"))
        register(TrackerPlugin("record2", opener("record2")))
        register(TrackerPlugin("strict", strict))
        register(TrackerPlugin("unreachable", broken))


def make_host(*observers: object) -> tuple[PluginHost, TrackerPlugins]:
    host = PluginHost()
    host.register(CurvePlugin(), name="curve-tests")
    trackers = TrackerPlugins()
    host.register(trackers, name="tracker-tests")
    for i, observer in enumerate(observers):
        host.register(observer, name=f"observer-{i}")
    return host.collect(), trackers


def curve_spec(write_spec: Callable[..., Path], tracking: str = "") -> Path:
    return write_spec(CURVE_SPEC + (f"tracking: {tracking}\n" if tracking else ""))


def test_every_epoch_reaches_the_observers_in_order_before_its_trial_ends(
        write_spec: Callable[..., Path], in_tmp: Path) -> None:
    observer = EpochObserver()
    host, trackers = make_host(observer)
    spec = load_spec(curve_spec(write_spec, "[{name: record, flavour: x}]"))
    search(spec, host)
    frame = automl.leaderboard(spec.study, f"sqlite:///{in_tmp}/reports/curve-study/study.db")
    epochs = dict(zip(frame["trial"], frame["epochs"], strict=True))
    assert len(epochs) == 6
    for number, n in epochs.items():
        seen = [e for e in observer.events if e[:2] == ("epoch", number)]
        assert [e[2] for e in seen] == list(range(1, n + 1))  # every epoch, in order
        assert all(0 < e[3] < 1 for e in seen)
        # its epochs come before its trial_finished
        ends = observer.events.index(("trial", number, "complete"))
        assert max(observer.events.index(e) for e in seen) < ends
    assert observer.events[-1] == ("study", "curve-study", "budget")

    log = trackers.logs["record"]
    assert log[0] == ("open", "curve-study", (("val_accuracy", "maximize"),), {"flavour": "x"})
    assert log[-1] == ("close",)
    for number, n in epochs.items():
        mine = [e for e in log[1:-2] if e[1] == number]
        assert mine[0][0] == "started" and 0.0 <= mine[0][2]["x"] <= 1.0
        assert [e[2] for e in mine if e[0] == "epoch"] == list(range(1, n + 1))
        assert mine[-1] == ("trial", number, "complete", n)
    study = log[-2]
    assert study[0] == "study" and study[1] == 6 and study[2] in epochs
    assert study[3] == in_tmp / "reports" / "curve-study" / "best" and study[3].is_dir()


def test_an_observer_that_raises_is_logged_once_and_the_search_goes_on(
        write_spec: Callable[..., Path], in_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken, working = EpochObserver(fail=True), EpochObserver()
    host, trackers = make_host(broken, working)
    spec = load_spec(curve_spec(write_spec, "[{name: record, fail_in: epoch}, record2]"))
    with caplog.at_level(logging.WARNING, logger="automl"):
        result = search(spec, host)
    assert result.counts.get("complete") == 6  # no trial failed for it
    # observer-0 raised at the first epoch and was never called again, by any hook
    assert broken.events == [("epoch", 0, 1, broken.events[0][3])]
    assert sum(e[0] == "epoch" for e in working.events) == sum(
        e[0] == "epoch" for e in trackers.logs["record2"])
    assert ("study", "curve-study", "budget") in working.events
    warnings = [r.getMessage() for r in caplog.records if "raised" in r.getMessage()]
    assert len(warnings) == 2, warnings  # once each, not once per epoch
    assert "plugin 'observer-0' raised in epoch_finished: RuntimeError: observer down" in \
        warnings[0] + warnings[1]
    assert any("tracker 'record' raised in epoch_finished" in w and "off for the rest" in w
               for w in warnings)
    record = trackers.logs["record"]
    assert [e[0] for e in record] == ["open", "started", "epoch", "close"]  # closed once
    assert trackers.logs["record2"][-1] == ("close",)


def test_a_tracker_that_cannot_start_is_left_out(write_spec: Callable[..., Path], in_tmp: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    host, trackers = make_host()
    spec = load_spec(curve_spec(write_spec, "[unreachable, record]"))
    with caplog.at_level(logging.WARNING, logger="automl"):
        result = search(spec, host)
    assert result.counts.get("complete") == 6
    assert "tracker 'unreachable' could not start and is off for this run: " \
           "ConnectionError: tracking server unreachable" in caplog.text
    assert trackers.logs["record"][-1] == ("close",)


@pytest.mark.parametrize(("tracking", "where", "expected"), [
    ("[{name: recrod}]", "tracking.0.name", "unknown tracker 'recrod' (did you mean 'record'"),
    ("[record, {name: nope}]", "tracking.1.name", "unknown tracker 'nope'"),
    ("recrod", "tracking.0.name", "did you mean 'record'"),
    ("[{uri: x}]", "tracking.0.name", "missing required key 'name'"),
    ("[{name: strict, ur: x}]", "tracking.0", "tracker 'strict': unknown option 'ur'"),
])
def test_a_bad_tracking_entry_is_a_spec_error_before_any_trial(
        write_spec: Callable[..., Path], in_tmp: Path, tracking: str, where: str,
        expected: str) -> None:
    host, _ = make_host()
    path = curve_spec(write_spec, tracking)
    with pytest.raises(SpecError) as caught:
        search(load_spec(path), host)
    message = str(caught.value)
    assert where in message and expected in message, message
    assert f"{path}:12: " in message, message
    assert not (in_tmp / "reports").exists()  # nothing made, nothing trained


def test_validate_checks_the_tracker_names(write_spec: Callable[..., Path], in_tmp: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import automl.plugin.host as host_module

    host, _ = make_host()
    monkeypatch.setattr(host_module, "_default", host)
    path = write_spec(mlp_spec_head("tracked") + "tracking: [{name: mlfow}]\n")
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    assert result.exit_code == 2, result.output
    assert "tracking.0.name" in result.output and "unknown tracker 'mlfow'" in result.output
    assert "Traceback" not in result.output
    ok = write_spec(mlp_spec_head("tracked") + "tracking: record\n", "ok.yaml")
    assert CliRunner().invoke(main, ["validate", "--space", str(ok)]).exit_code == 0


def test_a_tracking_uri_password_is_not_stored_with_the_study(
        write_spec: Callable[..., Path], in_tmp: Path) -> None:
    host, trackers = make_host()
    spec = load_spec(curve_spec(
        write_spec, "[{name: record, uri: 'http://me:s3cret@mlflow.example:5000'}]"))
    result = search(spec, host)
    db = Path(result.report_dir, "study.db").read_bytes()
    assert b"s3cret" not in db and b"http://me:***@mlflow.example:5000" in db
    # the tracker itself got the real URI
    assert trackers.logs["record"][0][3] == {"uri": "http://me:s3cret@mlflow.example:5000"}


@pytest.mark.slow
def test_epochs_of_trials_in_worker_processes_reach_the_observer(
        write_spec: Callable[..., Path], in_tmp: Path) -> None:
    observer = EpochObserver()
    host = PluginHost()
    host.register(observer, name="watcher")
    host.collect()
    spec = load_spec(write_spec(mlp_spec_head("watched") + "execution: {workers: 1}\n"
                                "pruner: none\nparams: {width: 8}\n"))
    search(spec, host)
    frame = automl.leaderboard("watched", "sqlite:///reports/watched/study.db")
    for number, epochs in zip(frame["trial"], frame["epochs"], strict=True):
        assert [e[2] for e in observer.events if e[:2] == ("epoch", number)] == \
            list(range(1, epochs + 1))
    assert [e for e in observer.events if e[0] == "trial"] == [("trial", 0, "complete"),
                                                               ("trial", 1, "complete")]


def test_a_worker_adapts_the_stored_spec_with_set_options(
        write_spec: Callable[..., Path], in_tmp: Path) -> None:
    from automl.engine.study_setup import stored_spec

    host, _ = make_host()
    spec = load_spec(curve_spec(write_spec, "record"))
    result = search(spec, host)
    adapted = stored_spec(spec.study, result.storage, {"execution.workers": 2},
                          {"execution.artifacts": "/mnt/elsewhere",
                           "tracking": "[{name: record, uri: 'file:./here'}]"})
    assert adapted.execution.workers == 2
    assert adapted.execution.artifacts == "/mnt/elsewhere"
    assert [(t.name, t.options) for t in adapted.tracking] == [("record", {"uri": "file:./here"})]
    with pytest.raises(SpecError) as caught:
        stored_spec(spec.study, result.storage, sets={"execution.artifacts": "[1, 2]"})
    assert "execution.artifacts" in str(caught.value)
    bad = CliRunner().invoke(main, ["worker", "--study", spec.study, "--storage",
                                    result.storage, "--set", "execution.workers"])
    assert bad.exit_code == 2 and "expected KEY=VALUE" in bad.output, bad.output
