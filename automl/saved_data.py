"""Data given in memory (``automl.search(spec, data=...)``), saved for the workers.

A search runs its trials in other processes, which load the data by the spec's dataset
entry. In-memory data is therefore saved to a folder in the report dir as plain NumPy
files (``x.npy``, ``y.npy``: read memory-mapped, so a large array is paged in, not copied
per worker) and a ``dataset.json`` (names, classes, the input schema, a fingerprint), and
the spec names it as ``dataset: {name: saved, path: ...}``: the built-in ``saved``
dataset loader reads it back. Nothing here is a pickle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from automl.data import Dataset
from automl.errors import DataError, UsageError
from automl.schema import InputSchema

__all__ = ["DATASET_FILE", "as_dataset", "load_saved_dataset", "save_dataset"]

DATASET_FILE = "dataset.json"


def as_dataset(data: Any, *, target: str | None = None, task: str | None = None,
               name: str = "data") -> Dataset:
    """``data`` as a :class:`Dataset`: a Dataset as it is, a pandas DataFrame with its
    ``target`` column (encoded like a CSV file: numeric and one-hot categorical columns),
    or a pair ``(X, y)`` of arrays (``X`` a DataFrame or an array of samples)."""
    if isinstance(data, Dataset):
        return data
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        if not target:
            raise UsageError("data is a DataFrame: give target= the column to predict")
        return _table(data, target, task, name)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        if target is not None:
            raise UsageError("target= is for a DataFrame; with (X, y) the target is y")
        if hasattr(x, "columns"):
            import pandas as pd

            frame = x.copy()
            column = "__target__" if "target" in frame.columns else "target"
            frame[column] = pd.Series(np.asarray(y), index=frame.index)
            return _renamed(_table(frame, column, task, name), column)
        from automl.tables import array_dataset

        return array_dataset(np.asarray(x), np.asarray(y), name=name, source="data", task=task,
                             x_label="X", y_label="y")
    raise UsageError(f"data must be a pandas DataFrame (with target=), a pair (X, y) or a "
                     f"Dataset, not {type(data).__name__}")


def _table(frame: Any, target: str, task: str | None, name: str) -> Dataset:
    from automl.tables import table_dataset

    return table_dataset(frame, name=name, target=target, task=task, source="data")


def _renamed(dataset: Dataset, column: str) -> Dataset:
    """A table dataset built with a made-up target column: new data comes without it."""
    from dataclasses import replace

    schema = dataset.schema
    if schema is not None:
        schema = replace(schema, target=None,
                         ignored=tuple(c for c in schema.ignored if c != column))
    return replace(dataset, schema=schema)


def fingerprint(dataset: Dataset) -> str:
    """A hash of the data (features, targets and how they are read)."""
    h = hashlib.sha256()
    for array in (dataset.x, dataset.y):
        h.update(str((array.dtype.str, array.shape)).encode())
        h.update(np.ascontiguousarray(array).data)
    h.update(json.dumps(InputSchema.of_dataset(dataset).to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def save_dataset(dataset: Dataset, folder: Path) -> Path:
    """Save ``dataset`` in ``folder`` (replacing what was there); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "x.npy", np.ascontiguousarray(dataset.x), allow_pickle=False)
    np.save(folder / "y.npy", np.ascontiguousarray(dataset.y), allow_pickle=False)
    meta = {"name": dataset.name, "task": dataset.task,
            "feature_names": list(dataset.feature_names),
            "class_names": list(dataset.class_names),
            "schema": InputSchema.of_dataset(dataset).to_dict(),
            "fingerprint": fingerprint(dataset)}
    (folder / DATASET_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return folder


def saved_fingerprint(folder: Path) -> str | None:
    """The fingerprint of the data saved in ``folder``, ``None`` when there is none."""
    try:
        return json.loads((folder / DATASET_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError):
        return None


def _plain_array(file: Path, mmap_mode: str | None = None) -> np.ndarray:
    # A forged header (claiming terabytes) and a planted pickle are refused before
    # anything is allocated or unpickled: the loader `automl predict --data` uses too.
    from automl.tables import load_plain_array

    array = load_plain_array(file, str(file), mmap_mode)
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        array.close()
        raise DataError(f"{file} is an .npz archive, not a .npy array")
    return array


def load_saved_dataset(*, path: str) -> Dataset:
    """The dataset :func:`save_dataset` wrote (``dataset: {name: saved, path: ...}``)."""
    folder = Path(path)
    source = f"saved dataset {str(path)!r}"
    try:
        meta = json.loads((folder / DATASET_FILE).read_text())
        x = _plain_array(folder / "x.npy", mmap_mode="r")
        y = _plain_array(folder / "y.npy")
        schema = InputSchema.from_dict(meta["schema"])
        return Dataset(name=str(meta["name"]), x=x, y=y, task=meta["task"],
                       feature_names=tuple(meta.get("feature_names", ())),
                       class_names=tuple(meta.get("class_names", ())), schema=schema)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{source} cannot be read: {type(exc).__name__}: {exc}") from None
