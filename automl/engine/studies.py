"""Where studies live: storage URLs, report folders, creating and loading Optuna studies."""

from __future__ import annotations

import json
import os
import platform
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from automl.engine.keys import STUDY_RECORD
from automl.errors import AutomlError, StorageError, UsageError


def default_report_dir(study_name: str) -> Path:
    """``reports/<study>`` under the current folder."""
    return Path("reports") / study_name


def report_dir_of(spec: Any, study_name: str | None = None) -> Path:
    """Where a spec's reports go: its ``report.dir``, else :func:`default_report_dir` of
    ``study_name`` (default: the spec's study)."""
    return Path(spec.report.dir) if spec.report.dir else \
        default_report_dir(study_name or spec.study)


def sqlite_url(path: Path) -> str:
    """An SQLite URL for a file (absolute, so the study is found from any folder)."""
    return f"sqlite:///{path.resolve()}"


def default_storage_url(report_dir: Path) -> str:
    """The default storage: an SQLite file in the report folder."""
    return sqlite_url(report_dir / "study.db")


def resolve_storage(study_name: str, storage: str | None) -> str:
    """The storage URL for an existing study: ``storage`` or the default SQLite file."""
    if storage:
        return storage
    path = default_report_dir(study_name) / "study.db"
    if not path.exists():
        raise UsageError(f"no study {study_name!r} at {path} (run `automl search` first, "
                         "or pass --storage URL)")
    return sqlite_url(path)


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    out = {"python": platform.python_version()}
    for dist in ("automl", "torch", "optuna", "scikit-learn", "numpy", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def heartbeat_settings() -> tuple[int, int]:
    """(interval, grace period) in seconds. A trial whose process records no heartbeat for
    the grace period is failed and its params retried by whichever controller notices
    first. ``AUTOML_HEARTBEAT_INTERVAL`` / ``AUTOML_HEARTBEAT_GRACE`` may shorten them
    (tests) or lengthen them (very long epochs with ``execution.workers: 0``)."""
    interval = env_seconds("AUTOML_HEARTBEAT_INTERVAL", 5)
    return interval, env_seconds("AUTOML_HEARTBEAT_GRACE", 6 * interval)


def env_seconds(name: str, default: int) -> int:
    """A whole number of seconds, 1 or more, from the environment variable ``name``
    (``default`` when unset or empty).

    Raises :class:`UsageError` (exit 2) for any other value: a bad value silently replaced
    by the default would hide the mistake, and ``0`` means "no timeout" to libpq (the very
    hang a connect timeout prevents) and a heartbeat on every call to Optuna."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise UsageError(f"{name}={raw!r}: expected a whole number of seconds, 1 or more "
                         f"(unset it for the default, {default})")
    return seconds


# A server that does not answer must not hang a command: the driver's connect timeout, in
# seconds, unless ``AUTOML_CONNECT_TIMEOUT`` says otherwise (see connect_timeout()).
CONNECT_TIMEOUT_S = 5
# Each driver's name for that timeout (SQLAlchemy's driver name: the ``pg8000`` of
# ``postgresql+pg8000://``, or the dialect's default driver where the URL names none). A
# driver not listed gets none: a keyword it does not take fails every connection.
_TIMEOUT_ARGS = {
    "psycopg": "connect_timeout", "psycopg2": "connect_timeout",  # libpq's, for both
    "psycopg2cffi": "connect_timeout",
    # pg8000 has no connect-only timeout: its socket keeps this one for every read
    # (Optuna's queries are short; a URL's ?timeout= sets another)
    "pg8000": "timeout",
    "mysqldb": "connect_timeout", "pymysql": "connect_timeout", "cymysql": "connect_timeout",
    "mariadbconnector": "connect_timeout",
    "mysqlconnector": "connection_timeout",  # it takes connect_timeout as an alias too
}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_URL_HINT = "expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB"


def make_storage(url: str, *, create: bool = True, heartbeat: bool = True,
                 make_folder: bool = False) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; RDB storages get heartbeats and stale-trial retry
    (unless ``heartbeat=False``: a study one process holds, see :mod:`automl.engine.local_study`).

    ``create=False`` skips creating tables: only the first process of a study creates the
    schema (two processes creating it at once crash on SQLite and PostgreSQL); it also
    means the SQLite file must exist already (SQLite would create an empty one).
    ``make_folder`` creates a missing parent folder of an SQLite file (the default storage
    in the report folder); otherwise a missing folder is refused.

    Raises :class:`UsageError` for a URL that is malformed, of an unknown kind or names a
    file that is not a study database, and :class:`StorageError` when the storage cannot
    be opened (a server that does not answer within :func:`connect_timeout`, a damaged
    file). Nothing is created on disk when it raises.
    """
    parsed = check_storage_url(url)
    engine_kwargs: dict[str, Any] = {}
    folder: Path | None = None
    if parsed.get_backend_name() == "sqlite":
        folder = _check_sqlite(url, parsed.database, create=create, make_folder=make_folder)
        # several processes on one file: wait for a lock instead of failing at once
        engine_kwargs["connect_args"] = {"timeout": 60}
        if create and _is_new_sqlite(parsed.database):
            try:
                _create_sqlite_whole(Path(parsed.database), engine_kwargs)
            except Exception as exc:
                _remove_made(folder)
                if not _is_storage_fault(exc):
                    raise
                raise StorageError(f"--storage {_redact(url)}: cannot create it: "
                                   f"{storage_reason(exc)}") from None
    else:
        engine_kwargs["pool_pre_ping"] = True
        connect_args = server_connect_args(parsed)
        if connect_args:
            engine_kwargs["connect_args"] = connect_args
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if not heartbeat:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                                  skip_table_creation=not create)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_settings()[0],
                grace_period=heartbeat_settings()[1], skip_table_creation=not create,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=3))
    except ImportError as exc:  # the URL's driver is not installed
        _remove_made(folder)
        raise UsageError(f"--storage {_redact(url)}: {storage_reason(exc)} (install the "
                         "database driver its URL names)") from None
    except Exception as exc:  # a server that does not answer, a damaged file, an old schema
        _remove_made(folder)
        if not _is_storage_fault(exc):
            raise
        raise StorageError(f"--storage {_redact(url)}: cannot open it: "
                           f"{storage_reason(exc)}") from None


