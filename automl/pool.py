"""The controller's side of the workers: start, feed, watch, kill and replace them.

Two kinds behind one interface: :class:`ProcessPool` (trial processes, the default) and
:class:`InlinePool` (``execution.workers: 0``: trials in the controller's own process,
for debugging; a crash there takes the study down).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from automl.errors import AutomlError, TrialFailed
from automl.log import get_logger
from automl.stopping import Decision
from automl.worker import EvalTask, RefitTask, TrialRunner, TrialTask, WorkerInit, worker_main

logger = get_logger(__name__)

# Controller-side handler of an epoch report: returns a decision or raises TrialFailed.
EpochHandler = Callable[[int, int, Mapping[str, float]], Decision]
# Work on a trial's epoch that can wait until the worker has its decision.
SettleHandler = Callable[[int], None]


def _no_settle(number: int) -> None:
    return None


class WorkerStartError(AutomlError):
    """A worker process could not set itself up (its message says why)."""


@dataclass
class Event:
    """Something a worker did: ``done``, ``evaluated``, ``refitted`` or ``died``."""

    kind: str
    worker: int
    number: int | None = None
    payload: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Slot:
    index: int
    init: WorkerInit
    process: Any = None
    conn: Connection | None = None
    ready: bool = False
    task: int | None = None  # the trial (or evaluation) number it is busy with
    started: float = 0.0


class ProcessPool:
    """Worker processes, one task at a time each, reused across trials."""

    def __init__(self, inits: list[WorkerInit], on_epoch: EpochHandler,
                 settle: SettleHandler = _no_settle) -> None:
        self._ctx = mp.get_context("spawn")  # fork after torch/OpenMP threads can deadlock
        self._slots = [_Slot(i, init) for i, init in enumerate(inits)]
        self._on_epoch = on_epoch
        self._settle = settle
        self.restarts = 0

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
        process.start()
        child.close()
        slot.process, slot.conn, slot.ready, slot.task = process, parent, False, None

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Block until every worker has set itself up; raise if one cannot."""
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            while not slot.ready:
                assert slot.conn is not None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerStartError(f"worker {slot.index} did not start in {timeout:.0f}s")
                ready = wait([slot.conn, slot.process.sentinel], timeout=min(remaining, 1.0))
                if slot.conn in ready:
                    self._startup_message(slot)
                elif ready:
                    raise WorkerStartError(f"worker {slot.index} died while starting "
                                           f"(exit code {slot.process.exitcode})")

    def _startup_message(self, slot: _Slot) -> None:
        assert slot.conn is not None
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            raise WorkerStartError(f"worker {slot.index} died while starting") from None
        if message[0] == "fatal":
            raise WorkerStartError(f"a trial worker could not start: {message[1]}")
        slot.ready = True

    def idle(self) -> list[int]:
        return [s.index for s in self._slots if s.ready and s.task is None]

    def busy(self) -> dict[int, int]:
        """worker → the number of the task it runs."""
        return {s.index: s.task for s in self._slots if s.task is not None}

    def submit_trial(self, worker: int, task: TrialTask) -> list[Event]:
        self._submit(worker, ("trial", task), task.number)
        return []

    def submit_eval(self, worker: int, task: EvalTask) -> list[Event]:
        self._submit(worker, ("evaluate", task), task.number)
        return []

    def submit_refit(self, worker: int, task: RefitTask) -> list[Event]:
        self._submit(worker, ("refit", task), task.number)
        return []

    def _submit(self, worker: int, message: tuple[Any, ...], number: int) -> None:
        slot = self._slots[worker]
        assert slot.conn is not None and slot.task is None
        slot.conn.send(message)
        slot.task, slot.started = number, time.monotonic()

    def wait(self, timeout: float) -> list[Event]:
        """Events from the workers within ``timeout`` seconds; epoch reports are answered
        here, through the handler, and produce no event."""
        waitables: dict[Any, _Slot] = {}
        for slot in self._slots:
            if slot.conn is not None:
                waitables[slot.conn] = slot
                waitables[slot.process.sentinel] = slot
        events: list[Event] = []
        for ready in wait(list(waitables), timeout=timeout):
            slot = waitables[ready]
            if ready is slot.conn:
                events += self._receive(slot)
            elif not slot.conn.poll():  # died, with nothing left to read
                events += self._died(slot)
        return events

    def _receive(self, slot: _Slot) -> list[Event]:
        assert slot.conn is not None
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            return self._died(slot)
        kind = message[0]
        if kind == "ready":
            slot.ready = True
            return []
        if kind == "fatal":
            raise WorkerStartError(f"a trial worker could not start: {message[1]}")
        if kind == "epoch":
            assert slot.task is not None
            try:
                reply: tuple[Any, ...] = ("decision", self._on_epoch(slot.task, message[1],
                                                                     message[2]))
            except TrialFailed as exc:
                reply = ("fail", exc.reason)
            try:
                slot.conn.send(reply)
            except (BrokenPipeError, OSError):
                return self._died(slot)
            self._settle(slot.task)  # while the worker trains its next epoch
            return []
        number = slot.task
        slot.task = None
        if kind == "done":
            if message[2].oom:  # the worker ends itself after an OOM; start a fresh one
                self._retire(slot)
            return [Event("done", slot.index, number, message[2])]
        if kind == "evaluated":
            return [Event("evaluated", slot.index, number, message[2],
                          {"error": message[3], "seconds": message[4]})]
        if kind == "refitted":
            return [Event("refitted", slot.index, number, message[2], {"error": message[3]})]
        raise RuntimeError(f"unknown message from worker {slot.index}: {kind!r}")

    def _died(self, slot: _Slot) -> list[Event]:
        number = slot.task
        code = None
        if slot.process is not None:
            slot.process.join(timeout=5)  # the exit code is known only once it is reaped
            code = slot.process.exitcode
        self._retire(slot)
        if number is None:
            return []
        return [Event("died", slot.index, number, _death(code))]

    def _retire(self, slot: _Slot) -> None:
        """Replace a dead (or to-be-dead) worker by a fresh process."""
        if slot.process is not None:
            _reap(slot.process, timeout=5)
        if slot.conn is not None:
            slot.conn.close()
        self.restarts += 1
        self._spawn(slot)

    def kill(self, worker: int) -> None:
        """Kill a worker (a timeout or a hang) and start a fresh one in its place."""
        slot = self._slots[worker]
        if slot.process is not None and slot.process.is_alive():
            slot.process.kill()
        slot.task = None
        self._retire(slot)

    def close(self, kill: bool = False) -> None:
        """Stop the workers (at once with ``kill``, else after their current task)."""
        for slot in self._slots:
            if slot.process is None:
                continue
            if kill:
                slot.process.kill()
            else:
                try:
                    assert slot.conn is not None
                    slot.conn.send(("stop",))
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
        import signal

        name = signal.Signals(-code).name
        hint = " (killed: out of host memory, or by hand)" if name == "SIGKILL" else ""
        return f"the worker process died of {name}{hint}"
    return f"the worker process ended unexpectedly (exit code {code})"


