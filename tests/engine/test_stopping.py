"""Early stopping and the overfitting rule, as tables of curves → (stop epoch, reason)."""

from __future__ import annotations

import math

import pytest

from automl.engine.stopping import (
    EarlyStopping,
    StoppingRule,
    StoppingState,
    StopReason,
    first_stop,
    is_improvement,
    overfitting_holds,
    step,
)


def run(stopper: EarlyStopping, values: list[float],
        train: list[float] | None = None) -> tuple[int | None, StopReason | None, int | None]:
    """Feed ``values`` as the monitored metric; return (stop epoch, reason, best epoch)."""
    for epoch, value in enumerate(values, start=1):
        metrics = {stopper.monitor: value}
        if train is not None:
            metrics = {"val_loss": value, "train_loss": train[epoch - 1]}
        decision = stopper.update(epoch, metrics)
        if decision.stop:
            return epoch, decision.reason, stopper.best_epoch
    return None, None, stopper.best_epoch


@pytest.mark.parametrize(
    ("values", "mode", "patience", "min_delta", "stop_epoch", "best_epoch"),
    [
        # improving every epoch: never stops
        ([1.0, 0.9, 0.8, 0.7, 0.6], "min", 2, 0.0, None, 5),
        # flat after epoch 2: stops `patience` epochs later
        ([1.0, 0.5, 0.5, 0.5, 0.5, 0.5], "min", 3, 0.0, 5, 2),
        # patience 1 stops at the first non-improving epoch
        ([1.0, 0.5, 0.6], "min", 1, 0.0, 3, 2),
        # tiny improvements below min_delta do not count
        ([1.0, 0.99, 0.98, 0.97], "min", 2, 0.05, 3, 1),
        # the same curve without min_delta keeps improving
        ([1.0, 0.99, 0.98, 0.97], "min", 2, 0.0, None, 4),
        # a late improvement resets the counter
        ([1.0, 1.1, 1.2, 0.9, 1.0, 1.0, 1.0], "min", 3, 0.0, 7, 4),
        # mode max (accuracy)
        ([0.5, 0.8, 0.79, 0.8, 0.7], "max", 3, 0.0, 5, 2),
        ([0.5, 0.8, 0.85, 0.9], "max", 1, 0.0, None, 4),
        # an improvement of exactly min_delta is not enough
        ([0.5, 0.6, 0.7], "max", 1, 0.1, 2, 1),
    ],
)
def test_patience_table(values: list[float], mode: str, patience: int, min_delta: float,
                        stop_epoch: int | None, best_epoch: int) -> None:
    stopper = EarlyStopping("m", mode, patience=patience, min_delta=min_delta)  # type: ignore[arg-type]
    epoch, reason, best = run(stopper, values)
    assert epoch == stop_epoch
    assert reason == (StopReason.EARLY_STOPPED if stop_epoch else None)
    assert best == best_epoch


@pytest.mark.parametrize(
    ("val", "train", "max_gap", "stop_epoch", "reason"),
    [
        # classic overfitting: val rises from epoch 4 while train falls, gap > 0.2 at 4 and 5
        ([1.0, 0.8, 0.6, 0.65, 0.8, 0.9, 1.0], [1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1], 0.2, 5,
         StopReason.OVERFITTING),
        # the same curve with a large max_gap: patience (10) never triggers, no stop
        ([1.0, 0.8, 0.6, 0.65, 0.8, 0.9, 1.0], [1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1], 5.0, None,
         None),
        # one noisy epoch above the best does not stop the trial
        ([1.0, 0.8, 0.6, 0.9, 0.55, 0.5], [1.0, 0.7, 0.5, 0.4, 0.3, 0.2], 0.2, None, None),
        # val rises but train rises too (diverging, not overfitting): no overfitting stop
        ([1.0, 0.8, 0.9, 1.0, 1.1], [1.0, 0.7, 0.8, 0.9, 1.0], 0.0, None, None),
        # big gap but val still improving: not overfitting
        ([1.0, 0.9, 0.8, 0.7], [0.5, 0.3, 0.2, 0.1], 0.1, None, None),
        # memorised training data: train loss near zero wobbles (0.010 -> 0.012) but stays
        # below its value at the best val epoch (0.1): still overfitting, stops at 5
        ([1.0, 0.5, 0.4, 0.6, 0.8, 1.0], [0.8, 0.3, 0.1, 0.01, 0.012, 0.011], 0.3, 5,
         StopReason.OVERFITTING),
        # val rises and train falls, but the gap stays under max_gap: no overfitting stop
        ([1.0, 0.6, 0.5, 0.55, 0.6, 0.62], [1.0, 0.6, 0.45, 0.4, 0.38, 0.36], 0.3, None,
         None),
        # train rises back above its value at the best val epoch: diverging, not overfitting
        ([1.0, 0.5, 0.9, 1.5, 2.0], [0.9, 0.2, 0.25, 0.3, 0.4], 0.1, None, None),
        # the condition holds on epochs 4 and 6 but never twice in a row (5 and 7 are new
        # best val epochs)
        ([1.0, 0.5, 0.4, 0.9, 0.3, 0.8, 0.25], [0.9, 0.3, 0.2, 0.1, 0.08, 0.05, 0.04], 0.2,
         None, None),
        # ... and stops at the second epoch in a row once it holds twice (6 and 7)
        ([1.0, 0.5, 0.4, 0.9, 0.3, 0.8, 0.9], [0.9, 0.3, 0.2, 0.1, 0.08, 0.05, 0.04], 0.2,
         7, StopReason.OVERFITTING),
    ],
)
def test_overfitting_table(val: list[float], train: list[float], max_gap: float,
                           stop_epoch: int | None, reason: StopReason | None) -> None:
    stopper = EarlyStopping("val_loss", "min", patience=10, max_gap=max_gap)
    epoch, got, _ = run(stopper, val, train)
    assert (epoch, got) == (stop_epoch, reason)


