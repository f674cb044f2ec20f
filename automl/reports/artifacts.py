"""Checkpoint files: one per trial while it matters, bounded to the current top K."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


def checkpoint_path(report_dir: Path, number: int) -> Path:
    """Where trial ``number`` saves its best weights."""
    return report_dir / "checkpoints" / f"trial_{number}.pt"


def retain(report_dir: Path, keep: Iterable[int]) -> None:
    """Delete every trial checkpoint except those of trials ``keep`` (the top K)."""
    keep = set(keep)
    folder = report_dir / "checkpoints"
    if not folder.is_dir():
        return
    for path in folder.glob("trial_*.pt"):
        try:
            number = int(path.stem.removeprefix("trial_"))
        except ValueError:
            continue
        if number not in keep:
            path.unlink(missing_ok=True)


def write_best(report_dir: Path, number: int, params: dict[str, Any],
               metrics: dict[str, Any]) -> Path:
    """Fill ``best/`` with the best trial's weights, params (YAML) and metrics (JSON)."""
    best = report_dir / "best"
    tmp = report_dir / ".best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src = checkpoint_path(report_dir, number)
    if src.exists():
        shutil.copy2(src, tmp / "model.pt")
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp / "metrics.json").write_text(json.dumps({"trial": number, **metrics}, indent=2) + "\n")
    shutil.rmtree(best, ignore_errors=True)
    tmp.rename(best)
    return best
