"""Running one trial: call the trainer, catch what goes wrong, and describe the outcome.

Trials run in the controller's process for now; the outcome is plain data so that a
worker process can send it back unchanged once trials move out of process.
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

# Metrics the engine itself measures, usable as objectives or constraints.
ENGINE_METRICS = ("n_params", "train_time_s", "duration_s")


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


def run_trial(trainer: Trainer, params: dict[str, Any], data: TrialData, ctx: TrialContext,
              judge: TrialJudge, objectives: Sequence[str]) -> TrialOutcome:
    """Train one trial and turn whatever happens into a :class:`TrialOutcome`.

    ``KeyboardInterrupt`` is not caught: the controller records the trial as interrupted.
    """
    ctx._judge = judge
    start = time.perf_counter()
    try:
        final = dict(trainer.fit(params, data, ctx) or {})
    except TrialFailed as exc:
        return _failed(judge, start, exc.reason)
    except Exception as exc:  # noqa: BLE001 - any trainer error fails only this trial
        logger.debug("trial %d raised:\n%s", ctx.number, traceback.format_exc())
        return _failed(judge, start, f"{type(exc).__name__}: {exc}")
    duration = time.perf_counter() - start
    metrics = {**judge.best_metrics, **_numbers(final), "duration_s": duration}
    base = dict(metrics=metrics, history=judge.history, best_epoch=judge.best_epoch,
                duration_s=duration)
    if judge.stop_reason is StopReason.PRUNED:
        return TrialOutcome(state="pruned", reason=StopReason.PRUNED, **base)
    missing = [m for m in objectives if m not in metrics]
    if missing:
        return TrialOutcome(state="failed", reason=StopReason.FAILED,
                            error=f"objective metric {missing[0]!r} was not reported; "
                                  f"reported: {', '.join(sorted(metrics))}", **base)
    values = [float(metrics[m]) for m in objectives]
    if not all(math.isfinite(v) for v in values):
        return TrialOutcome(state="failed", reason=StopReason.FAILED,
                            error=f"non-finite objective value(s): {values}", **base)
    reason = judge.stop_reason or StopReason.COMPLETED
    return TrialOutcome(state="complete", reason=reason, values=values, **base)


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = float(value) if isinstance(value, float) else int(value)
    return out


def _failed(judge: TrialJudge, start: float, error: str) -> TrialOutcome:
    return TrialOutcome(state="failed", reason=StopReason.FAILED, metrics=dict(judge.best_metrics),
                        history=judge.history, best_epoch=judge.best_epoch,
                        duration_s=time.perf_counter() - start, error=error)
