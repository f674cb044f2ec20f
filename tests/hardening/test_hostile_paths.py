"""Paths: report folders that cannot be used, names that would leave ``reports/``, and two
studies pointed at one folder. Each is refused with one line (exit 2), before any trial."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from automl.cli import main
from automl.plugin.host import PluginHost
from automl.reports.folder import MARKER, claim_report_dir, owner_of
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

FAST = CURVE_SPEC.replace("trials: 6", "trials: 2")


def _search(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["search", "--space", str(path), *args])


def _refused(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # automl's one line, or click's own for an option value it checks itself
    lines = [line for line in result.output.splitlines()
             if line.startswith(("error:", "Error:"))]
    assert len(lines) == 1, result.output
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_a_report_dir_that_is_or_lies_under_a_file_is_refused(
        in_tmp: Path, write_spec: Spec, global_host: PluginHost, where: str) -> None:
    (in_tmp / "a-file").write_text("not a folder")
    result = _search(write_spec(FAST), "--set", f"report.dir={where}")
    _refused(result, "report dir", "file")
    assert (in_tmp / "a-file").read_text() == "not a folder"
    assert not (in_tmp / "reports").exists()


def test_an_unwritable_report_dir_is_refused(in_tmp: Path, write_spec: Spec,
                                             global_host: PluginHost) -> None:
    # /proc takes no new folders, even for root (a chmod would not stop root)
    result = _search(write_spec(FAST), "--set", "report.dir=/proc/automl-reports")
    _refused(result, "/proc/automl-reports", "cannot write there")


def test_an_over_long_study_name_is_refused(in_tmp: Path, write_spec: Spec,
                                            global_host: PluginHost) -> None:
    result = _search(write_spec(FAST), "--study", "s" * 300)
    _refused(result, "at most 255")
    assert not list(in_tmp.rglob("study.db"))


def test_two_studies_in_one_report_dir_are_kept_from_overwriting(
        in_tmp: Path, write_spec: Spec, global_host: PluginHost) -> None:
    first = _search(write_spec(FAST), "--set", "report.dir=shared")
    assert first.exit_code == 0, first.output
    board = (in_tmp / "shared" / "leaderboard.csv").read_bytes()
    best = (in_tmp / "shared" / "best" / "metrics.json").read_bytes()
    other = _search(write_spec(FAST), "--study", "other-study", "--set", "report.dir=shared")
    _refused(other, "shared", "curve-study", "other-study")
    assert (in_tmp / "shared" / "leaderboard.csv").read_bytes() == board
    assert (in_tmp / "shared" / "best" / "metrics.json").read_bytes() == best
    # the same study may come back to its folder (a resume)
    again = _search(write_spec(FAST), "--trials", "3", "--set", "report.dir=shared")
    assert again.exit_code == 0, again.output
    # and `automl report` of another study is refused there too
    side = _search(write_spec(FAST), "--study", "other-study")
    assert side.exit_code == 0, side.output
    result = CliRunner().invoke(main, ["report", "other-study", "--out", "shared"])
    _refused(result, "curve-study")
    assert owner_of(in_tmp / "shared") == "curve-study"


def test_studies_by_default_have_folders_of_their_own(in_tmp: Path, write_spec: Spec,
                                                      global_host: PluginHost) -> None:
    for name in ("one", "two"):
        assert _search(write_spec(FAST), "--study", name).exit_code == 0
    for name in ("one", "two"):
        folder = in_tmp / "reports" / name
        assert (folder / "best").is_dir() and (folder / "leaderboard.csv").is_file()
        assert (folder / MARKER).read_text().strip() == name
        assert f"# Leaderboard: {name}" in (folder / "leaderboard.md").read_text()


@pytest.mark.parametrize("name", ["../../escaped", "..", "a/../../b", "/tmp/abs", "-x"])
def test_report_of_a_name_that_would_leave_reports_is_refused(
        in_tmp: Path, write_spec: Spec, global_host: PluginHost, name: str) -> None:
    assert _search(write_spec(FAST)).exit_code == 0
    url = f"sqlite:///{in_tmp / 'reports' / 'curve-study' / 'study.db'}"
    before = sorted(p for p in in_tmp.parent.rglob("*") if in_tmp not in p.parents)
    result = CliRunner().invoke(main, ["report", "--storage", url, "--", name])
    _refused(result, "report folder")
    assert sorted(p for p in in_tmp.parent.rglob("*") if in_tmp not in p.parents) == before


def test_compare_out_that_is_a_folder_or_unwritable_is_refused(
        in_tmp: Path, write_spec: Spec, global_host: PluginHost) -> None:
    assert _search(write_spec(FAST)).exit_code == 0
    (in_tmp / "a-folder").mkdir()
    for out, word in (("a-folder", "directory"), ("/proc/nope/cmp.html", "cannot write"),
                      ("x" * 300 + ".html", "255")):
        result = CliRunner().invoke(main, ["compare", "curve-study", "curve-study",
                                           "--out", out])
        _refused(result, word)


def test_claim_report_dir_creates_and_marks_the_folder(tmp_path: Path) -> None:
    folder = claim_report_dir(tmp_path / "deep" / "folder", "s")
    assert (folder / MARKER).read_text() == "s\n"
    assert [p.name for p in folder.iterdir()] == [MARKER]  # no write probe left behind
    assert claim_report_dir(folder, "s") == folder
