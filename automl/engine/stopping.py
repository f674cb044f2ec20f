"""Per-trial stopping rules as pure functions: patience on a monitored metric, and the
overfitting rule. :class:`EarlyStopping` holds one trial's state between epochs.

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
same way the validation loss is measured; see :mod:`automl.training`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from automl.plugin.trainer import Decision, StopReason

__all__ = ["Decision", "EarlyStopping", "StopReason", "StoppingRule", "StoppingState",
           "first_stop", "is_improvement", "overfitting_holds", "step"]

Mode = Literal["min", "max"]
# Epochs in a row the overfitting condition must hold before the trial stops.
OVERFIT_EPOCHS = 2


@dataclass(frozen=True)
class StoppingRule:
    """One trial's early-stopping settings (the spec's ``early_stopping`` section)."""

    monitor: str = "val_loss"
    mode: Mode = "min"
    patience: int = 5
    min_delta: float = 0.0
    max_gap: float | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {self.mode!r}")
        if self.patience < 1:
            raise ValueError("patience must be at least 1")
        object.__setattr__(self, "min_delta", abs(self.min_delta))


@dataclass(frozen=True)
class StoppingState:
    """What the rules remember between epochs (the initial value: nothing seen)."""

    best: float | None = None  # best monitored value
    best_epoch: int | None = None
    wait: int = 0  # epochs since the last improvement
    best_val_loss: float = math.inf  # the overfitting rule's reference epoch b ...
    train_at_best_val: float = math.inf  # ... and the training loss there
    overfit_streak: int = 0  # epochs in a row the overfitting condition held


def is_improvement(value: float, best: float | None, mode: Mode, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (any value beats none)."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def overfitting_holds(val_loss: float, train_loss: float, best_val_loss: float,
                      train_at_best_val: float, min_delta: float, max_gap: float) -> bool:
    """Conditions 1-3 of the overfitting rule (module docstring) at one epoch."""
    return (val_loss > best_val_loss + min_delta
            and train_loss < train_at_best_val
            and val_loss - train_loss > max_gap)


def _overfitting(rule: StoppingRule, state: StoppingState,
                 metrics: Mapping[str, float]) -> StoppingState:
    if "val_loss" not in metrics or "train_loss" not in metrics:
        return state
    val_loss, train_loss = float(metrics["val_loss"]), float(metrics["train_loss"])
    if val_loss < state.best_val_loss:  # a new reference epoch b
        return replace(state, best_val_loss=val_loss, train_at_best_val=train_loss,
                       overfit_streak=0)
    if rule.max_gap is None:
        return state
    holds = overfitting_holds(val_loss, train_loss, state.best_val_loss,
                              state.train_at_best_val, rule.min_delta, rule.max_gap)
    return replace(state, overfit_streak=state.overfit_streak + 1 if holds else 0)


def step(rule: StoppingRule, state: StoppingState, epoch: int,
         metrics: Mapping[str, float]) -> tuple[StoppingState, Decision]:
    """One epoch: the new state and the decision.

    Raises ``KeyError`` when the monitored metric is missing and ``ValueError`` when it is
    not finite; the engine turns both into a failed trial.
    """
    if rule.monitor not in metrics:
        raise KeyError(rule.monitor)
    value = float(metrics[rule.monitor])
    if not math.isfinite(value):
        raise ValueError(f"{rule.monitor} is {value} at epoch {epoch}")
    improved = is_improvement(value, state.best, rule.mode, rule.min_delta)
    if improved:
        state = replace(state, best=value, best_epoch=epoch, wait=0)
    else:
        state = replace(state, wait=state.wait + 1)
    if not rule.enabled:
        return state, Decision(improved=improved)
    state = _overfitting(rule, state, metrics)
    if state.overfit_streak >= OVERFIT_EPOCHS:
        return state, Decision(stop=True, reason=StopReason.OVERFITTING, improved=improved)
    if state.wait >= rule.patience:
        return state, Decision(stop=True, reason=StopReason.EARLY_STOPPED, improved=improved)
    return state, Decision(improved=improved)


def first_stop(rule: StoppingRule, history: Iterable[Mapping[str, float]]
               ) -> tuple[int | None, StopReason | None, int | None]:
    """Run the rules over a whole curve: ``(stop epoch, reason, best epoch)``, with
    ``None`` for the first two when the curve never stops."""
    state = StoppingState()
    for epoch, metrics in enumerate(history, start=1):
        state, decision = step(rule, state, epoch, metrics)
        if decision.stop:
            return epoch, decision.reason, state.best_epoch
    return None, None, state.best_epoch


class EarlyStopping:
    """One trial's early stopping: :func:`step` with the state kept between epochs."""

    def __init__(self, monitor: str, mode: Mode = "min", patience: int = 5,
                 min_delta: float = 0.0, max_gap: float | None = None,
                 enabled: bool = True) -> None:
        self.rule = StoppingRule(monitor, mode, patience, min_delta, max_gap, enabled)
        self.state = StoppingState()

    @property
    def monitor(self) -> str:
        return self.rule.monitor

    @property
    def best(self) -> float | None:
        return self.state.best

    @property
    def best_epoch(self) -> int | None:
        return self.state.best_epoch

    @property
    def wait(self) -> int:
        return self.state.wait

    def update(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Take one epoch's metrics; return whether it improved and whether to stop."""
        self.state, decision = step(self.rule, self.state, epoch, metrics)
        return decision
