"""User strings in reports and the terminal: neutralised in every output.

A choice, a study's strings or an error message ends up in leaderboard.csv (a spreadsheet
would run ``=...`` as a formula), leaderboard.md (a ``|`` or a line break would break the
table, HTML would render) and the terminal (rich would read ``[/x]`` as markup and crash,
and swallow ``[bold]``). Each is written as the user typed it, and harmless.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.plugin.host import PluginHost
from automl.reports.writers import csv_text, md_cell
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]
MARKUP = ["[/x]", "[bold]b[/bold]", "[link=http://evil.example]y"]
TABLE_BREAKERS = ["a|b", "line1\nline2", "<img src=x onerror=alert(1)>"]
HOSTILE = FORMULAS + MARKUP + TABLE_BREAKERS


def _spec_text() -> str:
    choices = json.dumps(HOSTILE)
    enqueue = json.dumps([{"x": 0.1 + i / 40, "tag": c} for i, c in enumerate(HOSTILE)])
    return (CURVE_SPEC.replace("trials: 6", f"trials: {len(HOSTILE)}")
            + f"  tag: {choices}\n" + f"enqueue: {enqueue}\n")


@pytest.fixture
def hostile_study(in_tmp: Path, write_spec: Spec, global_host: PluginHost) -> Path:
    """A finished study whose trials used every hostile choice; its report folder."""
    path = write_spec(_spec_text())
    result = CliRunner().invoke(main, ["search", "--space", str(path)])
    assert result.exit_code == 0, result.output
    return in_tmp / "reports" / "curve-study"


def test_validate_prints_markup_like_choices_as_typed(write_spec: Spec, in_tmp: Path,
                                                      global_host: PluginHost) -> None:
    path = write_spec(_spec_text())
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    assert result.exit_code == 0, result.output  # `[/x]` crashed rich here
    for text in MARKUP:
        assert text in result.output, text  # `[bold]` was swallowed


def test_a_spec_file_named_like_markup_validates(write_spec: Spec, in_tmp: Path,
                                                 global_host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC, "[red]spec[x].yaml")
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    assert result.exit_code == 0, result.output
    assert "[red]spec[x].yaml" in result.output


def test_leaderboard_csv_quotes_every_formula_and_keeps_numbers(hostile_study: Path) -> None:
    with (hostile_study / "leaderboard.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(HOSTILE)
    tags = {r["tag"] for r in rows}
    for text in FORMULAS:
        assert "'" + text.replace("\r", "\n") in tags, text
    for row in rows:
        for col, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (col, cell)
            if cell.startswith("-"):  # only a real number may start with a minus
                float(cell)
    frame = pd.read_csv(hostile_study / "leaderboard.csv")
    assert pd.api.types.is_float_dtype(frame["val_accuracy"])
    assert pd.api.types.is_float_dtype(frame["gap"])


def test_csv_text_leaves_negative_numbers_numeric() -> None:
    frame = pd.DataFrame({"v": [-0.5, 2.0], "s": ["-0.5", "=A1"],
                          "t": pd.array(["@x", None], dtype="string"), "=name": [1, 2]})
    rows = list(csv.reader(csv_text(frame).splitlines()))
    assert rows[0] == ["v", "s", "t", "'=name"]
    assert rows[1] == ["-0.5", "'-0.5", "'@x", "1"]
    assert rows[2] == ["2.0", "'=A1", "", "2"]
    # a bare CR would end the row in a reader: it becomes a quoted line break
    rows = list(csv.reader(csv_text(pd.DataFrame({"s": ["a\rb", "\r=1"]})).splitlines(
        keepends=True)))
    assert len(rows) == 3 and rows[1] == ["a\nb"] and rows[2] == ["'\n=1"]


def test_leaderboard_md_keeps_every_row_one_table_line(hostile_study: Path) -> None:
    text = (hostile_study / "leaderboard.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("|")]
    cells = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
    assert len(cells) == 1, table  # the same number of unescaped pipes on every line
    assert len(table) >= 2 + min(10, len(HOSTILE))  # header, rule, one line per row
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "a\\|b" in text and "line1 line2" in text


def test_md_cell_neutralises_pipes_breaks_and_html() -> None:
    assert md_cell("a|b\r\nc<script>") == "a\\|b c&lt;script&gt;"
    assert md_cell(0.5) == 0.5


def test_report_html_shows_hostile_choices_only_as_text(hostile_study: Path) -> None:
    page = (hostile_study / "report.html").read_text()
    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_terminal_tables_print_choices_as_typed(hostile_study: Path) -> None:
    result = CliRunner().invoke(main, ["leaderboard", "curve-study", "--top", "20"])
    assert result.exit_code == 0, result.output
    for text in MARKUP:
        assert text in result.output, text
    result = CliRunner().invoke(main, ["studies"])
    assert result.exit_code == 0 and "curve-study" in result.output