def check_storage(url: str, *, make_folder: bool = False) -> None:
    """Check, before a search writes anything, that it can open ``url``: what
    :func:`make_storage` refuses of the URL or the SQLite file, and for a database server
    one connection (within :func:`connect_timeout`). Creates nothing."""
    parsed = check_storage_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database) if parsed.database else None
        if path is not None and not path.parent.is_dir() and make_folder:
            return  # the default storage: its folder is made with the report folder
        _check_sqlite(url, parsed.database, create=True, make_folder=False)
        return
    import sqlalchemy

    connect_args = server_connect_args(parsed)
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
    except ImportError as exc:
        raise UsageError(f"--storage {_redact(url)}: {storage_reason(exc)} (install the "
                         "database driver its URL names)") from None
    try:
        with engine.connect():
            pass
    except Exception as exc:
        if not _is_storage_fault(exc):
            raise
        raise StorageError(f"--storage {_redact(url)}: cannot open it: "
                           f"{storage_reason(exc)}") from None
    finally:
        engine.dispose()


def connect_timeout() -> int:
    """The connect timeout for a database server, in seconds: ``AUTOML_CONNECT_TIMEOUT``
    when set, else :data:`CONNECT_TIMEOUT_S`. Read when a storage is opened, not at import;
    a bad value is a :class:`UsageError` (:func:`env_seconds`)."""
    return env_seconds("AUTOML_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S)


def server_connect_args(parsed: Any) -> dict[str, Any]:
    """The ``connect_args`` for the database server of the parsed URL ``parsed``: its
    driver's connect timeout (:func:`connect_timeout`), by the name that driver takes;
    nothing where the URL sets that timeout itself or the driver is not a known one.
    Imports no driver (the dialect names it)."""
    key = _TIMEOUT_ARGS.get(parsed.get_driver_name())
    if key is None:
        return {}
    # the URL's own setting wins (a driver passes the URL's query on as keywords)
    own = {key, "connect_timeout"} if key == "connection_timeout" else {key}
    if own & set(parsed.query):
        return {}
    return {key: connect_timeout()}


def check_storage_url(url: str) -> Any:
    """The parsed SQLAlchemy URL of ``url``, or :class:`UsageError` (exit 2) for one that
    is malformed or of a kind (``foo://``) no installed database dialect handles."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise UsageError(f"--storage {_redact(url)}: unknown kind of storage "
                         f"{url.partition(':')[0]!r}; {_URL_HINT}") from None
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise UsageError(f"--storage {_redact(url)}: not a storage URL "
                         f"({storage_reason(exc)}); {_URL_HINT}") from None
    except ImportError as exc:
        raise UsageError(f"--storage {_redact(url)}: {storage_reason(exc)} (install the "
                         "database driver its URL names)") from None
    return parsed


def _check_sqlite(url: str, database: str | None, *, create: bool,
                  make_folder: bool) -> Path | None:
    """Refuse an SQLite file that cannot hold a study before SQLAlchemy opens it (which
    would create a missing file, or write Optuna's tables into someone else's database).
    Returns the folder this call created (to remove it again if opening fails)."""
    path = _sqlite_file(database)
    if path is None:
        return None
    shown = _redact(url)
    if path.is_dir():
        raise UsageError(f"--storage {shown}: {path} is a folder, not an SQLite file")
    if not path.exists():
        if not create:
            raise UsageError(f"--storage {shown}: no SQLite file at {path} (expected "
                             "sqlite:///PATH to an existing study database)")
        if not path.parent.is_dir():
            if not make_folder:
                raise UsageError(f"--storage {shown}: the folder {path.parent} does not "
                                 "exist; create it first")
            made = path.parent
            while not made.parent.exists():
                made = made.parent
            path.parent.mkdir(parents=True, exist_ok=True)
            return made
        return None
    check_sqlite_file(path, shown, create=create)
    return None


def check_sqlite_file(path: Path, shown: str, *, create: bool = False) -> None:
    """Raise unless ``path`` is an SQLite file holding an Optuna study database (or, with
    ``create``, an empty one that can become one): :class:`UsageError` for a file of
    another kind, :class:`StorageError` for a damaged (truncated, malformed) database."""
    import sqlite3
    from contextlib import closing
    from urllib.parse import quote

    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise StorageError(f"--storage {shown}: cannot read {path}: {exc.strerror}") from None
    if size == 0:
        if create:
            return  # SQLite's empty database: the search creates the tables
        raise UsageError(f"--storage {shown}: {path} is empty, not an Optuna study database")
    if not head.startswith(_SQLITE_MAGIC):
        raise UsageError(f"--storage {shown}: {path} is not an SQLite database file")
    if len(head) < 100:
        raise StorageError(f"--storage {shown}: {path} is truncated ({size} bytes, less than "
                           "an SQLite header): a damaged study database")
    # The header says how many pages the database has (valid where its "version valid
    # for" equals the change counter); a file shorter than that lost its end (a copy cut
    # short). A write-ahead log may hold the rest.
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big") if head[92:96] == head[24:28] else 0
    wal = path.with_name(path.name + "-wal")
    if pages and size < page_size * pages and not wal.exists():
        raise StorageError(f"--storage {shown}: {path} is truncated ({size} bytes, its "
                           f"header says {page_size * pages}): a damaged study database")
    try:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            stamped = all(name in tables and conn.execute(
                f"SELECT count(*) FROM {name}").fetchone()[0] > 0
                for name in ("version_info", "alembic_version"))
    except sqlite3.Error as exc:
        raise StorageError(f"--storage {shown}: {path} is a damaged SQLite database: "
                           f"{exc}") from None
    if "studies" not in tables and (tables or not create):
        raise UsageError(f"--storage {shown}: {path} is an SQLite database but not an "
                         "Optuna study database (no 'studies' table)")
    if not create and not stamped:
        # Optuna, opening it, would write the missing rows: a reader must not race the
        # creator (or repair a file whose creation was cut short behind a search's back).
        raise StorageError(f"--storage {shown}: {path} holds Optuna's tables but no schema "
                           "version yet: a search is creating it (try again in a moment), "
                           "or its creation was cut short (run `automl search` on it)")


def _sqlite_file(database: str | None) -> Path | None:
    """The file an SQLite URL's database names (``None``: in memory, or a ``file:`` URI,
    which SQLite resolves itself)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _is_new_sqlite(database: str | None) -> bool:
    """Whether ``database`` names an SQLite file still to be created (missing or empty)."""
    path = _sqlite_file(database)
    return path is not None and (not path.exists() or path.stat().st_size == 0)


