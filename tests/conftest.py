"""Fixtures: a fast synthetic trainer registered as a plugin, spec writing, a temp folder to
run in, worker processes that load the test plugin. Plain helpers are in ``helpers.py``."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import automl
import automl.plugin.host
from automl.plugin.host import PluginHost, reset_plugin_host
from tests.helpers import REPO, CurvePlugin


@pytest.fixture
def curve_plugin() -> CurvePlugin:
    return CurvePlugin()


@pytest.fixture
def host(curve_plugin: CurvePlugin) -> PluginHost:
    """The real entry-point plugins plus the synthetic trainer."""
    h = PluginHost()
    h.register(curve_plugin, name="curve-tests")
    return h.collect()


@pytest.fixture
def global_host(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """Make ``host`` the process-wide plugin host (what the CLI uses)."""
    monkeypatch.setattr(automl.plugin.host, "_default", host)
    yield host


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so that reports/ lands in the test's temp folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


# A plugin package with tests of its own, run by tests/test_legacy_plugin.py as its author would.
collect_ignore = ["legacy_plugin"]


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, in_tmp: Path) -> Iterator[dict[str, str]]:
    """Worker processes load the test plugin by module name; short heartbeats."""
    monkeypatch.setenv("AUTOML_PLUGIN_MODULES", "tests.worker_plugin")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("AUTOML_HEARTBEAT_GRACE", "3")
    monkeypatch.syspath_prepend(str(REPO))
    reset_plugin_host()
    yield dict(os.environ)
    reset_plugin_host()
