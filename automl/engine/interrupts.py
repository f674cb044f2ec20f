"""Ctrl-C during a search: the first stops new trials, the second stops the running ones.

:class:`Interrupts` is a context manager that counts SIGINTs while a search runs (and
puts the previous handler back after). It raises nothing by itself where trials run in
worker processes: the controller's loop looks at :attr:`Interrupts.count` between steps,
so that a Ctrl-C never lands in the middle of a storage write (a transaction cut short
kept SQLite locked). Where the trial runs in the controller's own process
(``execution.workers: 0``) nothing else could stop it, so the second Ctrl-C raises
``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from automl.errors import AutomlError

__all__ = ["Interrupted", "Interrupts"]


class Interrupted(AutomlError):
    """The search was stopped with Ctrl-C; what finished is stored and the run can resume."""

    exit_code = 130

    def __init__(self, message: str = "interrupted: finished trials are kept; run the same "
                                      "command again to continue the study") -> None:
        super().__init__(message)


class Interrupts:
    """Counts Ctrl-C presses inside a ``with`` block.

    Args:
        raise_second: raise ``KeyboardInterrupt`` in the handler at the second press (trials
            in this very process); else only count.
    """

    def __init__(self, raise_second: bool = False) -> None:
        self.raise_second = raise_second
        self.count = 0
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> Interrupts:
        # Signal handlers can only be set from the main thread (a notebook's worker thread
        # keeps Python's default: KeyboardInterrupt at once).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1 and self.raise_second:
            raise KeyboardInterrupt

    @property
    def stopping(self) -> bool:
        """A first Ctrl-C came: start no new trial."""
        return self.count >= 1

    @property
    def stop_now(self) -> bool:
        """A second Ctrl-C came: stop the running trials."""
        return self.count >= 2
