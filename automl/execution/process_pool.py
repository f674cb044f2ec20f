"""Trial worker processes: start, feed, watch, kill and replace them (a
:class:`~automl.execution.pool.Pool`)."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from automl.errors import TrialFailed
from automl.execution.messages import (
    Crashed,
    EpochAnswer,
    EpochReport,
    Event,
    Fatal,
    Ready,
    ShareData,
    Stop,
    Task,
    TrialDone,
    WorkerDied,
    WorkerInit,
)
from automl.execution.pool import EpochListener, WorkerStartError
from automl.execution.spawning import start_process
from automl.execution.worker import worker_main
from automl.log import get_logger

__all__ = ["ProcessPool", "WorkerStartError"]

logger = get_logger(__name__)


@dataclass
class _Slot:
    index: int
    init: WorkerInit
    process: Any = None
    conn: Connection | None = None
    ready: bool = False
    task: int | None = None  # the number of the trial (or evaluation) it is busy with


class ProcessPool:
    """Worker processes, one task at a time each, reused across trials."""

    def __init__(self, inits: list[WorkerInit], listener: EpochListener | None = None) -> None:
        self._ctx = mp.get_context("spawn")  # fork after torch/OpenMP threads can deadlock
        self._slots = [_Slot(i, init) for i, init in enumerate(inits)]
        self.listener = listener  # who answers epoch reports; set before the first trial
        self._shared: ShareData | None = None

    def __len__(self) -> int:
        return len(self._slots)

    def label(self, worker: int) -> str:
        return self._slots[worker].init.label

    def start(self) -> None:
        for slot in self._slots:
            self._spawn(slot)

    def _spawn(self, slot: _Slot) -> None:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=worker_main, args=(child, slot.init), daemon=True,
                                    name=f"automl-worker-{slot.index}")
        start_process(process)
        child.close()
        slot.process, slot.conn, slot.ready, slot.task = process, parent, False, None
        if slot.init.shared_data and self._shared is not None:  # a replacement: data known
            parent.send(self._shared)

    def share(self, folder: str) -> None:
        """Tell every worker where the controller saved the splits (workers started with
        ``WorkerInit.shared_data`` wait for it before they are ready)."""
        self._shared = ShareData(folder)
        for slot in self._slots:
            if slot.init.shared_data and slot.conn is not None:
                try:
                    slot.conn.send(self._shared)
                except (BrokenPipeError, OSError):
                    pass  # a dead worker shows at wait_ready
    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            while not slot.ready:
                assert slot.conn is not None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerStartError(f"worker {slot.index} did not start in {timeout:.0f}s")
                ready = wait([slot.conn, slot.process.sentinel], timeout=min(remaining, 1.0))
                if slot.conn in ready:
                    try:
                        self._setup_message(slot, slot.conn.recv())
                    except (EOFError, OSError):
                        raise WorkerStartError(f"worker {slot.index} died while starting"
                                               ) from None
                elif ready:
                    raise WorkerStartError(f"worker {slot.index} died while starting "
                                           f"(exit code {slot.process.exitcode})")

    @staticmethod
    def _setup_message(slot: _Slot, message: Any) -> None:
        if isinstance(message, Fatal):
            raise WorkerStartError(f"a trial worker could not start: {message.error}")
        if not isinstance(message, Ready):
            raise RuntimeError(f"worker {slot.index} sent {message!r} before it was ready")
        slot.ready = True

    def idle(self) -> list[int]:
        return [s.index for s in self._slots if s.ready and s.task is None]

    def submit(self, worker: int, task: Task) -> list[Event]:
        slot = self._slots[worker]
        assert slot.conn is not None and slot.task is None
        slot.conn.send(task)
        slot.task = task.number
        return []

    def wait(self, timeout: float) -> list[Event]:
        waitables: dict[Any, tuple[_Slot, Any]] = {}
        for slot in self._slots:
            if slot.conn is not None:
                waitables[slot.conn] = waitables[slot.process.sentinel] = (slot, slot.process)
        events: list[Event] = []
        for ready in wait(list(waitables), timeout=timeout):
            slot, process = waitables[ready]
            if slot.process is not process:  # replaced while handling an earlier message
                continue
            if ready is slot.conn:
                events += self._receive(slot)
            elif slot.conn is not None and not slot.conn.poll():  # died, nothing left to read
                events += self._died(slot)
        return events

    def _receive(self, slot: _Slot) -> list[Event]:
        assert slot.conn is not None
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            return self._died(slot)
        if isinstance(message, (Ready, Fatal)):  # a replacement worker finished setting up
            self._setup_message(slot, message)
            return []
        if isinstance(message, EpochReport):
            return self._answer(slot, message)
        if isinstance(message, Crashed):
            number = slot.task
            logger.debug("worker %d crashed:\n%s", slot.index, message.trace.rstrip())
            self._retire(slot)
            return [] if number is None else [
                WorkerDied(number, f"the worker process failed: {message.error}",
                           worker=slot.index)]
        slot.task = None
        event = dataclasses.replace(message, worker=slot.index)
        if isinstance(event, TrialDone) and event.fit.oom:
            self._retire(slot)  # the worker ends itself after an OOM; start a fresh one
        return [event]

    def _answer(self, slot: _Slot, report: EpochReport) -> list[Event]:
        assert slot.conn is not None and slot.task is not None and self.listener is not None
        try:
            answer = EpochAnswer(decision=self.listener.on_epoch(slot.task, report.epoch,
                                                                 report.metrics))
        except TrialFailed as exc:
            answer = EpochAnswer(fail=exc.reason)
        try:
            slot.conn.send(answer)
        except (BrokenPipeError, OSError):
            return self._died(slot)
        self.listener.settle(slot.task)  # while the worker trains its next epoch
        return []

    def _died(self, slot: _Slot) -> list[Event]:
        number = slot.task
        code = None
        if slot.process is not None:
            slot.process.join(timeout=5)  # the exit code is known only once it is reaped
            code = slot.process.exitcode
        self._retire(slot)
        if number is None:
            return []
        return [WorkerDied(number, _death(code), worker=slot.index)]

    def _retire(self, slot: _Slot) -> None:
        """Replace a dead (or to-be-dead) worker by a fresh process."""
        if slot.process is not None:
            _reap(slot.process, timeout=5)
        if slot.conn is not None:
            slot.conn.close()
        self._spawn(slot)

    def kill(self, worker: int) -> None:
        slot = self._slots[worker]
        if slot.process is not None and slot.process.is_alive():
            slot.process.kill()
        slot.task = None
        self._retire(slot)

    def close(self, kill: bool = False) -> None:
        for slot in self._slots:
            if slot.process is None:
                continue
            if kill:
                slot.process.kill()
            else:
                try:
                    assert slot.conn is not None
                    slot.conn.send(Stop())
                except (BrokenPipeError, OSError, AssertionError):
                    pass
        for slot in self._slots:
            if slot.process is not None:
                _reap(slot.process, timeout=10)
            if slot.conn is not None:
                slot.conn.close()
            slot.process = slot.conn = None


def _reap(process: Any, timeout: float) -> None:
    """Wait for a worker to end; kill it if it does not within ``timeout`` seconds."""
    process.join(timeout=timeout)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (killed: out of host memory, or by hand)" if name == "SIGKILL" else ""
        return f"the worker process died of {name}{hint}"
    return f"the worker process ended unexpectedly (exit code {code})"
