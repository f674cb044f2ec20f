"""Secrets: a storage URL's password never reaches a report, the stored spec, a log line or
the terminal (it is shown as ``***``); report files get the user's normal permissions."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.engine.keys import STUDY_RECORD
from automl.engine.studies import load_study, open_study
from automl.log import _Formatter
from automl.plugin.host import PluginHost
from automl.redaction import redact_spec, redact_text, redact_url
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

SECRET = "s3cret-Pw"
URL = f"postgresql://alice:{SECRET}@127.0.0.1:1/automl"


@pytest.mark.parametrize(("url", "shown"), [
    (URL, "postgresql://alice:***@127.0.0.1:1/automl"),
    (f"postgresql+psycopg://bob:{SECRET}@db.example:5432/x?sslmode=require",
     "postgresql+psycopg://bob:***@db.example:5432/x?sslmode=require"),
    # an unencoded @ or / in the password: hidden whole, never a piece of it
    (f"mysql://carol:a@b/{SECRET}@host/db", "mysql://carol:***@host/db"),
    (f"postgresql://host/db?user=dan&password={SECRET}", "postgresql://host/db?user=dan&password=***"),
    ("sqlite:////tmp/study.db", "sqlite:////tmp/study.db"),
    ("postgresql://erin@host/db", "postgresql://erin@host/db"),
])
def test_redact_url_hides_the_password_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


def test_redact_text_masks_urls_inside_messages() -> None:
    text = f"could not open {URL}: refused; also postgresql://x:{SECRET}@h/d."
    assert SECRET not in redact_text(text)
    assert "postgresql://alice:***@127.0.0.1:1/automl" in redact_text(text)


def test_the_stored_spec_never_holds_the_password() -> None:
    storage = optuna.storages.InMemoryStorage()
    record = {"spec": {"study": "s", "execution": {"storage": URL, "workers": 2}}, "seed": 1}
    study, created = open_study("s", storage, ["maximize"], optuna.samplers.RandomSampler(),
                                optuna.pruners.NopPruner(), record)
    assert created
    stored = study.user_attrs[STUDY_RECORD]
    assert SECRET not in repr(stored)
    assert stored["spec"]["execution"] == {"storage": redact_url(URL), "workers": 2}
    assert record["spec"]["execution"]["storage"] == URL  # the caller's copy is untouched
    assert redact_spec({"study": "s"}) == {"study": "s"}


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def secret_study(in_tmp: Path, write_spec: Spec, global_host: PluginHost,
                 umask_022: None) -> Path:
    """A finished study whose record holds a password-bearing storage URL, as one created
    on a database server before the record was redacted would; its report folder."""
    path = write_spec(CURVE_SPEC.replace("trials: 6", "trials: 3"))
    result = CliRunner().invoke(main, ["search", "--space", str(path)])
    assert result.exit_code == 0, result.output
    study = load_study("curve-study")
    record = dict(study.user_attrs[STUDY_RECORD])
    record["spec"] = {**record["spec"], "execution": {**record["spec"].get("execution", {}),
                                                      "storage": URL}}
    study.set_user_attr(STUDY_RECORD, record)
    return in_tmp / "reports" / "curve-study"


def test_no_report_file_holds_the_password(secret_study: Path, in_tmp: Path) -> None:
    out = in_tmp / "regenerated"
    result = CliRunner().invoke(main, ["report", "curve-study", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    page = (out / "report.html").read_text()
    assert "automl search --space reproduce-trial" in page  # the reproduce section is there
    assert "postgresql://alice:***@127.0.0.1:1/automl" in page  # redacted, not dropped
    files = [f for f in out.rglob("*") if f.is_file()]
    assert {f.name for f in files} >= {"leaderboard.csv", "leaderboard.md", "report.html"}
    for f in files:
        assert SECRET.encode() not in f.read_bytes(), f


def test_report_files_get_normal_permissions(secret_study: Path, in_tmp: Path) -> None:
    wanted = 0o644  # 0666 less the umask 022
    for name in ("leaderboard.csv", "leaderboard.md", "report.html"):
        mode = stat.S_IMODE((secret_study / name).stat().st_mode)
        assert mode == wanted, (name, oct(mode))  # mkstemp made them 0600
    page = in_tmp / "cmp.html"
    result = CliRunner().invoke(main, ["compare", "curve-study", "curve-study", "--out",
                                       str(page)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(page.stat().st_mode) == wanted


@pytest.mark.parametrize("args", [
    ["leaderboard", "curve-study", "--storage", URL],
    ["report", "curve-study", "--storage", URL],
    ["studies", "--storage", URL],
    ["worker", "--study", "curve-study", "--storage", URL],
    ["compare", "a", "b", "--storage", URL],
])
def test_the_terminal_never_shows_the_password(in_tmp: Path, args: list[str],
                                               global_host: PluginHost) -> None:
    result = CliRunner().invoke(main, args)  # nothing listens on port 1: a quick refusal
    assert result.exit_code != 0
    assert SECRET not in result.output
    assert "***" in result.output


def test_log_lines_never_show_the_password() -> None:
    record = logging.LogRecord("automl.engine", logging.WARNING, __file__, 1,
                               "cannot reach %s", (URL,), None)
    line = _Formatter().format(record)
    assert SECRET not in line and "alice:***@" in line
