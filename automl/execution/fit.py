"""Fitting one trial where it runs (usually a worker process): call the trainer and turn
whatever it raises into a :class:`~automl.execution.messages.FitResult`.

How the trial ended (complete, pruned, failed, and why) is judged by the controller,
which holds the trial's epochs: :mod:`automl.engine.outcome`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from typing import Any

from automl.data import TrialData
from automl.errors import TrialFailed
from automl.execution.messages import FitResult
from automl.log import get_logger
from automl.plugin.trainer import Trainer, TrialContext

__all__ = ["FitResult", "fit_trial", "is_out_of_memory"]

logger = get_logger(__name__)

# Longer errors are cut: they are stored in the study and shown in every report.
MAX_ERROR_CHARS = 2000


def fit_trial(trainer: Trainer, params: dict[str, Any], data: TrialData,
              ctx: TrialContext) -> FitResult:
    """Run ``trainer.fit`` and catch what it raises (``KeyboardInterrupt`` excepted)."""
    start = time.perf_counter()
    try:
        final = _numbers(trainer.fit(params, data, ctx) or {})
    except TrialFailed as exc:
        return FitResult(None, exc.reason, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - any trainer error fails only this trial
        logger.debug("trial %d raised:\n%s", ctx.number, traceback.format_exc())
        oom = is_out_of_memory(exc)
        error = f"{type(exc).__name__}: {exc}"
        if oom:
            error = f"out of memory: {error}"
        return FitResult(None, error[:MAX_ERROR_CHARS], time.perf_counter() - start, oom=oom)
    return FitResult(final, None, time.perf_counter() - start)


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or host allocator) out-of-memory error, whatever the framework calls it."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = float(value) if isinstance(value, float) else int(value)
    return out
