"""Starting a search's worker processes as early as possible, and giving them its data.

Workers are started before the controller loads the plugins and the data, so that both
import torch at the same time (a fresh process needs about 2 s for it here); they then
wait for the controller's splits (:mod:`automl.execution.shared_data`) instead of loading
and splitting the dataset again each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from automl.data import DataSplits
from automl.execution.devices import layout, plan_workers, resolve_device
from automl.execution.inline_pool import InlinePool
from automl.execution.messages import WorkerInit
from automl.execution.options import ExecutionOptions
from automl.execution.pool import EpochListener, Pool
from automl.execution.process_pool import ProcessPool
from automl.execution.runner import TrialRunner
from automl.execution.shared_data import save_splits
from automl.plugin.host import PluginHost
from automl.spec import Spec

__all__ = ["SearchWorkers", "share_data", "start_workers", "worker_pool"]


def worker_pool(spec: Spec, options: ExecutionOptions) -> tuple[ProcessPool, str]:
    """The spec's worker processes (not started) and a line saying how they are laid out."""
    ex = spec.execution
    source = str(spec.source) if spec.source else None
    placements = plan_workers(ex.device, ex.workers, ex.trials_per_device, ex.threads)
    text = layout(placements) + ("" if ex.workers is not None
                                 else " (automatic: --workers N to choose)")
    data = spec.to_dict()
    return ProcessPool([WorkerInit(data, source, p.device, p.label,
                                   options.with_threads(p.threads), p.env, shared_data=True)
                        for p in placements]), text


def start_workers(spec: Spec) -> tuple[ProcessPool, str] | None:
    """Start the spec's workers now (``None`` with ``execution.workers: 0``)."""
    if spec.execution.workers == 0:
        return None
    pool, text = worker_pool(spec, ExecutionOptions.from_spec(spec.execution))
    pool.start()
    return pool, text


def share_data(pool: ProcessPool, splits: DataSplits, report_dir: Path) -> Path:
    """Save ``splits`` for the workers and tell them where; returns the folder (the caller
    removes it at the end)."""
    folder = save_splits(splits, report_dir)
    pool.share(str(folder))
    return folder


class SearchWorkers:
    """A search's pool of workers (started early by :func:`start_workers`, or here) and the
    data folder it shares with them; :meth:`close` removes the folder (and, with
    ``kill``, stops the workers: on the way out after an error)."""

    def __init__(self, spec: Spec, started: tuple[ProcessPool, str] | None = None) -> None:
        self.spec = spec
        self.started = started
        self.pool: Pool | None = started[0] if started else None
        self.shared: Path | None = None

    def open(self, host: PluginHost, splits: DataSplits, options: ExecutionOptions,
             listener: EpochListener, report_dir: Path) -> tuple[Pool, str]:
        """The pool, with the data given to its workers, and the layout line."""
        if self.spec.execution.workers == 0:
            device = resolve_device(self.spec.execution.device)
            runner = TrialRunner(self.spec, host, splits, device, options)
            self.pool = InlinePool(runner, device, listener)
            return self.pool, f"trials in this process on {device}"
        pool, text = self.started or worker_pool(self.spec, options)
        self.pool = pool
        if self.started is None:
            pool.start()
        pool.listener = listener
        self.shared = share_data(pool, splits, report_dir)
        return pool, text

    def close(self, kill: bool = False) -> None:
        if kill and self.pool is not None:
            self.pool.close(kill=True)
        if self.shared is not None:
            shutil.rmtree(self.shared, ignore_errors=True)
            self.shared = None
