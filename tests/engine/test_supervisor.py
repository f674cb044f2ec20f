"""The supervisor: an epoch's decision comes from the trial's own numbers at once; Optuna's
pruner is asked after the answer has gone back, and its verdict stops the next epoch."""

from __future__ import annotations

import optuna
import pytest

from automl.engine.stopping import EarlyStopping
from automl.engine.supervisor import TrialSupervisor
from automl.errors import TrialFailed
from automl.plugin import StopReason


class _Always(optuna.pruners.BasePruner):
    """Prunes every trial that has reported anything."""

    def __init__(self) -> None:
        self.asked: list[int | None] = []

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        self.asked.append(trial.last_step)
        return True


def _supervisor(patience: int = 10) -> tuple[TrialSupervisor, optuna.Trial, _Always]:
    pruner = _Always()
    study = optuna.create_study(direction="maximize", pruner=pruner)
    trial = study.ask()
    stopper = EarlyStopping("val_loss", "min", patience=patience)
    return TrialSupervisor(stopper, trial, "val_accuracy"), trial, pruner


def test_a_pruning_verdict_is_asked_after_the_answer_and_stops_the_next_epoch() -> None:
    supervisor, trial, pruner = _supervisor()
    first = supervisor(1, {"val_loss": 1.0, "val_accuracy": 0.5})
    assert not first.stop and first.improved
    assert trial.study.trials[0].intermediate_values == {}  # nothing written yet
    supervisor.settle()
    assert trial.study.trials[0].intermediate_values == {1: 0.5} and pruner.asked == [1]
    second = supervisor(2, {"val_loss": 0.9, "val_accuracy": 0.6})
    assert second.stop and second.reason is StopReason.PRUNED and second.improved
    supervisor.settle()  # the last epoch is reported too; the pruner is not asked again
    assert trial.study.trials[0].intermediate_values == {1: 0.5, 2: 0.6}
    assert pruner.asked == [1] and supervisor.stop_reason is StopReason.PRUNED


def test_early_stopping_answers_at_once_and_wins_over_a_pending_prune() -> None:
    supervisor, trial, pruner = _supervisor(patience=1)
    supervisor(1, {"val_loss": 1.0, "val_accuracy": 0.5})
    supervisor.settle()
    stop = supervisor(2, {"val_loss": 1.5, "val_accuracy": 0.4})  # no improvement: patience 1
    assert stop.stop and stop.reason is StopReason.EARLY_STOPPED
    supervisor.settle()
    assert pruner.asked == [1]


def test_settle_without_a_report_or_without_pruning_does_nothing() -> None:
    supervisor, trial, pruner = _supervisor()
    supervisor.settle()
    assert pruner.asked == []
    quiet = TrialSupervisor(EarlyStopping("val_loss", "min", patience=3))
    assert not quiet(1, {"val_loss": 1.0}).stop
    quiet.settle()


def test_a_missing_objective_fails_the_trial_at_once() -> None:
    supervisor, _, _ = _supervisor()
    with pytest.raises(TrialFailed, match="did not report 'val_accuracy'"):
        supervisor(1, {"val_loss": 1.0})


def test_without_pruning_every_epoch_is_still_reported_but_the_pruner_never_asked() -> None:
    pruner = _Always()
    study = optuna.create_study(direction="maximize", pruner=pruner)
    trial = study.ask()
    supervisor = TrialSupervisor(EarlyStopping("val_loss", "min", patience=10), trial,
                                 "val_accuracy", prune=False)
    for epoch in (1, 2, 3):
        decision = supervisor(epoch, {"val_loss": 1.0 / epoch, "val_accuracy": 0.5 + epoch / 10})
        supervisor.settle()
        assert not decision.stop
    assert trial.study.trials[0].intermediate_values == {1: 0.6, 2: 0.7, 3: 0.8}
    assert pruner.asked == []  # the curve is kept for the reports and a resume, not judged
    # without pruning, a report that lacks the objective is no error (nothing to judge)
    assert not supervisor(4, {"val_loss": 0.2}).stop
