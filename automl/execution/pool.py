"""The controller's view of its workers: one interface, two implementations.

- :class:`~automl.execution.process_pool.ProcessPool` (the default): trial processes,
  one task at a time each, reused across trials, replaced after a crash;
- :class:`~automl.execution.inline_pool.InlinePool` (``execution.workers: 0``): tasks in
  the controller's own process, for debugging (a crash there takes the study down).

A pool answers each epoch report of a running trial through its
:class:`EpochListener` (the controller), and hands back what each task ended with as an
:data:`~automl.execution.messages.Event`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from automl.errors import AutomlError
from automl.execution.messages import Event, Task
from automl.plugin.trainer import Decision

__all__ = ["EpochListener", "Pool", "WorkerStartError"]


class WorkerStartError(AutomlError):
    """A worker process could not set itself up (its message says why)."""


class EpochListener(Protocol):
    """What a pool tells about running trials' epochs."""

    def on_epoch(self, number: int, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Answer trial ``number``'s report of ``epoch``; raise
        :class:`automl.errors.TrialFailed` to fail the trial."""
        ...

    def settle(self, number: int) -> None:
        """Work on trial ``number``'s last report that can wait until the worker has its
        answer (reporting to Optuna and asking the pruner)."""
        ...


class Pool(Protocol):
    """Workers that run tasks: ``submit`` to an idle one, ``wait`` for what ends."""

    def __len__(self) -> int: ...

    def label(self, worker: int) -> str:
        """Where ``worker`` runs, as reports show it (``cpu``, ``cuda:2``)."""
        ...

    def start(self) -> None:
        """Start the workers (they set up while the controller opens the study)."""
        ...

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Block until every worker is set up; :class:`WorkerStartError` if one cannot."""
        ...

    def idle(self) -> list[int]:
        """Workers ready for a task."""
        ...

    def submit(self, worker: int, task: Task) -> list[Event]:
        """Give an idle ``worker`` a task; the events of tasks that ended meanwhile."""
        ...

    def wait(self, timeout: float) -> list[Event]:
        """Events within ``timeout`` seconds; epoch reports are answered meanwhile."""
        ...

    def kill(self, worker: int) -> None:
        """Kill ``worker`` (a hang) and start a fresh one in its place."""
        ...

    def close(self, kill: bool = False) -> None:
        """Stop the workers (at once with ``kill``, else after their current task)."""
        ...
