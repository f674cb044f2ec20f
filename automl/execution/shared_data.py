"""The search's data, loaded and split once by the controller and shared with its workers.

A dataset plugin may take seconds to build its data (a CSV parsed and encoded, images
decoded); every worker building it again costs that many seconds of CPU per worker at the
start, on the cores the trials need. The controller writes the splits it made to ``.npy``
files in a folder of the report folder (:func:`save_splits`) and each worker maps them
into memory (:func:`load_splits`): read-only, one copy in the page cache for all. The
folder is removed when the search ends.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from automl.data import DataInfo, DataSplits, HeldOutSplit, Split
from automl.schema import InputSchema

__all__ = ["load_splits", "remove_stale", "save_splits"]

PREFIX = ".shared-data-"
_PARTS = ("train", "val", "test")
# Arrays larger than this are memory-mapped, read-only; smaller ones are read into memory
# (a writable copy: torch warns about, and must copy, read-only arrays).
MMAP_BYTES = 256 * 2**20


def save_splits(splits: DataSplits, report_dir: Path) -> Path:
    """Write ``splits`` under ``report_dir`` (a folder of this process); returns it."""
    remove_stale(report_dir)
    folder = report_dir / f"{PREFIX}{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in _PARTS:
        part = getattr(splits, name)
        if part is None:
            continue
        x, y = (part._x, part._y) if isinstance(part, HeldOutSplit) else (part.x, part.y)
        np.save(folder / f"{name}_x.npy", np.ascontiguousarray(x), allow_pickle=False)
        np.save(folder / f"{name}_y.npy", np.ascontiguousarray(y), allow_pickle=False)
    info = splits.info
    (folder / "info.json").write_text(json.dumps({
        "name": info.name, "task": info.task, "input_shape": list(info.input_shape),
        "n_outputs": info.n_outputs, "class_names": list(info.class_names),
        "feature_names": list(info.feature_names),
        "schema": splits.schema.to_dict() if splits.schema else None}))
    return folder


def load_splits(folder: Path) -> DataSplits:
    """The splits :func:`save_splits` wrote (large arrays memory-mapped, read-only)."""
    raw = json.loads((folder / "info.json").read_text())
    info = DataInfo(name=raw["name"], task=raw["task"], input_shape=tuple(raw["input_shape"]),
                    n_outputs=raw["n_outputs"], class_names=tuple(raw["class_names"]),
                    feature_names=tuple(raw["feature_names"]))
    parts: dict[str, Split | None] = {}
    for name in _PARTS:
        if not (folder / f"{name}_x.npy").exists():
            parts[name] = None
            continue
        x, y = (_array(folder / f"{name}_{a}.npy") for a in ("x", "y"))
        parts[name] = HeldOutSplit(x, y) if name == "test" else Split(x, y)
    assert parts["train"] is not None and parts["val"] is not None
    schema = InputSchema.from_dict(raw["schema"]) if raw.get("schema") else None
    return DataSplits(info=info, train=parts["train"], val=parts["val"], test=parts["test"],
                      schema=schema)


def _array(path: Path) -> np.ndarray:
    mode = "r" if path.stat().st_size > MMAP_BYTES else None
    return np.load(path, mmap_mode=mode, allow_pickle=False)


def remove_stale(report_dir: Path) -> None:
    """Remove the shared-data folders of searches that no longer run (a ``kill -9``)."""
    for folder in report_dir.glob(f"{PREFIX}*"):
        pid = folder.name.removeprefix(PREFIX)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
