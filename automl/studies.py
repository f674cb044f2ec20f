"""Where studies live: storage URLs, report folders, creating and loading Optuna studies."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from automl.errors import UsageError

ATTR = "automl"  # the study user attribute holding automl's own record of the study
RESULT = "automl"  # the trial user attribute holding a trial's result (one write per trial)
TEST_METRICS = "automl_test_metrics"


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


def open_study(name: str, storage_url: str, directions: Sequence[str],
               sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner,
               record: dict[str, Any]) -> tuple[optuna.Study, bool]:
    """Create the study, or load it to continue it. Returns ``(study, created)``.

    ``record`` (the resolved spec, seed, objectives) is stored with a new study; a loaded
    study must have the same objective directions.
    """
    if storage_url.startswith("sqlite:///"):
        Path(storage_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=storage_url, study_name=name, sampler=sampler,
                                pruner=pruner, directions=list(directions), load_if_exists=True)
    created = ATTR not in study.user_attrs
    if created:
        study.set_user_attr(ATTR, json.loads(json.dumps({**record, "versions": versions()},
                                                        default=str)))
    else:
        stored = [d.name.lower() for d in study.directions]
        wanted = [f"{d}".lower() for d in directions]
        if stored != wanted:
            raise UsageError(f"study {name!r} exists with directions {stored}, but the spec asks "
                             f"for {wanted}; use another study name (--study)")
    return study, created


def load_study(study: str, storage: str | None = None) -> optuna.Study:
    """The Optuna study called ``study`` (default storage: ``reports/<study>/study.db``)."""
    url = resolve_storage(study, storage)
    try:
        return optuna.load_study(study_name=study, storage=url)
    except KeyError:
        names = optuna.get_all_study_names(storage=url)
        raise UsageError(f"no study {study!r} in {url}; studies there: "
                         f"{', '.join(names) or 'none'}") from None
