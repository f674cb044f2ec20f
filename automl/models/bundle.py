"""Model bundles: a folder with everything needed to predict on new raw data, and nothing
that runs code when it is read.

::

    bundle.json     what the model is: trainer (name, plugin, version), automl's version,
                    study and trial, params, metrics, the data's shape and classes, and
                    the input schema (columns, categories, label mapping)
    model.pt        the trainer's checkpoint in its own data-only format (``model_file``:
                    torch weights read with ``weights_only=True``; skops for scikit-learn)
    params.yaml     the params, for people
    metrics.json    the metrics, for people

Reading a bundle reads JSON; predicting imports the installed trainer plugin named in it
and hands it the checkpoint (:meth:`automl.plugin.Predicts.predict`): the code that runs
is the installed plugin's, never anything from the folder.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from automl import __version__
from automl.data import DataInfo
from automl.errors import UsageError
from automl.schema import InputSchema

__all__ = ["BUNDLE_FILE", "FORMAT", "BundleRecord", "find_bundle", "read_bundle",
           "write_bundle"]

BUNDLE_FILE = "bundle.json"
FORMAT = 1


@dataclass(frozen=True)
class BundleRecord:
    """What ``bundle.json`` says."""

    folder: Path
    trainer: str
    plugin: str | None
    plugin_version: str | None
    automl_version: str
    study: str | None
    trial: int | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    info: DataInfo
    schema: InputSchema
    model_file: str

    @property
    def model_path(self) -> Path:
        return self.folder / self.model_file


def info_to_dict(info: DataInfo) -> dict[str, Any]:
    return {"name": info.name, "task": info.task, "input_shape": list(info.input_shape),
            "n_outputs": info.n_outputs, "class_names": list(info.class_names),
            "feature_names": list(info.feature_names)}


def info_from_dict(data: dict[str, Any]) -> DataInfo:
    return DataInfo(name=data["name"], task=data["task"],
                    input_shape=tuple(data["input_shape"]), n_outputs=int(data["n_outputs"]),
                    class_names=tuple(data.get("class_names", ())),
                    feature_names=tuple(data.get("feature_names", ())))


def write_bundle(folder: Path, *, checkpoint: Path, trainer: Any, plugin: str | None,
                 plugin_version: str | None, params: dict[str, Any], metrics: dict[str, Any],
                 info: DataInfo, schema: InputSchema, study: str | None = None,
                 trial: int | None = None) -> Path:
    """Write a bundle into ``folder`` (replacing it whole: a reader never sees half)."""
    model_file = str(getattr(trainer, "model_file", "model.pt"))
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if checkpoint.exists():
        shutil.copy2(checkpoint, tmp / model_file)
    record = {"format": FORMAT, "automl_version": __version__,
              "trainer": {"name": trainer.name, "plugin": plugin, "version": plugin_version},
              "study": study, "trial": trial, "params": params, "metrics": metrics,
              "info": info_to_dict(info), "schema": schema.to_dict(),
              "model_file": model_file, "created_at": time.time()}
    (tmp / BUNDLE_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp / "metrics.json").write_text(json.dumps({"trial": trial, **metrics}, indent=2,
                                                 default=str) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(folder)
    return folder


def find_bundle(path: str | Path) -> Path:
    """The bundle folder at ``path``: a bundle itself, or a report folder's ``best/``."""
    path = Path(path)
    for folder in (path, path / "best"):
        if (folder / BUNDLE_FILE).is_file():
            return folder
    if (path / "best" / "model.pt").exists() or (path / "model.pt").exists():
        raise UsageError(f"{path} was written by an automl without model bundles: export "
                         "its trial again (`automl export STUDY --trial N`)")
    raise UsageError(f"no model bundle in {path} (expected {BUNDLE_FILE} there or in best/)")


def read_bundle(path: str | Path) -> BundleRecord:
    """Read a bundle's ``bundle.json`` (JSON only: nothing runs)."""
    folder = find_bundle(path)
    try:
        data = json.loads((folder / BUNDLE_FILE).read_text())
        trainer = data["trainer"]
        if data.get("format") != FORMAT:
            raise UsageError(f"{folder}: bundle format {data.get('format')!r}, this automl "
                             f"reads format {FORMAT}")
        model_file = str(data["model_file"])
        if Path(model_file).name != model_file:
            raise UsageError(f"{folder}: model_file must be a file name, got {model_file!r}")
        return BundleRecord(
            folder=folder, trainer=str(trainer["name"]), plugin=trainer.get("plugin"),
            plugin_version=trainer.get("version"),
            automl_version=str(data.get("automl_version")), study=data.get("study"),
            trial=data.get("trial"), params=dict(data["params"]),
            metrics=dict(data.get("metrics", {})), info=info_from_dict(data["info"]),
            schema=InputSchema.from_dict(data["schema"]), model_file=model_file)
    except UsageError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{folder / BUNDLE_FILE} is not a readable model bundle: "
                         f"{type(exc).__name__}: {exc}") from None
