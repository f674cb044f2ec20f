"""Per-trial early stopping: patience on a monitored metric, and an overfitting rule.

Overfitting rule (``max_gap``): at epoch *t* the trial is *overfitting* when

1. validation loss is above its best value so far by more than ``min_delta``,
2. training loss is still falling (``train_loss[t] < train_loss[t-1]``), and
3. the generalization gap ``val_loss[t] - train_loss[t]`` exceeds ``max_gap``,

and all three held at epoch *t-1* too: two consecutive epochs, so that one noisy
validation epoch does not end a trial. Patience is checked after the overfitting rule,
so a trial that meets both is reported as overfitting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal


class StopReason(str, Enum):
    """Why a trial ended. Stored per trial and shown in every report."""

    COMPLETED = "completed"  # ran its max_epochs
    EARLY_STOPPED = "early_stopped"  # no improvement for `patience` epochs
    OVERFITTING = "overfitting"  # the max_gap rule above
    PRUNED = "pruned"  # the pruner judged it a loser against other trials
    FAILED = "failed"  # an exception or a non-finite metric
    TIMEOUT = "timeout"  # the trial ran past execution.trial_timeout
    INTERRUPTED = "interrupted"  # Ctrl-C


@dataclass(frozen=True)
class Decision:
    """The engine's answer to a trainer's per-epoch report."""

    stop: bool = False
    reason: StopReason | None = None
    improved: bool = False  # this epoch is the best so far: keep its weights

    @property
    def should_stop(self) -> bool:
        return self.stop


CONTINUE = Decision()


class EarlyStopping:
    """Patience-based early stopping (Keras/Lightning semantics) plus the overfitting rule."""

    def __init__(
        self,
        monitor: str,
        mode: Literal["min", "max"] = "min",
        patience: int = 5,
        min_delta: float = 0.0,
        max_gap: float | None = None,
        enabled: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        if patience < 1:
            raise ValueError("patience must be at least 1")
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.max_gap = max_gap
        self.enabled = enabled
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self._best_val_loss = math.inf
        self._prev_train_loss: float | None = None
        self._overfit_streak = 0

    def _is_improvement(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Take one epoch's metrics; return whether it improved and whether to stop.

        Raises ``KeyError`` when the monitored metric is missing and ``ValueError`` when it
        is not finite; the engine turns both into a failed trial.
        """
        if self.monitor not in metrics:
            raise KeyError(self.monitor)
        value = float(metrics[self.monitor])
        if not math.isfinite(value):
            raise ValueError(f"{self.monitor} is {value} at epoch {epoch}")
        improved = self._is_improvement(value)
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
        else:
            self.wait += 1
        if not self.enabled:
            return Decision(improved=improved)
        if self._overfitting(metrics):
            return Decision(stop=True, reason=StopReason.OVERFITTING, improved=improved)
        if self.wait >= self.patience:
            return Decision(stop=True, reason=StopReason.EARLY_STOPPED, improved=improved)
        return Decision(improved=improved)

    def _overfitting(self, metrics: Mapping[str, float]) -> bool:
        if self.max_gap is None or "val_loss" not in metrics or "train_loss" not in metrics:
            return False
        val_loss, train_loss = float(metrics["val_loss"]), float(metrics["train_loss"])
        prev_train, self._prev_train_loss = self._prev_train_loss, train_loss
        above_best = val_loss > self._best_val_loss + self.min_delta
        self._best_val_loss = min(self._best_val_loss, val_loss)
        falling = prev_train is not None and train_loss < prev_train
        holds = above_best and falling and (val_loss - train_loss) > self.max_gap
        self._overfit_streak = self._overfit_streak + 1 if holds else 0
        return self._overfit_streak >= 2