class InlinePool:
    """Runs each task at once, in this process (``execution.workers: 0``)."""

    def __init__(self, runner: TrialRunner, label: str, on_epoch: EpochHandler,
                 settle: SettleHandler = _no_settle) -> None:
        self.runner = runner
        self._label = label
        self._on_epoch = on_epoch
        self._settle = settle
        self._busy: int | None = None
        self.restarts = 0

    def __len__(self) -> int:
        return 1

    def label(self, worker: int) -> str:
        return self._label

    def start(self) -> None:
        return None

    def wait_ready(self, timeout: float = 0.0) -> None:
        return None

    def idle(self) -> list[int]:
        return [] if self._busy is not None else [0]

    def busy(self) -> dict[int, int]:
        return {0: self._busy} if self._busy is not None else {}

    def submit_trial(self, worker: int, task: TrialTask) -> list[Event]:
        self._busy = task.number
        try:
            result = self.runner.trial(task, lambda epoch, metrics: self._judge(
                task.number, epoch, metrics))
        finally:
            self._busy = None
        return [Event("done", 0, task.number, result)]

    def _judge(self, number: int, epoch: int, metrics: Mapping[str, float]) -> Decision:
        # In one process nothing runs meanwhile: settle at once, with the same one-epoch
        # delay of a pruning verdict as in a worker.
        decision = self._on_epoch(number, epoch, metrics)
        self._settle(number)
        return decision

    def submit_eval(self, worker: int, task: EvalTask) -> list[Event]:
        start = time.perf_counter()
        try:
            metrics, error = self.runner.evaluate(task), None
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            metrics, error = {}, f"{type(exc).__name__}: {exc}"
        return [Event("evaluated", 0, task.number, metrics,
                      {"error": error, "seconds": time.perf_counter() - start})]

    def submit_refit(self, worker: int, task: RefitTask) -> list[Event]:
        try:
            result, error = self.runner.refit(task), None
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            result, error = None, f"{type(exc).__name__}: {exc}"
        return [Event("refitted", 0, task.number, result, {"error": error})]

    def wait(self, timeout: float) -> list[Event]:
        time.sleep(min(timeout, 0.05))
        return []

    def kill(self, worker: int) -> None:
        return None

    def close(self, kill: bool = False) -> None:
        return None
