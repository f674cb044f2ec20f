"""The per-trainer summary of a search over several trainers: how each trainer did and
what it cost (``leaderboard.md`` and ``report.html`` show it)."""

from __future__ import annotations

import pandas as pd

__all__ = ["trainer_table"]


def trainer_table(frame: pd.DataFrame, objective: str) -> pd.DataFrame | None:
    """One row per trainer, best first: trials, complete, pruned, failed, the best
    ``objective`` and its trial, seconds spent training (the sum of its trials' durations)
    and that time's share. ``None`` when the study has one trainer (no ``trainer`` column).

    ``frame`` is a leaderboard (:func:`automl.reports.leaderboard_frame`): ranked, so the
    first completed row of a trainer is its best.
    """
    if "trainer" not in frame.columns or frame["trainer"].isna().all():
        return None
    frame = frame[frame["state"] != "ensemble"]
    rows = []
    total = float(frame["duration_s"].fillna(0).sum()) if "duration_s" in frame else 0.0
    for name, group in frame.groupby("trainer", sort=False, dropna=True):
        done = group[group["state"] == "complete"]
        spent = float(group["duration_s"].fillna(0).sum()) if "duration_s" in group else 0.0
        rows.append({
            "trainer": name, "trials": len(group), "complete": len(done),
            "pruned": int((group["state"] == "pruned").sum()),
            "failed": int((group["state"] == "failed").sum()),
            f"best {objective}": done[objective].iloc[0] if len(done) and
            objective in done else None,
            "best trial": int(done["trial"].iloc[0]) if len(done) else None,
            "time_s": round(spent, 2),
            "time share": f"{spent / total:.0%}" if total > 0 else "",
        })
    table = pd.DataFrame(rows)
    # Trainers with a completed trial in rank order (groupby kept the frame's order), then
    # the others.
    return pd.concat([table[table["complete"] > 0], table[table["complete"] == 0]],
                     ignore_index=True)
