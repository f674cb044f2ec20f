"""How a trial ended, judged in the controller from what its fit gave and what its
supervisor saw of its epochs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from automl.engine.supervisor import TrialSupervisor
from automl.execution.messages import FitResult
from automl.hints import did_you_mean
from automl.plugin.trainer import StopReason

__all__ = ["State", "TrialOutcome", "make_outcome"]

State = Literal["complete", "pruned", "failed"]


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


def make_outcome(fit: FitResult, supervisor: TrialSupervisor,
                 objectives: Sequence[str]) -> TrialOutcome:
    """Combine a fit result with the supervisor's record of the epochs into an outcome."""
    base: dict[str, Any] = dict(history=supervisor.history, best_epoch=supervisor.best_epoch,
                                duration_s=fit.duration_s)
    if fit.error is not None or fit.final is None:
        return TrialOutcome(state="failed", reason=StopReason.FAILED,
                            metrics=dict(supervisor.best_metrics), error=fit.error, **base)
    metrics = {**supervisor.best_metrics, **fit.final, "duration_s": fit.duration_s}
    if supervisor.stop_reason is StopReason.PRUNED:
        return TrialOutcome(state="pruned", reason=StopReason.PRUNED, metrics=metrics, **base)
    missing = [m for m in objectives if m not in metrics]
    if missing:
        return TrialOutcome(state="failed", reason=StopReason.FAILED, metrics=metrics,
                            error=f"objective metric {missing[0]!r} was not reported"
                                  f"{did_you_mean(missing[0], metrics)}; "
                                  f"reported: {', '.join(sorted(metrics))}", **base)
    values = [float(metrics[m]) for m in objectives]
    if not all(math.isfinite(v) for v in values):
        return TrialOutcome(state="failed", reason=StopReason.FAILED, metrics=metrics,
                            error=f"non-finite objective value(s): {values}", **base)
    reason = supervisor.stop_reason or StopReason.COMPLETED
    return TrialOutcome(state="complete", reason=reason, values=values, metrics=metrics, **base)
