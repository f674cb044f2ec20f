"""The trial worker: a process that loads plugins and data once, then runs task after task.

A worker never touches the study. It receives tasks from its controller over a pipe,
sends each epoch's metrics back and waits for the controller's answer, and ends when the
controller says so or goes away. This module imports no torch at the top, so that a
worker can pin its GPU (``CUDA_VISIBLE_DEVICES``) and threads before torch starts.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from automl.errors import TrialFailed
from automl.execution.messages import (
    Crashed,
    EpochAnswer,
    EpochReport,
    EvalDone,
    EvalTask,
    Fatal,
    Ready,
    RefitDone,
    RefitTask,
    Stop,
    TaskEnd,
    TrialDone,
    TrialTask,
    WorkerInit,
)
from automl.execution.runner import TrialRunner
from automl.library_warnings import show_in_worker
from automl.plugin.trainer import Decision, Reporter

__all__ = ["run_task", "worker_main"]


def worker_main(conn: Connection, init: WorkerInit) -> None:
    """The body of a worker process."""
    # Ctrl-C reaches the whole process group; only the controller decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(init.env)
    show_in_worker()  # a library's warning: one line, not two with its source
    try:
        shared = None
        if init.shared_data:
            TrialRunner.prepare(init)
            message = _recv(conn)
            if isinstance(message, Stop):
                return
            shared = Path(message.folder)
        runner = TrialRunner.from_init(init, shared)
    except _ControllerGone:
        return  # the controller is gone
    except BaseException as exc:  # noqa: BLE001 - report any set-up failure, then end
        # (a data file the worker cannot read is an OSError too: reported, not taken for
        # a lost controller)
        _send(conn, Fatal(f"{type(exc).__name__}: {exc}"))
        return
    _send(conn, Ready(os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the controller is gone: so is the study, stop
        if isinstance(task, Stop):
            return
        try:
            end = run_task(runner, task, _RemoteReporter(conn))
        except _ControllerGone:
            return  # the controller went away mid-task
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - a plugin's bug
            # past the task's own handling (SIGINT is ignored here: a KeyboardInterrupt
            # was raised by code, not by the user). An OSError lands here too (a file the
            # task could not open): the task's failure, reported like any other; only
            # _ControllerGone means the pipe to the controller broke.
            # Not a traceback on the terminal: the controller logs the reason as one line.
            _send(conn, Crashed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            return
        if not _send(conn, end):
            return
        if isinstance(end, TrialDone) and end.fit.oom:
            return  # a fresh process is the only sure way to get the memory back


def run_task(runner: TrialRunner, task: TrialTask | EvalTask | RefitTask,
             reporter: Reporter | None = None) -> TaskEnd:
    """Run one task; an evaluation's or a refit's exception is reported, not raised (a
    trial's is caught by :func:`automl.execution.fit.fit_trial`)."""
    if isinstance(task, TrialTask):
        assert reporter is not None
        return TrialDone(task.number, runner.trial(task, reporter))
    start = time.perf_counter()
    if isinstance(task, EvalTask):
        try:
            return EvalDone(task.number, runner.evaluate(task),
                            seconds=time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            # The controller logs the reason as one line; the traceback only with -v.
            return EvalDone(task.number, {}, f"{type(exc).__name__}: {exc}",
                            time.perf_counter() - start, trace=traceback.format_exc())
    try:
        return RefitDone(task.number, runner.refit(task))
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return RefitDone(task.number, None, f"{type(exc).__name__}: {exc}",
                         trace=traceback.format_exc())


class _RemoteReporter:
    """Sends an epoch's metrics to the controller and waits for its answer."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        if not _send(self.conn, EpochReport(epoch, dict(metrics))):
            raise _ControllerGone()
        answer: EpochAnswer = _recv(self.conn)
        if answer.fail is not None:
            raise TrialFailed(answer.fail)
        assert answer.decision is not None
        return answer.decision


class _ControllerGone(BaseException):  # noqa: N818 - the name reads as the event
    """The connection to the controller broke (end of file, broken pipe): the controller,
    and with it the study, is gone, so the worker ends.

    Raised only by this module's own reads and writes of the connection, so that an
    ``OSError`` a task raises (a missing file) is never mistaken for it. A
    ``BaseException``, like ``KeyboardInterrupt``: a trainer's ``except Exception`` does
    not swallow it to train on for nobody, and :func:`automl.execution.fit.fit_trial`
    does not record it as the trial's failure."""


def _recv(conn: Connection) -> Any:
    """The controller's next message; :class:`_ControllerGone` when the pipe broke."""
    try:
        return conn.recv()
    except (EOFError, OSError):
        raise _ControllerGone() from None


def _send(conn: Connection, message: object) -> bool:
    try:
        conn.send(message)
        return True
    except (BrokenPipeError, OSError):
        return False
