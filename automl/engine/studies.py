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
from automl.errors import UsageError


def default_report_dir(study_name: str) -> Path:
    """``reports/<study>`` under the current folder."""
    return Path("reports") / study_name


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
    interval = int(os.environ.get("AUTOML_HEARTBEAT_INTERVAL", "5"))
    return interval, int(os.environ.get("AUTOML_HEARTBEAT_GRACE", str(6 * interval)))


def make_storage(url: str, *, create: bool = True,
                 heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; RDB storages get heartbeats and stale-trial retry
    (unless ``heartbeat=False``: a study one process holds, see :mod:`automl.engine.local_study`).

    ``create=False`` skips creating tables: only the first process of a study creates the
    schema (two processes creating it at once crash on SQLite and PostgreSQL).
    """
    if not url.startswith(("sqlite:", "postgresql", "mysql")):
        return optuna.storages.get_storage(url)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # several processes on one file: wait for a lock instead of failing at once
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
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
        study.set_user_attr(STUDY_RECORD, json.loads(json.dumps({**record, "versions": versions()},
                                                        default=str)))
    else:
        stored = [d.name.lower() for d in study.directions]
        wanted = [f"{d}".lower() for d in directions]
        if stored != wanted:
            raise UsageError(f"study {name!r} exists with directions {stored}, but the spec asks "
                             f"for {wanted}; use another study name (--study)")
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
        return optuna.load_study(study_name=study, storage=store, **kwargs)
    except KeyError:
        names = optuna.get_all_study_names(storage=store)
        raise UsageError(f"no study {study!r} in {_redact(url)}; studies there: "
                         f"{', '.join(names) or 'none'}") from None


def _redact(url: str) -> str:
    """A storage URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':')[0]}:***@{tail}"
