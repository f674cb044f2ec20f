"""Live progress of a search in the terminal (rich); nothing when output is not a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class SearchProgress:
    """Trials done/running/pruned/failed, the best so far, elapsed and remaining time.

    The controller calls :meth:`update` after every finished trial and when trials start.
    """

    def __init__(self, total: int, metric: str, console: Console | None = None) -> None:
        # the status holds the user's metric name: printed as text, never as markup
        self.console = console or Console(stderr=True, markup=False)
        self.enabled = self.console.is_terminal
        self.metric = metric
        self._progress = Progress(
            TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}", markup=False), TimeElapsedColumn(),
            TextColumn("left"), TimeRemainingColumn(), console=self.console, transient=False,
            disable=not self.enabled)
        self._task = self._progress.add_task("search", total=total, status="")

    def __enter__(self) -> SearchProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def update(self, total: int, done: int, running: int, pruned: int, failed: int,
               best: float | None, best_number: int | None) -> None:
        best_text = f" | best {self.metric} {best:.4f} (#{best_number})" if best is not None \
            else ""
        status = f"{running} running, {pruned} pruned, {failed} failed{best_text}"
        self._progress.update(self._task, total=total, completed=done, status=status)
