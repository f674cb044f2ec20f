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
import automl.plugins
from automl.errors import PluginError
from automl.plugins import PluginHost


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

    monkeypatch.setattr(automl.plugins.md, "entry_points", fake)


GOOD = '''
import automl
from automl.data import DatasetLoader
from tests.conftest import CurveTrainer

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
