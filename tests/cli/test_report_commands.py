"""``automl report`` and ``automl compare`` through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.plugin.host import PluginHost
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec


def _two_studies(write_spec: Spec) -> None:
    for name, trials in (("study-a", 3), ("study-b", 4)):
        path = write_spec(CURVE_SPEC.replace("study: curve-study", f"study: {name}")
                          .replace("trials: 6", f"trials: {trials}"), f"{name}.yaml")
        result = CliRunner().invoke(main, ["search", "--space", str(path)])
        assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_report_regenerates_everything_from_storage(write_spec: Spec, in_tmp: Path,
                                                    global_host: PluginHost) -> None:
    _two_studies(write_spec)
    out = in_tmp / "elsewhere"
    result = CliRunner().invoke(main, ["report", "study-a", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    for name in ("leaderboard.csv", "leaderboard.md", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert "study-a" in (out / "report.html").read_text()


@pytest.mark.slow
def test_compare_puts_best_trials_side_by_side(write_spec: Spec, in_tmp: Path,
                                               global_host: PluginHost) -> None:
    _two_studies(write_spec)
    page = in_tmp / "cmp.html"
    result = CliRunner().invoke(main, ["compare", "study-a", "study-b", "--out", str(page)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cells = {line.split("│")[1].strip(): line for line in lines if line.count("│") >= 3}
    assert "3 (3 complete)" in cells["trials"] and "4 (4 complete)" in cells["trials"]
    assert "#3" in cells["best trial"]  # study-b's fourth trial was its best
    for field in ("val_accuracy", "test_accuracy", "best trial", "x", "stop_reason"):
        assert any(field in line for line in lines), field
    text = page.read_text()
    assert 'id="fig-compare"' in text and "study-a" in text and "study-b" in text


def test_compare_names_a_missing_study(write_spec: Spec, in_tmp: Path,
                                       global_host: PluginHost) -> None:
    _two_studies(write_spec)
    result = CliRunner().invoke(main, ["compare", "study-a", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output and "Traceback" not in result.output
