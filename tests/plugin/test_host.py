"""Plugin discovery: real entry points, fake entry points, fixture plugins, conflicts."""

from __future__ import annotations

import importlib.metadata as md
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import automl
import automl.plugin.host
from automl.errors import PluginError
from automl.plugin import hookimpl
from automl.plugin.host import PluginHost


def test_builtin_plugins_come_through_entry_points() -> None:
    host = PluginHost().collect()
    assert {"cnn", "mlp"} <= set(host.trainers.names())
    assert {"digits", "iris", "wine", "breast_cancer", "diabetes"} <= set(host.datasets.names())
    assert host.trainers.provider("cnn") == "cnn"
    assert host.datasets.provider("digits") == "datasets"
    info = host.plugins["cnn"]
    assert info.distribution == "automl" and info.module == "automl_plugins.cnn"
    assert info.provides == {"trainer": ["cnn"]}


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                       modules: dict[str, str], points: dict[str, str]) -> None:
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [md.EntryPoint(name=n, value=v, group="automl") for n, v in points.items()]
    real = md.entry_points

    def fake(**kwargs: Any) -> Any:
        if kwargs.get("group") == "automl":
            return eps
        return real(**kwargs)

    monkeypatch.setattr(automl.plugin.host.md, "entry_points", fake)


GOOD = '''
import automl
from automl.data import DatasetLoader
from tests.helpers import CurveTrainer

class Renamed(CurveTrainer):
    name = "fake_trainer"

@automl.hookimpl
def register_trainers(register):
    register(Renamed())

@automl.hookimpl
def register_datasets(register):
    register(DatasetLoader("fake_data", lambda: None, "nothing"))
'''


