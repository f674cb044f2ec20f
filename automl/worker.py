"""The trial worker: a process that loads plugins and data once, then runs trial after trial.

A worker never touches the study. It receives tasks from its controller over a pipe,
sends each epoch's metrics back and waits for the controller's decision, and ends when
the controller says so or goes away. This module imports no torch at the top, so that a
worker can pin its GPU (``CUDA_VISIBLE_DEVICES``) and threads before torch starts.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import TrialFailed
from automl.execution import FitResult, fit_trial
from automl.stopping import Decision
from automl.trainer import TrialContext

if TYPE_CHECKING:
    from automl.evaluation import RefitPlan

Judge = Callable[[int, Mapping[str, float]], Decision]


@dataclass(frozen=True)
class TrialTask:
    """One trial to run."""

    number: int
    params: dict[str, Any]
    seed: int
    max_epochs: int
    checkpoint_path: str
    restore_best: bool = True
    compile: bool = False
    amp: bool = True
    data_on_device: bool | None = None


@dataclass(frozen=True)
class EvalTask:
    """Score a trial's checkpoint on the test split."""

    number: int
    params: dict[str, Any]
    checkpoint_path: str


@dataclass(frozen=True)
class RefitTask:
    """Run a refit plan (the best trial's params and epochs) on train + validation and
    score it on test."""

    plan: RefitPlan
    seed: int
    out_dir: str
    compile: bool = False
    amp: bool = True

    @property
    def number(self) -> int:
        return self.plan.number


@dataclass(frozen=True)
class WorkerInit:
    """How to set a worker up: the spec (as data), its device and its environment."""

    spec_data: dict[str, Any]
    source: str | None
    device: str  # what the trainer gets: "cpu" or "cuda" (the one GPU it can see)
    label: str  # what the reports say: "cpu" or "cuda:2"
    threads: int | None = None
    env: dict[str, str] = field(default_factory=dict)


class TrialRunner:
    """Runs trials and evaluations for one spec on one device, in whatever process it is."""

    def __init__(self, spec: Any, host: Any, splits: Any, device: str,
                 threads: int | None = None) -> None:
        from automl.components import lookup_trainer

        self.spec = spec
        self.trainer = lookup_trainer(spec, host)
        self.splits = splits
        self.device = device
        self.threads = threads

    @classmethod
    def from_init(cls, init: WorkerInit) -> TrialRunner:
        """Set up in a fresh worker process."""
        import torch

        if init.threads:
            torch.set_num_threads(init.threads)
        from automl.components import load_splits
        from automl.plugins import get_plugin_host
        from automl.spec import Spec

        spec = Spec.from_data(init.spec_data, source=init.source)
        host = get_plugin_host()
        return cls(spec, host, load_splits(spec, host), init.device, init.threads)

    def trial(self, task: TrialTask, judge: Judge) -> FitResult:
        ctx = TrialContext(number=task.number, device=self.device, seed=task.seed,
                           max_epochs=task.max_epochs,
                           checkpoint_path=Path(task.checkpoint_path),
                           restore_best=task.restore_best, compile=task.compile,
                           amp=task.amp, data_on_device=task.data_on_device,
                           threads=self.threads, _judge=judge)
        return fit_trial(self.trainer, task.params, self.splits.for_trial(), ctx)

    def refit(self, task: RefitTask) -> Any:
        """Run a refit (:func:`automl.evaluation.refit`); returns its ``RefitResult``."""
        from automl.evaluation import refit

        return refit(self.trainer, dict(task.plan.params), self.splits, number=task.number,
                     epochs=task.plan.epochs, out_dir=Path(task.out_dir), device=self.device,
                     seed=task.seed, compile=task.compile, amp=task.amp,
                     threads=self.threads)

    def evaluate(self, task: EvalTask) -> dict[str, float]:
        if self.splits.test is None:
            return {}
        metrics = self.trainer.evaluate(task.params, Path(task.checkpoint_path),
                                        self.splits.test, self.splits.info)
        return {k: float(v) for k, v in metrics.items()}


def worker_main(conn: Connection, init: WorkerInit) -> None:
    """The body of a worker process."""
    # Ctrl-C reaches the whole process group; only the controller decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(init.env)
    try:
        runner = TrialRunner.from_init(init)
    except BaseException as exc:  # noqa: BLE001 - report any set-up failure, then end
        _send(conn, ("fatal", f"{type(exc).__name__}: {exc}"))
        return
    _send(conn, ("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the controller is gone: so is the study, stop
        kind = message[0]
        if kind == "stop":
            return
        if kind == "trial":
            task: TrialTask = message[1]
            result = runner.trial(task, _RemoteJudge(conn))
            if not _send(conn, ("done", task.number, result)):
                return
            if result.oom:
                return  # a fresh process is the only sure way to get the memory back
        elif kind == "evaluate":
            etask: EvalTask = message[1]
            start = time.perf_counter()
            try:
                metrics, error = runner.evaluate(etask), None
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                metrics, error = {}, f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            if not _send(conn, ("evaluated", etask.number, metrics, error,
                                time.perf_counter() - start)):
                return
        elif kind == "refit":
            rtask: RefitTask = message[1]
            try:
                refitted, error = runner.refit(rtask), None
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                refitted, error = None, f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            if not _send(conn, ("refitted", rtask.number, refitted, error)):
                return


class _RemoteJudge:
    """Sends an epoch's metrics to the controller and waits for its decision."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        self.conn.send(("epoch", epoch, dict(metrics)))
        reply = self.conn.recv()
        if reply[0] == "fail":
            raise TrialFailed(reply[1])
        decision: Decision = reply[1]
        return decision


def _send(conn: Connection, message: tuple[Any, ...]) -> bool:
    try:
        conn.send(message)
        return True
    except (BrokenPipeError, OSError):
        return False
