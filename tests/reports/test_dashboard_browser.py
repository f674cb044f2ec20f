"""`automl dashboard` for real: the command serves optuna-dashboard on 127.0.0.1, and
Debian's headless chromium (Playwright) loads the page: the study's trials, their flat
attributes and artifacts, and the learning-curve plot (one line per trial)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.plugin.host import PluginHost
from tests.helpers import CURVE_SPEC, REPO, search_reports
from tests.reports.test_browser import browser  # noqa: F401 - the shared browser fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def dashboard_url(write_spec: Callable[..., Path], host: PluginHost,
                  in_tmp: Path) -> Iterator[str]:
    pytest.importorskip("optuna_dashboard")
    search_reports(write_spec, host, CURVE_SPEC)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "automl", "dashboard", "curve-study",
                             "--port", "0"], cwd=in_tmp, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the port is bound
        assert "optuna-dashboard for study curve-study at http://127.0.0.1:" in line, line
        yield line.split(" at ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_dashboard_shows_the_trials_and_their_learning_curves(
        browser: Any, dashboard_url: str) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(dashboard_url, wait_until="networkidle")
        page.wait_for_function(
            "document.querySelector('#graph-intermediate-values .scatterlayer') !== null",
            timeout=30_000)
        lines = page.evaluate("document.querySelectorAll("
                              "'#graph-intermediate-values .scatterlayer .trace').length")
        assert lines == 6  # one learning curve per trial, pruning off
        assert "val_accuracy" in page.inner_text("body")  # the metric's name, not "Objective 0"

        page.goto(dashboard_url + "/trials", wait_until="networkidle")
        page.wait_for_selector("text=Intermediate Values", timeout=30_000)
        body = page.inner_text("body")
        assert "6 Trials" in body and "Trial 5" in body
        for shown in ("stop_reason", "best_epoch", "gap", "n_params", "learning_curve.json"):
            assert shown in body, shown
        assert errors == []
    finally:
        context.close()


def test_dashboard_says_what_is_missing(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["dashboard", "no-such-study"])
    assert result.exit_code == 2 and "no study 'no-such-study'" in result.output
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if not installed
    result = CliRunner().invoke(main, ["dashboard", "no-such-study"])
    assert result.exit_code == 2
    assert "optuna-dashboard is not installed: pip install 'automl[dashboard]'" in \
        result.output
    assert "Traceback" not in result.output


def test_a_port_in_use_is_one_clear_line(write_spec: Callable[..., Path], host: PluginHost,
                                         in_tmp: Path) -> None:
    import socket

    pytest.importorskip("optuna_dashboard")
    search_reports(write_spec, host, CURVE_SPEC)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["dashboard", "curve-study", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