def test_fake_entry_point_is_loaded_and_a_broken_one_is_skipped_with_a_warning(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _fake_entry_points(monkeypatch, tmp_path,
                       {"automl_fake_good": GOOD, "automl_fake_broken": "import nope_not_here\n"},
                       {"good": "automl_fake_good", "broken": "automl_fake_broken"})
    with caplog.at_level(logging.WARNING, logger="automl"):
        host = PluginHost().collect()
    assert "fake_trainer" in host.trainers and "fake_data" in host.datasets
    assert host.trainers.provider("fake_trainer") == "good"
    assert host.plugins["broken"].error is not None
    assert "ModuleNotFoundError" in host.plugins["broken"].error
    assert any("'broken'" in r.getMessage() and "skipped" in r.getMessage()
               for r in caplog.records)
    sys.modules.pop("automl_fake_good", None)


def test_allow_and_block_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_entry_points(monkeypatch, tmp_path, {"automl_fake_good2": GOOD},
                       {"good": "automl_fake_good2"})
    assert "fake_trainer" not in PluginHost(block=["good"]).collect().trainers
    monkeypatch.setenv("AUTOML_PLUGINS", "other")
    assert "good" not in PluginHost().plugins
    monkeypatch.setenv("AUTOML_PLUGINS", "good")
    assert "fake_trainer" in PluginHost().collect().trainers
    sys.modules.pop("automl_fake_good2", None)


class _Dup:
    def __init__(self, name: str) -> None:
        self.name = name

    @automl.hookimpl
    def register_trainers(self, register: Callable[[Any], None]) -> None:
        trainer = type("T", (), {"name": self.name, "tasks": ("classification",),
                                 "description": ""})()
        register(trainer)


def test_duplicate_trainer_name_names_both_plugins() -> None:
    host = PluginHost(entry_points=False)
    host.register(_Dup("same"), name="first-plugin")
    host.register(_Dup("same"), name="second-plugin")
    with pytest.raises(PluginError, match="first-plugin") as exc:
        host.collect()
    assert "second-plugin" in str(exc.value) and "'same'" in str(exc.value)


def test_a_plugin_raising_in_a_hook_is_named() -> None:
    class Raises:
        @automl.hookimpl
        def register_datasets(self, register: Callable[[Any], None]) -> None:
            raise RuntimeError("kaput")

    host = PluginHost(entry_points=False)
    host.register(Raises(), name="kaput-plugin")
    with pytest.raises(PluginError, match="kaput-plugin.*register_datasets.*kaput"):
        host.collect()


def test_fixture_plugin_and_unknown_name_hint(host: PluginHost) -> None:
    assert host.trainers.get("curve").name == "curve"
    with pytest.raises(KeyError, match="did you mean 'cnn'"):
        host.trainers.get("cnnn")


def test_misspelled_hook_is_caught() -> None:
    class Typo:
        @automl.hookimpl
        def register_trainer(self, register: Callable[[Any], None]) -> None:  # missing "s"
            pass

    host = PluginHost(entry_points=False)
    host.register(Typo(), name="typo")
    with pytest.raises(Exception, match="register_trainer"):
        host.collect()


def test_observer_hook_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Observer:
        @automl.hookimpl
        def study_finished(self, study_name: str) -> None:
            raise ValueError(f"no {study_name}")

    host = PluginHost(entry_points=False)
    host.register(Observer(), name="observer")
    host.collect()
    with caplog.at_level(logging.WARNING, logger="automl"):
        host.notify("study_finished", study_name="s", n_trials=1, best=None, reason="budget")
    assert "observer" in caplog.text and "no s" in caplog.text


# -- every hook call goes through pluggy ---------------------------------------------------
class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


class _Registers:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def register_datasets(self, register: Any) -> None:
        for name in self.names:
            register(_Named(name))


class _Wrapper:
    """A hook wrapper (new-style): sees every registration call and what it returned."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(wrapper=True)
    def register_datasets(self, register: Any) -> Any:
        self.calls += 1
        register(_Named(f"wrapped_{self.calls}"))  # a wrapper may register too
        return (yield)


def test_a_hook_wrapper_sees_each_plugins_registration_call() -> None:
    wrapper = _Wrapper()
    host = PluginHost(entry_points=False)
    host.register(_Registers("a1", "a2"), name="plugin-a")
    host.register(_Registers("b1"), name="plugin-b")
    host.register(wrapper, name="the-wrapper")
    host.collect()
    assert wrapper.calls == 2  # once per plugin that implements the hook
    assert host.datasets.names() == ["a1", "a2", "b1", "wrapped_1", "wrapped_2"]
    # the register callback the wrapper got belonged to the plugin being called
    assert {host.datasets.provider(f"wrapped_{i}") for i in (1, 2)} == {"plugin-a", "plugin-b"}
    assert host.datasets.provider("b1") == "plugin-b"


def test_plugin_tracing_logs_every_hook_call(monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AUTOML_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.DEBUG, logger="automl"):
        host = PluginHost(entry_points=False)
        host.register(_Registers("traced"), name="plugin-t")
        host.register(_Observer(fail=False), name="plugin-o")
        host.collect()
        host.notify("trial_finished", study_name="s", number=1, state="complete",
                    values=[1.0], attrs={})
    traced = "\n".join(r.getMessage() for r in caplog.records)
    assert "register_datasets [hook]" in traced and "trial_finished [hook]" in traced


def test_no_tracing_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("AUTOML_TRACE_PLUGINS", raising=False)
    with caplog.at_level(logging.DEBUG, logger="automl"):
        host = PluginHost(entry_points=False)
        host.register(_Registers("quiet"), name="plugin-q")
        host.collect()
    assert "register_datasets" not in "\n".join(r.getMessage() for r in caplog.records)


class _Observer:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.seen: list[int] = []

    @hookimpl
    def trial_finished(self, number: int) -> None:
        self.seen.append(number)
        if self.fail:
            raise RuntimeError("observer down")


class _ObserverWrapper:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(wrapper=True)
    def trial_finished(self) -> Any:
        self.calls += 1
        return (yield)


def test_an_observer_that_raises_is_logged_and_the_others_are_still_called(
        caplog: pytest.LogCaptureFixture) -> None:
    broken, working, wrapper = _Observer(fail=True), _Observer(fail=False), _ObserverWrapper()
    host = PluginHost(entry_points=False)
    host.register(broken, name="a-broken")
    host.register(working, name="b-working")
    host.register(wrapper, name="c-wrapper")
    host.collect()
    with caplog.at_level(logging.WARNING, logger="automl"):
        host.notify("trial_finished", study_name="s", number=3, state="complete",
                    values=[1.0], attrs={})
    assert broken.seen == [3] and working.seen == [3]
    assert wrapper.calls == 2  # through pluggy: the wrapper saw both observers' calls
    assert "plugin 'a-broken' raised in trial_finished: RuntimeError: observer down" in \
        caplog.text
