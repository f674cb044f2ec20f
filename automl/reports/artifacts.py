"""Checkpoint files: one per trial while it matters, bounded to the current top K.

They live under the study's *store folder* (:func:`store_root`): the report folder, or,
with ``execution.artifacts`` set, ``<artifacts>/<study>/`` in a folder that every machine
of a shared study mounts, so a trial trained on one machine can be scored, exported and
copied into ``best/`` on any other.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


def store_root(spec: Any, report_dir: Path) -> Path:
    """The folder that holds the study's checkpoints and Optuna artifacts: ``report_dir``,
    or ``<execution.artifacts>/<study>`` where the spec names a shared folder."""
    shared = getattr(getattr(spec, "execution", None), "artifacts", None)
    return Path(shared).expanduser() / spec.study if shared else report_dir


def checkpoint_path(root: Path, number: int) -> Path:
    """Where trial ``number`` saves its best weights, under the store folder ``root``."""
    return root / "checkpoints" / f"trial_{number}.pt"


def retain(root: Path, keep: Iterable[int]) -> None:
    """Delete every trial checkpoint under the store folder ``root`` except those of
    trials ``keep`` (the top K, and the running trials of every process)."""
    keep = set(keep)
    folder = root / "checkpoints"
    if not folder.is_dir():
        return
    # a checkpoint, and a cross-validated trial's out-of-fold predictions beside it
    for path in [*folder.glob("trial_*.pt"), *folder.glob("trial_*.oof.npy")]:
        try:
            number = int(path.name.split(".")[0].removeprefix("trial_"))
        except ValueError:
            continue
        if number not in keep:
            path.unlink(missing_ok=True)


def write_best(report_dir: Path, number: int, params: dict[str, Any],
               metrics: dict[str, Any], root: Path | None = None) -> Path:
    """Fill ``best/`` with the best trial's weights, params (YAML) and metrics (JSON)."""
    best = report_dir / "best"
    tmp = report_dir / ".best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src = checkpoint_path(root or report_dir, number)
    if src.exists():
        shutil.copy2(src, tmp / "model.pt")
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp / "metrics.json").write_text(json.dumps({"trial": number, **metrics}, indent=2) + "\n")
    shutil.rmtree(best, ignore_errors=True)
    tmp.rename(best)
    return best
