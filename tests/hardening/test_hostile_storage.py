"""Hostile storage (issue 15, class 4): every command that takes ``--storage`` answers a
malformed URL, an unknown scheme, a server that refuses or never answers, a study file that
is not a study database (text, random bytes, empty, truncated, another SQLite database, a
folder) and a missing folder with exit 2 (a bad URL or file) or 1 (a fault at run time),
one line, no traceback, and nothing created on disk."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import automl.engine.studies as studies
from automl.cli import main
from automl.errors import UsageError
from automl.plugin.host import PluginHost
from tests.helpers import CURVE_SPEC

PASSWORD = "s3cr3t-pw"


def _text(path: Path) -> None:
    path.write_text("study,trials\ncurve-study,5\n")


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    # A real SQLite file, cut short as a failed copy leaves it.
    full = path.with_name("full.db")
    with sqlite3.connect(full) as conn:
        conn.execute("CREATE TABLE studies (study_id INTEGER, study_name TEXT)")
        conn.executemany("INSERT INTO studies VALUES (?, ?)",
                         [(i, "x" * 200) for i in range(2000)])
    conn.close()
    path.write_bytes(full.read_bytes()[:6000])
    full.unlink()


def _other_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.close()


def _folder(path: Path) -> None:
    path.mkdir()


# name -> (how to make the file at the URL's path, or None, the URL, exit code, words)
FILES: dict[str, tuple[Callable[[Path], None], int, str]] = {
    "text": (_text, 2, "not an SQLite database"),
    "random-bytes": (_random, 2, "not an SQLite database"),
    "truncated": (_truncated, 1, "truncated"),
    "header-only": (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20), 1,
                    "truncated"),
    "other-sqlite-db": (_other_sqlite, 2, "not an Optuna study database"),
    "folder": (_folder, 2, "is a folder"),
}
URLS: dict[str, tuple[str, int, str]] = {
    "malformed": ("sqlite//study.db", 2, "not a storage URL"),
    "no-scheme": ("just some words", 2, "not a storage URL"),
    "unknown-scheme": ("foo://host/db", 2, "unknown kind of storage 'foo'"),
    "refused-server": (f"postgresql://user:{PASSWORD}@127.0.0.1:1/db", 1, "cannot open it"),
    "missing-folder": ("sqlite:///{tmp}/no/such/folder/study.db", 2, "does not exist"),
}
COMMANDS: dict[str, list[str]] = {
    "search": ["search", "--space", "spec.yaml", "--storage", "{url}"],
    "worker": ["worker", "--study", "curve-study", "--storage", "{url}"],
    "leaderboard": ["leaderboard", "curve-study", "--storage", "{url}"],
    "report": ["report", "curve-study", "--storage", "{url}", "--out", "out"],
    "compare": ["compare", "curve-study", "other", "--storage", "{url}"],
    "studies": ["studies", "--storage", "{url}"],
    "predict": ["predict", "curve-study", "--storage", "{url}", "--data", "new.csv"],
    "export": ["export", "curve-study", "--storage", "{url}"],
}


@pytest.fixture
def ready(in_tmp: Path, global_host: PluginHost) -> Path:
    """A folder with a spec and a data file, the curve trainer as a plugin."""
    (in_tmp / "spec.yaml").write_text(CURVE_SPEC)
    (in_tmp / "new.csv").write_text("x\n1\n")
    return in_tmp


def _files(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


def _run(root: Path, command: str, url: str) -> tuple[int, str, float]:
    args = [a.replace("{url}", url) for a in COMMANDS[command]]
    before = _files(root)
    start = time.monotonic()
    result = CliRunner().invoke(main, args)
    took = time.monotonic() - start
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert _files(root) == before, "a failed command changed files on disk"
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    return result.exit_code, lines[0], took


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(FILES))
def test_a_study_file_that_is_no_study_database(ready: Path, case: str, command: str) -> None:
    make, code, words = FILES[case]
    path = ready / "study.db"
    make(path)
    exit_code, line, _ = _run(ready, command, f"sqlite:///{path}")
    assert exit_code == code, line
    assert words in line and str(path) in line, line


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "search"])
def test_an_empty_file_is_no_study_to_read(ready: Path, command: str) -> None:
    path = ready / "study.db"
    path.write_bytes(b"")
    exit_code, line, _ = _run(ready, command, f"sqlite:///{path}")
    assert exit_code == 2 and "is empty" in line and str(path) in line, line


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "search"])
def test_a_missing_study_file_is_not_created_by_reading_it(ready: Path, command: str) -> None:
    path = ready / "nothing-here.db"
    exit_code, line, _ = _run(ready, command, f"sqlite:///{path}")
    assert exit_code == 2 and "no SQLite file" in line and str(path) in line, line


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(URLS))
def test_bad_urls_and_unreachable_servers(ready: Path, case: str, command: str) -> None:
    url, code, words = URLS[case]
    url = url.replace("{tmp}", str(ready))
    if case == "missing-folder" and command != "search":
        words = "no SQLite file"  # reading commands never create the file, nor its folder
    exit_code, line, took = _run(ready, command, url)
    assert exit_code == code, line
    assert words in line and "--storage" in line, line
    assert took < 10


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a firewall that drops,
    a hung server): only the client's connect timeout ends the wait."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("command", ["search", "worker", "leaderboard", "studies"])
def test_a_server_that_never_answers_is_given_up_in_seconds(
        ready: Path, silent_server: int, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.setattr(studies, "CONNECT_TIMEOUT_S", 1)
    url = f"postgresql://user:{PASSWORD}@127.0.0.1:{silent_server}/db"
    exit_code, line, took = _run(ready, command, url)
    assert exit_code == 1 and "timeout" in line and "127.0.0.1" in line, line
    assert took < 8, took


def test_the_connect_timeout_is_the_default_for_servers_not_for_sqlite(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, object]] = []

    class Fake:
        def __init__(self, url: str, engine_kwargs: dict[str, object], **_: object) -> None:
            seen.append(engine_kwargs)

    studies.make_storage(f"sqlite:///{tmp_path / 'a.db'}")  # a real file, made before the fake
    monkeypatch.setattr(studies.optuna.storages, "RDBStorage", Fake)
    studies.make_storage("postgresql://u@db.example/x")
    studies.make_storage("postgresql://u@db.example/x?connect_timeout=30")
    studies.make_storage(f"sqlite:///{tmp_path / 'a.db'}")
    assert seen[0]["connect_args"] == {"connect_timeout": studies.CONNECT_TIMEOUT_S}
    assert "connect_args" not in seen[1]  # the URL's own timeout wins
    assert seen[2]["connect_args"] == {"timeout": 60}
    assert 1 <= studies.CONNECT_TIMEOUT_S <= 10


def _engine_kwargs(monkeypatch: pytest.MonkeyPatch, url: str) -> dict[str, object]:
    """The ``engine_kwargs`` :func:`studies.make_storage` gives Optuna for ``url``."""
    seen: list[dict[str, object]] = []

    class Fake:
        def __init__(self, url: str, engine_kwargs: dict[str, object], **_: object) -> None:
            seen.append(engine_kwargs)

    monkeypatch.setattr(studies.optuna.storages, "RDBStorage", Fake)
    studies.make_storage(url)
    return seen[0]


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u@db.example/x", {"connect_timeout": 5}),  # the default driver, psycopg
    ("postgresql+psycopg://u@db.example/x", {"connect_timeout": 5}),
    ("postgresql+psycopg2://u@db.example/x", {"connect_timeout": 5}),
    ("postgresql+pg8000://u@db.example/x", {"timeout": 5}),  # was connect_timeout: TypeError
    ("postgresql+pg8000://u@db.example/x?timeout=30", None),  # the URL's own wins
    ("postgresql+pg8000://u@db.example/x?connect_timeout=30", {"timeout": 5}),  # not pg8000's
    ("mysql://u@db.example/x", {"connect_timeout": 5}),  # mysqlclient
    ("mysql+pymysql://u@db.example/x", {"connect_timeout": 5}),
    ("mysql+pymysql://u@db.example/x?connect_timeout=30", None),
    ("mariadb+mariadbconnector://u@db.example/x", {"connect_timeout": 5}),
    ("mysql+mysqlconnector://u@db.example/x", {"connection_timeout": 5}),
    ("mysql+mysqlconnector://u@db.example/x?connect_timeout=30", None),  # its alias
    ("mssql+pyodbc://u@db.example/x", None),  # unknown timeout name: none rather than a wrong one
])
def test_the_connect_timeout_takes_each_drivers_own_name(
        monkeypatch: pytest.MonkeyPatch, url: str, expected: dict[str, int] | None) -> None:
    import sys

    from sqlalchemy.engine import make_url

    monkeypatch.delenv("AUTOML_CONNECT_TIMEOUT", raising=False)
    drivers = {"psycopg", "psycopg2", "pg8000", "MySQLdb", "pymysql", "mariadb",
               "mysql.connector", "pyodbc"}
    loaded = drivers & set(sys.modules)
    kwargs = _engine_kwargs(monkeypatch, url)
    assert kwargs.get("connect_args") == expected
    assert studies.server_connect_args(make_url(url)) == (expected or {})  # check_storage's
    assert drivers & set(sys.modules) == loaded  # read from the URL: no driver imported


def test_check_storage_gives_the_driver_its_own_timeout_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy

    seen: list[object] = []

    def create_engine(url: str, connect_args: dict[str, object]) -> None:
        seen.append(connect_args)
        raise ImportError("No module named 'pg8000'")

    monkeypatch.delenv("AUTOML_CONNECT_TIMEOUT", raising=False)
    monkeypatch.setattr(sqlalchemy, "create_engine", create_engine)
    with pytest.raises(UsageError, match="pg8000"):
        studies.check_storage("postgresql+pg8000://u@db.example/x")
    assert seen == [{"timeout": 5}]


def test_the_connect_timeout_is_read_when_a_storage_is_opened(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Set after automl was imported (a notebook, a test): still used.
    monkeypatch.setenv("AUTOML_CONNECT_TIMEOUT", "12")
    assert _engine_kwargs(monkeypatch, "postgresql://u@db.example/x")["connect_args"] == {
        "connect_timeout": 12}
    assert _engine_kwargs(monkeypatch, "postgresql+pg8000://u@db.example/x")["connect_args"] == {
        "timeout": 12}


@pytest.mark.parametrize("value", ["0", "-3", "five", "2.5", "1e3"])
def test_a_connect_timeout_that_is_not_a_positive_number_is_refused(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # 0 is "wait forever" to libpq: the hang the timeout is there to prevent.
    monkeypatch.setenv("AUTOML_CONNECT_TIMEOUT", value)
    with pytest.raises(UsageError) as caught:
        _engine_kwargs(monkeypatch, "postgresql://u@db.example/x")
    assert str(caught.value) == (f"AUTOML_CONNECT_TIMEOUT={value!r}: expected a whole number "
                                 "of seconds, 1 or more (unset it for the default, 5)")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("name", ["AUTOML_HEARTBEAT_INTERVAL", "AUTOML_HEARTBEAT_GRACE"])
@pytest.mark.parametrize("value", ["0", "five", "2.5"])
def test_a_heartbeat_setting_that_is_not_a_positive_number_is_refused(
        ready: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    # the neighbours of AUTOML_CONNECT_TIMEOUT: read the same way, refused the same way
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["search", "--space", "spec.yaml"])
    assert result.exit_code == 2, result.output
    assert f"{name}={value!r}: expected a whole number of seconds, 1 or more" in result.output
    assert "Traceback" not in result.output
    assert not (ready / "reports").exists()  # refused before anything was made

def test_the_default_storage_still_creates_its_report_folder(ready: Path) -> None:
    result = CliRunner().invoke(main, ["search", "--space", "spec.yaml"])
    assert result.exit_code == 0, result.output
    assert (ready / "reports" / "curve-study" / "study.db").is_file()
    board = CliRunner().invoke(main, ["leaderboard", "curve-study"])
    assert board.exit_code == 0, board.output


def test_a_search_on_an_empty_file_makes_it_a_study(ready: Path) -> None:
    # An empty file is SQLite's empty database: a search may start a study in it.
    path = ready / "study.db"
    path.write_bytes(b"")
    result = CliRunner().invoke(main, ["search", "--space", "spec.yaml", "--storage",
                                       f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 0


def _half_created(path: Path) -> None:
    # Optuna's tables without its version row and Alembic stamp: a file caught between
    # the steps of Optuna's schema creation (or cut short in them).
    import sqlalchemy
    from optuna.storages._rdb import models

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    models.BaseModel.metadata.create_all(engine)
    engine.dispose()


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "search"])
def test_a_study_file_still_being_created_is_not_written_by_reading_it(
        ready: Path, command: str) -> None:
    # Opening it, Optuna would write the missing rows, and the creator's own insert then
    # failed: a search crashed at start when something polled its new file.
    path = ready / "study.db"
    _half_created(path)
    exit_code, line, _ = _run(ready, command, f"sqlite:///{path}")  # checks nothing changed
    assert exit_code == 1 and "no schema version yet" in line and str(path) in line, line
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM version_info").fetchone() == (0,)
    conn.close()


def test_a_search_completes_a_study_file_whose_creation_was_cut_short(ready: Path) -> None:
    path = ready / "study.db"
    _half_created(path)
    result = CliRunner().invoke(main, ["search", "--space", "spec.yaml", "--storage",
                                       f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    board = CliRunner().invoke(main, ["leaderboard", "curve-study", "--storage",
                                      f"sqlite:///{path}"])
    assert board.exit_code == 0 and "curve-study" in board.output, board.output


def test_a_new_study_file_appears_only_once_whole(ready: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Optuna writes the schema in steps; the file at the study's path must not exist
    # while it does, so no reader can see (and write into) a half-made one.
    from optuna.storages._rdb.storage import _VersionManager

    target = ready / "reports" / "curve-study" / "study.db"
    seen: list[tuple[str, bool]] = []
    real = _VersionManager._init_version_info_model

    def spy(self: _VersionManager) -> None:
        seen.append((self.url, target.exists()))
        real(self)

    monkeypatch.setattr(_VersionManager, "_init_version_info_model", spy)
    result = CliRunner().invoke(main, ["search", "--space", "spec.yaml"])
    assert result.exit_code == 0, result.output
    assert seen and seen[0][1] is False and seen[0][0].endswith(".creating"), seen
    assert target.is_file() and not list(target.parent.glob("*.creating"))
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM version_info").fetchone() == (1,)
    conn.close()