def _create_sqlite_whole(path: Path, engine_kwargs: dict[str, Any]) -> None:
    """Write Optuna's schema into a file beside ``path``, then move it into place whole.

    Optuna creates a schema in steps (tables, then the version row, then Alembic's stamp),
    and a reader that opens the file between steps writes the missing rows itself, racing
    the creator, whose own insert then fails: a search started while ``automl studies``,
    the dashboard or a test polled its file crashed at start. Built aside, the file is
    either absent or complete. Two creators at once: the first file in place wins, the
    other's is dropped (both hold the same empty schema).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.creating")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            made = optuna.storages.RDBStorage(f"sqlite:///{tmp.resolve()}",
                                              engine_kwargs=engine_kwargs)
        made.engine.dispose()
        try:
            os.link(tmp, path)  # refuses to replace a file made meanwhile
        except FileExistsError:
            if path.stat().st_size == 0:
                os.replace(tmp, path)
        except OSError:  # a file system without hard links
            if not path.exists() or path.stat().st_size == 0:
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_made(folder: Path | None) -> None:
    """Remove the folder :func:`make_storage` created, and what opening put in it."""
    if folder is not None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _is_storage_fault(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) comes from the database layer."""
    import sqlalchemy.exc

    while exc is not None:
        if isinstance(exc, (sqlalchemy.exc.SQLAlchemyError, OSError,
                            optuna.exceptions.StorageInternalError)):
            return True
        if isinstance(exc, RuntimeError) and "optuna" in str(exc).lower():
            return True  # a schema of another Optuna version
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def storage_reason(exc: BaseException) -> str:
    """The innermost cause's message, on one line (Optuna wraps the driver's error, and
    SQLAlchemy appends the SQL and a link)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).split("\n[SQL:")[0].split("\n(Background")[0]
    return (" ".join(text.split()) or type(exc).__name__)[:300]


def heartbeats(storage: optuna.storages.BaseStorage) -> bool:
    """Whether ``storage`` records heartbeats (the RDB storages :func:`make_storage` builds)."""
    # Duck-typed: a study wraps its RDBStorage in Optuna's (private) caching storage.
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and hasattr(storage, "record_heartbeat") and \
        interval() is not None


def open_study(name: str, storage: optuna.storages.BaseStorage, directions: Sequence[str],
               sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner,
               record: dict[str, Any]) -> tuple[optuna.Study, bool]:
    """Create the study, or load it to continue it. Returns ``(study, created)``.

    ``record`` (the resolved spec, seed, objectives) is stored with a new study; a loaded
    study must have the same objective directions.
    """
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                pruner=pruner, directions=list(directions), load_if_exists=True)
    created = STUDY_RECORD not in study.user_attrs
    if created:
        from automl.redaction import redact_spec

        # The study is readable by anyone with the storage (and shown in report.html):
        # never store the storage URL's password in it.
        if isinstance(record.get("spec"), dict):
            record = {**record, "spec": redact_spec(record["spec"])}
        study.set_user_attr(STUDY_RECORD, json.loads(json.dumps({**record, "versions": versions()},
                                                        default=str)))
    else:
        stored = [d.name.lower() for d in study.directions]
        wanted = [f"{d}".lower() for d in directions]
        if stored != wanted:
            raise UsageError(f"study {name!r} exists with directions {stored}, but the spec asks "
                             f"for {wanted}; use another study name (--study NEW)")
    return study, created


def count_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    """How many trials the study ``name`` has (0 when it does not exist yet)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def load_study(study: str, storage: str | None = None, **kwargs: Any) -> optuna.Study:
    """The Optuna study called ``study`` (default storage: ``reports/<study>/study.db``);
    ``kwargs`` go to ``optuna.load_study`` (sampler, pruner)."""
    url = resolve_storage(study, storage)
    store = make_storage(url, create=False)
    try:
        try:
            return optuna.load_study(study_name=study, storage=store, **kwargs)
        except KeyError:
            names = optuna.get_all_study_names(storage=store)
            raise UsageError(f"no study {study!r} in {_redact(url)}; studies there: "
                             f"{', '.join(names) or 'none'}") from None
    except Exception as exc:  # the server went away, or the file is damaged past its header
        if isinstance(exc, AutomlError) or not _is_storage_fault(exc):
            raise
        raise StorageError(f"--storage {_redact(url)}: cannot read it: "
                           f"{storage_reason(exc)}") from None


def _redact(url: str) -> str:
    """A storage URL without its password, for messages."""
    from automl.redaction import redact_url

    return redact_url(url)
