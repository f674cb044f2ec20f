"""Tasks in the controller's own process (``execution.workers: 0``, and the controller's
fallback when no worker is left to ask): a :class:`~automl.execution.pool.Pool` of one
worker that runs each task at once, inside :meth:`InlinePool.submit`."""

from __future__ import annotations

import time
from collections.abc import Mapping

from automl.execution.messages import Event, Task, TrialTask
from automl.execution.pool import EpochListener
from automl.execution.runner import TrialRunner
from automl.execution.worker import run_task
from automl.plugin.trainer import Decision

__all__ = ["InlinePool"]


class InlinePool:
    """Runs each task at once, in this process."""

    def __init__(self, runner: TrialRunner, label: str, listener: EpochListener) -> None:
        self.runner = runner
        self._label = label
        self._listener = listener
        self._busy = False

    def __len__(self) -> int:
        return 1

    def label(self, worker: int) -> str:
        return self._label

    def start(self) -> None:
        return None

    def wait_ready(self, timeout: float = 0.0) -> None:
        return None

    def idle(self) -> list[int]:
        return [] if self._busy else [0]

    def submit(self, worker: int, task: Task) -> list[Event]:
        self._busy = True
        try:
            if isinstance(task, TrialTask):
                number = task.number

                def reporter(epoch: int, metrics: Mapping[str, float]) -> Decision:
                    # Nothing runs meanwhile in one process: settle at once, with the same
                    # one-epoch delay of a pruning verdict as in a worker.
                    decision = self._listener.on_epoch(number, epoch, metrics)
                    self._listener.settle(number)
                    return decision

                end = run_task(self.runner, task, reporter)
            else:
                end = run_task(self.runner, task)
        finally:
            self._busy = False
        return [end]

    def wait(self, timeout: float) -> list[Event]:
        time.sleep(min(timeout, 0.05))
        return []

    def kill(self, worker: int) -> None:
        return None

    def close(self, kill: bool = False) -> None:
        return None
