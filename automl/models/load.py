"""``automl.load``: a model from a bundle folder, a report folder or a study's trial."""

from __future__ import annotations

from pathlib import Path

from automl.errors import UsageError
from automl.models.bundle import BUNDLE_FILE, read_bundle
from automl.models.model import Model

__all__ = ["load"]


def load(path_or_study: str | Path | None = None, trial: int | None = None, *,
         study: str | None = None, storage: str | None = None) -> Model:
    """A trained model, ready to ``predict`` on new raw data.

    ``path_or_study`` is a model bundle folder (``reports/digits-cnn/best``), a report
    folder (``reports/digits-cnn``: its best model) or a study name. ``trial`` picks a
    trial of the study instead of the best one: its bundle is exported on first use
    (``reports/<study>/bundles/trial_<N>``), from its kept weights or by training it again
    from its params. ``storage`` is the study's storage URL where it is not the default
    SQLite file in the report folder.

    Loading reads JSON and the trainer's data-only weights; the code that runs is the
    installed trainer plugin's, never anything from the folder.
    """
    if study is not None and path_or_study is not None:
        raise UsageError("load: give a path or study=..., not both")
    if study is None and path_or_study is not None and Path(path_or_study).exists():
        return _from_path(Path(path_or_study), trial, storage)
    name = study if study is not None else path_or_study
    if name is None:
        raise UsageError("load: give a bundle or report folder, or study=NAME")
    if study is None and _looks_like_path(str(name)):
        raise UsageError(f"no model bundle or report folder at {name}")
    return _from_study(str(name), trial, storage)


def _from_path(path: Path, trial: int | None, storage: str | None) -> Model:
    if trial is None:
        return Model.from_folder(path)
    from automl.models.export import bundle_dir

    kept = bundle_dir(path, trial)
    if (kept / BUNDLE_FILE).is_file():
        return Model.from_folder(kept)
    best = read_bundle(path)  # the report folder's best/ names the study
    if best.trial == trial:
        return Model(best)
    if best.study is None:
        raise UsageError(f"{path}: its bundle names no study to export trial {trial} from")
    if storage is None and (path / "study.db").is_file():
        from automl.engine.studies import sqlite_url

        storage = sqlite_url(path / "study.db")
    return _from_study(best.study, trial, storage)


def _from_study(study: str, trial: int | None, storage: str | None) -> Model:
    from automl.engine.studies import default_report_dir
    from automl.models.export import bundle_dir, export_trial

    report_dir = default_report_dir(study)
    if trial is None and (report_dir / "best" / BUNDLE_FILE).is_file() and storage is None:
        return Model.from_folder(report_dir / "best")
    if trial is not None and storage is None and \
            (bundle_dir(report_dir, trial) / BUNDLE_FILE).is_file():
        return Model.from_folder(bundle_dir(report_dir, trial))
    return Model.from_folder(export_trial(study, trial, storage=storage))


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(".")
