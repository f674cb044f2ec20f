"""One trial in two halves: fitting (where the trial runs, usually a worker process) and
judging the outcome (in the controller, which holds the trial's history).

Everything that crosses between them is plain picklable data.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from automl.data import TrialData
from automl.errors import TrialFailed
from automl.judge import TrialJudge
from automl.log import get_logger
from automl.stopping import StopReason
from automl.trainer import Trainer, TrialContext

logger = get_logger(__name__)

State = Literal["complete", "pruned", "failed"]


@dataclass
class FitResult:
    """What fitting a trial gave: the trainer's final metrics, or why it failed."""

    final: dict[str, float] | None
    error: str | None
    duration_s: float
    oom: bool = False  # out of memory: the worker is replaced after reporting it


@dataclass
class TrialOutcome:
    """How a trial ended, with everything the reports need."""

    state: State
    reason: StopReason
    values: list[float] | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # at the best epoch + final
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    duration_s: float = 0.0
    error: str | None = None

    @property
    def epochs(self) -> int:
        return len(self.history)


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
        return FitResult(None, error[:2000], time.perf_counter() - start, oom=oom)
    return FitResult(final, None, time.perf_counter() - start)


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or host allocator) out-of-memory error, whatever the framework calls it."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def make_outcome(fit: FitResult, judge: TrialJudge, objectives: Sequence[str]) -> TrialOutcome:
    """Combine a fit result with the judge's record of the epochs into an outcome."""
    base: dict[str, Any] = dict(history=judge.history, best_epoch=judge.best_epoch,
                                duration_s=fit.duration_s)
    if fit.error is not None or fit.final is None:
        return TrialOutcome(state="failed", reason=StopReason.FAILED,
                            metrics=dict(judge.best_metrics), error=fit.error, **base)
    metrics = {**judge.best_metrics, **fit.final, "duration_s": fit.duration_s}
    if judge.stop_reason is StopReason.PRUNED:
        return TrialOutcome(state="pruned", reason=StopReason.PRUNED, metrics=metrics, **base)
    missing = [m for m in objectives if m not in metrics]
    if missing:
        return TrialOutcome(state="failed", reason=StopReason.FAILED, metrics=metrics,
                            error=f"objective metric {missing[0]!r} was not reported; "
                                  f"reported: {', '.join(sorted(metrics))}", **base)
    values = [float(metrics[m]) for m in objectives]
    if not all(math.isfinite(v) for v in values):
        return TrialOutcome(state="failed", reason=StopReason.FAILED, metrics=metrics,
                            error=f"non-finite objective value(s): {values}", **base)
    reason = judge.stop_reason or StopReason.COMPLETED
    return TrialOutcome(state="complete", reason=reason, values=values, metrics=metrics, **base)


def run_trial(trainer: Trainer, params: dict[str, Any], data: TrialData, ctx: TrialContext,
              judge: TrialJudge, objectives: Sequence[str]) -> TrialOutcome:
    """Both halves in this process (``execution.workers: 0``)."""
    ctx._judge = judge
    return make_outcome(fit_trial(trainer, params, data, ctx), judge, objectives)


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = float(value) if isinstance(value, float) else int(value)
    return out
