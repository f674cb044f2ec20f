"""Leaderboard reports: a DataFrame, CSV and Markdown."""

from __future__ import annotations

from automl.reports.leaderboard import leaderboard_frame, objectives, top_numbers
from automl.reports.writers import atomic_write, markdown, top_k_of, write_reports

__all__ = ["atomic_write", "leaderboard_frame", "markdown", "objectives",
           "top_numbers", "top_k_of", "write_reports"]
