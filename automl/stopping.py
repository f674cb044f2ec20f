"""Per-trial early stopping: patience on a monitored metric, and an overfitting rule.

Patience (Keras/Lightning semantics): an epoch *improves* when the monitored metric beats
the best so far by more than ``min_delta``; ``patience`` epochs in a row without an
improvement stop the trial as ``early_stopped``.

Overfitting rule (``max_gap``). Let *b* be the epoch with the lowest validation loss so
far. At epoch *t* the condition holds when

1. validation loss went up: ``val_loss[t] > val_loss[b] + min_delta``;
2. training loss kept going down: ``train_loss[t] < train_loss[b]``;
3. the generalization gap is wide: ``val_loss[t] - train_loss[t] > max_gap``.

The trial stops as ``overfitting`` at the second epoch in a row where it holds, so that
one noisy validation epoch does not end a trial. Comparing the training loss with its
value at the best validation epoch (rather than with the previous epoch) is what makes
"keeps going down" robust: a model that has memorised its training data has a training
loss near zero that wobbles from epoch to epoch, and it is still overfitting. A trial
whose training loss rises again above that reference is diverging, not overfitting, and is
left to patience. The rule needs ``train_loss`` and ``val_loss`` in each report and is
evaluated before patience, so a trial that meets both on the same epoch is reported as
``overfitting``.

The rule is only as good as the ``train_loss`` it sees: the engine's torch loop reports
the training loss measured in evaluation mode (no dropout, batch-norm running
statistics) on a fixed sample of the training set, with the epoch's final weights, the
same way the validation loss is measured; see :mod:`automl.torch`.
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
        self._train_at_best_val = math.inf
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
        if "val_loss" not in metrics or "train_loss" not in metrics:
            return False
        val_loss, train_loss = float(metrics["val_loss"]), float(metrics["train_loss"])
        if val_loss < self._best_val_loss:
            # A new best validation epoch: the reference point for "train kept falling".
            self._best_val_loss, self._train_at_best_val = val_loss, train_loss
            self._overfit_streak = 0
            return False
        if self.max_gap is None:
            return False
        holds = (val_loss > self._best_val_loss + self.min_delta
                 and train_loss < self._train_at_best_val
                 and val_loss - train_loss > self.max_gap)
        self._overfit_streak = self._overfit_streak + 1 if holds else 0
        return self._overfit_streak >= 2
