"""Early stopping and the overfitting rule, as tables of curves → (stop epoch, reason)."""

from __future__ import annotations

import math

import pytest

from automl.stopping import EarlyStopping, StopReason


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
    ],
)
def test_overfitting_table(val: list[float], train: list[float], max_gap: float,
                           stop_epoch: int | None, reason: StopReason | None) -> None:
    stopper = EarlyStopping("val_loss", "min", patience=10, max_gap=max_gap)
    epoch, got, _ = run(stopper, val, train)
    assert (epoch, got) == (stop_epoch, reason)


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
