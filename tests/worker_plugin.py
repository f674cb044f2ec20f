"""A plugin module for tests that run real worker processes.

Loaded by name through ``AUTOML_PLUGIN_MODULES=tests.worker_plugin`` (fixtures registered
in the test process do not exist in a spawned worker). Its ``faulty`` trainer trains
nothing; ``params["mode"]`` picks how a trial goes: ``ok``, ``raise``, ``nan``, ``oom``
(a CUDA-style out-of-memory error), ``crash`` (the process kills itself), ``hang``
(never reports again), ``slow`` (0.2 s per epoch, or ``AUTOML_TEST_EPOCH_S`` seconds
where a test sets it for one worker process), ``warn`` (a FutureWarning every epoch, as a
library's deprecation), ``eval_raise`` (trains, then its test evaluation raises),
``interrupt`` (raises KeyboardInterrupt in epoch 2: past a trial's own error handling),
``missing_file`` (opens a file that does not exist in epoch 2: an ``OSError`` of the
trial's own, not a lost controller).
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import automl
from automl.data import DataInfo, Split, TrialData
from automl.plugin.trainer import TrialContext


class FaultyTrainer:
    name = "faulty"
    tasks = ("classification", "regression")
    description = "fails on purpose (tests)"

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        mode = params.get("mode", "ok")
        x = float(params.get("x", 0.5))
        for epoch in range(1, ctx.max_epochs + 1):
            if epoch == 2:
                if mode == "raise":
                    raise ValueError("bad luck in epoch 2")
                if mode == "oom":
                    raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
                if mode == "crash":
                    os.kill(os.getpid(), signal.SIGKILL)
                if mode == "interrupt":
                    raise KeyboardInterrupt
                if mode == "missing_file":
                    (ctx.checkpoint_path.parent / "no-such-input.bin").open("rb")
                if mode == "hang":
                    time.sleep(3600)
            if mode == "warn":
                warnings.warn("option q is deprecated", FutureWarning, stacklevel=1)
            if mode == "slow":
                time.sleep(float(os.environ.get("AUTOML_TEST_EPOCH_S", "0.2")))
            acc = (1 - (x - 0.3) ** 2) * (1 - 0.5 ** epoch)
            loss = math.nan if (mode == "nan" and epoch == 3) else 1 - acc
            decision = ctx.report(epoch, {"train_loss": 1 / epoch, "val_loss": loss,
                                          "val_accuracy": acc})
            if decision.stop:
                break
        ctx.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        ctx.checkpoint_path.write_text(json.dumps({"x": x}))
        return {"pid": os.getpid()}

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        if params.get("mode") == "eval_raise":
            raise ValueError("evaluation broke")
        return {"accuracy": 0.5, "pid": os.getpid()}


@automl.hookimpl
def register_trainers(register: Callable[[Any], None]) -> None:
    register(FaultyTrainer())