def test_min_delta_applies_to_the_rise_of_val_loss() -> None:
    # val 0.41 and 0.42 are above the best (0.4) by less than min_delta 0.05: no rise
    val, train = [1.0, 0.5, 0.4, 0.41, 0.42, 0.41], [0.8, 0.3, 0.1, 0.05, 0.03, 0.02]
    assert run(EarlyStopping("val_loss", "min", patience=10, max_gap=0.3, min_delta=0.05),
               val, train)[:2] == (None, None)
    assert run(EarlyStopping("val_loss", "min", patience=10, max_gap=0.3),
               val, train)[:2] == (5, StopReason.OVERFITTING)


def test_overfitting_rule_works_when_the_monitor_is_not_the_loss() -> None:
    # monitor val_accuracy (max); the rule still reads val_loss and train_loss
    stopper = EarlyStopping("val_accuracy", "max", patience=10, max_gap=0.2)
    curve = [(0.9, 0.8, 0.7), (0.5, 0.3, 0.9), (0.6, 0.2, 0.91), (0.8, 0.1, 0.92)]
    stops = []
    for epoch, (val_loss, train_loss, acc) in enumerate(curve, start=1):
        d = stopper.update(epoch, {"val_loss": val_loss, "train_loss": train_loss,
                                   "val_accuracy": acc})
        stops.append((d.stop, d.reason, d.improved))
    # accuracy improves every epoch (so these epochs are "best"), yet the trial overfits
    assert stops[-1] == (True, StopReason.OVERFITTING, True)
    assert not any(s for s, _, _ in stops[:-1])


def test_overfitting_wins_over_patience_on_the_same_epoch() -> None:
    stopper = EarlyStopping("val_loss", "min", patience=2, max_gap=0.1)
    epoch, reason, best = run(stopper, [1.0, 0.5, 0.7, 0.9], [1.0, 0.4, 0.3, 0.2])
    assert (epoch, reason, best) == (4, StopReason.OVERFITTING, 2)


def test_disabled_never_stops_but_tracks_the_best() -> None:
    stopper = EarlyStopping("m", "min", patience=1, enabled=False)
    epoch, reason, best = run(stopper, [1.0, 2.0, 3.0, 0.5, 4.0])
    assert (epoch, reason, best) == (None, None, 4)


def test_non_finite_and_missing_metric_raise() -> None:
    stopper = EarlyStopping("val_loss", "min")
    with pytest.raises(ValueError, match="nan"):
        stopper.update(1, {"val_loss": math.nan})
    with pytest.raises(KeyError):
        stopper.update(1, {"train_loss": 1.0})


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        EarlyStopping("m", "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EarlyStopping("m", patience=0)


# -- the rules as pure functions -------------------------------------------------------------
@pytest.mark.parametrize(("val", "train", "best_val", "train_at_best", "max_gap", "holds"), [
    (0.8, 0.3, 0.6, 0.5, 0.2, True),  # val up, train down, gap 0.5 > 0.2
    (0.6, 0.3, 0.6, 0.5, 0.2, False),  # val not above its best
    (0.8, 0.5, 0.6, 0.5, 0.2, False),  # train not below its value at the best epoch
    (0.8, 0.7, 0.6, 0.9, 0.2, False),  # gap 0.1, under max_gap
    (0.75, 0.5, 0.6, 0.9, 0.25, False),  # gap exactly max_gap: not wider
])
def test_overfitting_holds_table(val: float, train: float, best_val: float,
                                 train_at_best: float, max_gap: float, holds: bool) -> None:
    assert overfitting_holds(val, train, best_val, train_at_best, 0.0, max_gap) is holds


@pytest.mark.parametrize(("value", "best", "mode", "min_delta", "improves"), [
    (1.0, None, "min", 0.0, True), (0.9, 1.0, "min", 0.0, True), (1.0, 1.0, "min", 0.0, False),
    (0.95, 1.0, "min", 0.05, False), (0.94, 1.0, "min", 0.05, True),
    (0.8, 0.7, "max", 0.0, True), (0.7, 0.7, "max", 0.0, False), (0.75, 0.7, "max", 0.1, False),
])
def test_is_improvement_table(value: float, best: float | None, mode: str, min_delta: float,
                              improves: bool) -> None:
    assert is_improvement(value, best, mode, min_delta) is improves  # type: ignore[arg-type]


def test_step_is_pure_and_first_stop_runs_a_whole_curve() -> None:
    rule = StoppingRule("val_loss", "min", patience=2)
    state = StoppingState()
    after, decision = step(rule, state, 1, {"val_loss": 1.0})
    assert state == StoppingState()  # the input state is left as it was
    assert decision.improved and after.best == 1.0 and after.best_epoch == 1
    curve = [{"val_loss": v} for v in (1.0, 0.8, 0.9, 0.95, 0.7)]
    assert first_stop(rule, curve) == (4, StopReason.EARLY_STOPPED, 2)
    assert first_stop(StoppingRule("val_loss", patience=5), curve) == (None, None, 5)
    overfit = [{"val_loss": v, "train_loss": t}
               for v, t in ((1.0, 1.0), (0.6, 0.5), (0.8, 0.3), (0.9, 0.2))]
    assert first_stop(StoppingRule("val_loss", patience=9, max_gap=0.2), overfit) == \
        (4, StopReason.OVERFITTING, 2)


def test_a_bad_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        StoppingRule(mode="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="patience"):
        StoppingRule(patience=0)
