"""Writing the report files, atomically (write a temporary file, then rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import optuna
import pandas as pd

from automl.reports.leaderboard import leaderboard_frame, objectives
from automl.studies import ATTR

# Columns of leaderboard.md beside the objectives, params and test metrics.
_MD_COLUMNS = ["rank", "trial", "state", "stop_reason", "epochs", "best_epoch"]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def markdown(study: optuna.Study, frame: pd.DataFrame, top_k: int) -> str:
    """``leaderboard.md``: a summary line and the top K rows."""
    objs = [o["metric"] for o in objectives(study)]
    params = [c for c in frame.columns if c in _param_columns(study, frame)]
    tests = [c for c in frame.columns if c.startswith("test_") and c[5:] in
             {o.removeprefix("val_") for o in objs}]
    cols = ["rank", "trial", "state", *objs, *tests, "stop_reason", "epochs", "best_epoch",
            "gap", *params, "duration_s"]
    cols = [c for c in dict.fromkeys(cols) if c in frame.columns]
    counts = frame["state"].value_counts().to_dict()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("complete", "pruned", "failed")
                        if counts.get(s, 0))
    head = frame.head(top_k)[cols].astype(object).where(frame.head(top_k)[cols].notna(), "")
    lines = [f"# Leaderboard: {study.study_name}", "",
             f"{len(frame)} trials ({summary or 'none finished'}); "
             f"objective: {', '.join(objs)}; top {min(top_k, len(frame))} shown.", ""]
    lines.append(head.to_markdown(index=False, floatfmt=".4g") if len(head) else "_no trials_")
    return "\n".join(lines) + "\n"


def _param_columns(study: optuna.Study, frame: pd.DataFrame) -> list[str]:
    names: list[str] = []
    for t in study.get_trials(deepcopy=False):
        names += [p for p in t.params if p not in names]
    return names


def write_reports(study: optuna.Study, report_dir: Path, top_k: int) -> pd.DataFrame:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` into ``report_dir``."""
    frame = leaderboard_frame(study)
    atomic_write(report_dir / "leaderboard.csv", frame.to_csv(index=False))
    atomic_write(report_dir / "leaderboard.md", markdown(study, frame, top_k))
    return frame


def top_k_of(study: optuna.Study, default: int = 10) -> int:
    """The study's ``report.top_k`` as recorded at creation."""
    spec = study.user_attrs.get(ATTR, {}).get("spec", {})
    return int(spec.get("report", {}).get("top_k", default) or default)
