"""Keeping the reports current while a search runs, and the progress display fed.

The leaderboards are rebuilt when a trial finished, but at most every
:data:`MIN_INTERVAL_S` seconds and never more often than keeps their cost under
:data:`TIME_SHARE` of the search's time (a rebuild reads every trial: 10-60 ms at a few
hundred trials). Measured on the no-op study of ``bench/vs_plain.py`` (200 trials of
10 epochs): rewriting them after every trial took 20 of the 25 ms each trial cost. The
first rewrite also waits :data:`MIN_INTERVAL_S` after the search started: it is the dear
one (it imports pandas and the report code, 0.26 s here), and it used to land on the first
finished trial, when a search's trials come fastest (in the no-op study it was a third of
the engine's cost per trial). The end of a search always writes everything
(:mod:`automl.engine.finish`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from automl.engine import trials as trial_counts
from automl.reports import artifacts, top_numbers, write_reports

__all__ = ["MIN_INTERVAL_S", "TIME_SHARE", "LiveReports"]

MIN_INTERVAL_S = 1.0
TIME_SHARE = 0.05


class LiveReports:
    """The reports of a running search: rewritten when a trial finished (:attr:`due`),
    and a progress snapshot for ``progress`` (the CLI's progress bar)."""

    def __init__(self, report_dir: Path, top_k: int, budget_trials: int,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 keep: int | None = None, store_dir: Path | None = None) -> None:
        self.report_dir = report_dir
        self.store_dir = store_dir or report_dir  # where the checkpoints are
        self.top_k = top_k
        self.keep = keep if keep is not None else top_k  # trials whose checkpoints stay
        self.budget_trials = budget_trials
        self.callback = progress
        self.due = False
        self._written_at = time.monotonic()  # the search's start: see the module's docstring
        self._cost = 0.0

    def write_due(self, study: optuna.Study) -> None:
        """Rewrite the reports (and drop checkpoints out of the top K) when a trial
        finished since the last time and the rules above allow it."""
        now = time.monotonic()
        if not self.due or now - self._written_at < max(MIN_INTERVAL_S,
                                                        self._cost / TIME_SHARE):
            return
        self.due = False
        frame = write_reports(study, self.report_dir, self.top_k)
        self._written_at = time.monotonic()
        self._cost = self._written_at - now
        # Running trials (of any process sharing the folder) keep theirs: not judged yet.
        running = frame.loc[frame["state"] == "running", "trial"].tolist()
        artifacts.retain(self.store_dir, top_numbers(frame, self.keep) + running)

    def progress(self, study: optuna.Study, running: int) -> None:
        """Tell the progress display where the study stands (``running``: this
        controller's running trials)."""
        if self.callback is None:
            return
        trials = study.get_trials(deepcopy=False)
        counts = trial_counts.state_counts(trials)
        best = trial_counts.best_trial(study)
        self.callback({"total": self.budget_trials, "done": trial_counts.counted(trials),
                       "running": running,
                       "pruned": counts.get("pruned", 0), "failed": counts.get("failed", 0),
                       "best": best.value if best else None,
                       "best_number": best.number if best else None})
