"""Cross-validation (``split: {folds: K}``): the folds, the supervisor's fold means and
fold pruning, and a real 5-fold study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

import automl
from automl.engine.stopping import EarlyStopping
from automl.engine.supervisor import TrialSupervisor
from automl.errors import SpecError
from automl.execution.folds import fold_data
from automl.plugin.trainer import StopReason
from automl.spec import Spec
from tests.helpers import iris_splits


def test_folds_cover_train_and_val_once_each_stratified_and_never_the_test_split() -> None:
    splits = iris_splits()
    folds = fold_data(splits, 5, seed=0, stratify=True)
    assert len(folds) == 5
    pool = np.concatenate([splits.train.x, splits.val.x])
    seen = np.concatenate([f.data.val.x for f in folds])
    assert len(seen) == len(pool)
    def rows(x: np.ndarray) -> list[bytes]:  # a multiset: iris has duplicate samples
        return sorted(r.tobytes() for r in x)

    assert rows(seen) == rows(pool)  # each row of train + val validates once
    for f in folds:  # ... and trains in the other folds; the test rows are in none
        assert rows(np.concatenate([f.data.train.x, f.data.val.x])) == rows(pool)
        assert np.bincount(f.data.val.y.astype(int), minlength=3).min() >= 4  # stratified
        assert np.array_equal(pool[f.val_rows], f.data.val.x)  # where its rows are in the pool
    assert sorted(np.concatenate([f.val_rows for f in folds])) == list(range(len(pool)))
    again = fold_data(splits, 5, seed=0, stratify=True)
    assert all(np.array_equal(a.data.val.x, b.data.val.x)
               for a, b in zip(folds, again, strict=True))


@pytest.mark.parametrize("folds", [1, 0, 21, "3"])
def test_fold_counts_out_of_range_are_spec_errors(folds: object) -> None:
    data = {"study": "s", "trainer": "knn", "dataset": {"name": "iris"},
            "split": {"folds": folds}}
    if folds == "3":  # a numeric string is read as its number, as everywhere in the spec
        assert Spec.from_data(data).split.folds == 3
        return
    with pytest.raises(SpecError, match="split.folds"):
        Spec.from_data(data)


@pytest.mark.parametrize("folds", ["auto", "none", "5x", 2.5])
def test_auto_folds_follow_the_rows(folds: object) -> None:
    from automl.spec.sections import AUTO_FOLD_ROWS

    data = {"study": "s", "trainer": "knn", "dataset": {"name": "iris"},
            "split": {"folds": folds}}
    if folds != "auto":
        with pytest.raises(SpecError, match="split.folds"):
            Spec.from_data(data)
        return
    split = Spec.from_data(data).split
    assert split.folds == "auto"
    assert split.fold_count(120) == 5 and split.fold_count(AUTO_FOLD_ROWS) == 5
    assert split.fold_count(AUTO_FOLD_ROWS + 1) is None
    assert Spec.from_data({**data, "split": {"folds": 3}}).split.fold_count(10**6) == 3


def _supervisor(trial: optuna.Trial | None, patience: int = 2) -> TrialSupervisor:
    return TrialSupervisor(EarlyStopping("val_loss", "min", patience=patience), trial,
                           "val_accuracy", prune=True)


def _epoch(sup: TrialSupervisor, fold: int, epoch: int, acc: float, loss: float) -> object:
    decision = sup(epoch, {"val_accuracy": acc, "val_loss": loss, "train_loss": 0.1,
                           "fold": fold})
    sup.settle()
    return decision


def test_the_trial_scores_the_mean_of_each_folds_best_epoch() -> None:
    sup = _supervisor(None)
    # fold 0: best val_loss at epoch 2 (acc 0.8); fold 1: at epoch 1 (acc 0.9), then it
    # early-stops after `patience` epochs without improvement.
    _epoch(sup, 0, 1, 0.7, 0.5)
    _epoch(sup, 0, 2, 0.8, 0.4)
    _epoch(sup, 0, 3, 0.75, 0.45)
    _epoch(sup, 1, 1, 0.9, 0.3)
    _epoch(sup, 1, 2, 0.85, 0.35)
    last = _epoch(sup, 1, 3, 0.85, 0.36)
    assert last.stop and last.reason is StopReason.EARLY_STOPPED  # fold 1's own patience
    _epoch(sup, 2, 1, 0.6, 0.6)  # fold 2 starts afresh: no stop carried over
    assert sup.stop_reason is None
    metrics = sup.best_metrics
    assert metrics["val_accuracy"] == pytest.approx((0.8 + 0.9 + 0.6) / 3)
    assert metrics["val_loss"] == pytest.approx((0.4 + 0.3 + 0.6) / 3)
    assert metrics["val_accuracy_std"] == pytest.approx(np.std([0.8, 0.9, 0.6], ddof=1))
    assert metrics["val_folds"] == 3
    assert sup.best_epoch == round((2 + 1 + 1) / 3)
    assert [h["fold"] for h in sup.history] == [0, 0, 0, 1, 1, 1, 2]


def test_a_losing_trial_is_pruned_after_a_fold_on_its_running_mean() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(
        n_startup_trials=2, n_warmup_steps=0))
    for _ in range(3):  # trials whose first folds scored 0.9
        good = study.ask()
        good.report(0.9, 1)
        good.report(0.9, 2)
        study.tell(good, 0.9)
    trial = study.ask()
    sup = _supervisor(trial)
    assert not _epoch(sup, 0, 1, 0.5, 0.5).stop  # epochs are not reported to Optuna
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}
    assert not _epoch(sup, 1, 1, 0.5, 0.5).stop  # fold 0 is over: its mean (0.5) reported
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {1: 0.5}
    decision = _epoch(sup, 1, 2, 0.5, 0.45)
    assert decision.stop and decision.reason is StopReason.PRUNED


@pytest.mark.slow
def test_a_five_fold_study_reports_fold_means_and_refits_the_best(in_tmp: Path) -> None:
    spec = {"study": "cv", "trainer": "knn", "dataset": {"name": "wine"},
            "split": {"folds": 5, "test": 0.2},
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "params": {"n_neighbors": {"type": "int", "low": 1, "high": 30}},
            "budget": {"trials": 3, "max_epochs": 1}, "sampler": {"name": "random", "seed": 0},
            "execution": {"workers": 0}, "report": {"top_k": 1}}
    run = automl.search(spec, progress=False)
    frame = run.leaderboard
    assert len(frame) == 3 and (frame["val_folds"] == 5).all()
    for trial in run.study.trials:
        history = trial.user_attrs["automl"]["history"]
        by_fold = {h["fold"]: h["val_accuracy"] for h in history}  # one epoch per fold
        assert sorted(by_fold) == [0, 1, 2, 3, 4]
        assert trial.value == pytest.approx(np.mean(list(by_fold.values())))
        row = frame.set_index("trial").loc[trial.number]
        assert row["val_accuracy_std"] == pytest.approx(np.std(list(by_fold.values()), ddof=1))
        means = np.cumsum(list(by_fold.values())) / np.arange(1, 6)
        assert list(trial.intermediate_values.values()) == pytest.approx(list(means[:4]))
    assert frame["val_accuracy"].iloc[0] > 0.6  # wine: 3 classes
    refit = run.study.user_attrs["automl_refit"]  # folds: the best config trained again
    assert refit["trial"] == frame["trial"].iloc[0] and refit["train_size"] == 142
    assert run.best is not None and run.best.metrics["refit_test_accuracy"] > 0.6


@pytest.mark.slow
def test_a_cross_validated_ensemble_is_selected_on_out_of_fold_predictions(
        in_tmp: Path) -> None:
    from automl.engine.ensemble_selection import ensemble_score
    from automl.engine.keys import ENSEMBLE
    from automl.execution.folds import oof_path, pool_targets
    from automl.reports.artifacts import checkpoint_path

    spec = {"study": "cv-ens", "trainer": ["knn", "logistic"], "dataset": {"name": "wine"},
            "split": {"folds": 5, "test": 0.2},
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "budget": {"trials": 8, "max_epochs": 1}, "sampler": {"name": "random", "seed": 0},
            "pruner": {"name": "none"}, "ensemble": {"size": 5, "from_top": 4},
            "execution": {"workers": 0}, "report": {"top_k": 2}}
    run = automl.search(spec, progress=False)
    frame = run.leaderboard
    trials = frame[frame["trial"].notna() & (frame["trainer"] != "ensemble")]
    assert len(trials) == 8
    root = in_tmp / "reports" / "cv-ens"
    splits = run_splits(spec)
    y = pool_targets(splits)
    folds = fold_data(splits, 5, seed=0, stratify=True)
    kept = set(trials["trial"].iloc[:4].astype(int))
    for number in trials["trial"].astype(int):
        path = oof_path(checkpoint_path(root, number))
        assert path.is_file() == (number in kept)  # the others' were deleted with their weights
        if number not in kept:
            continue
        oof = np.load(path, allow_pickle=False)
        assert oof.shape == (len(y), 3)  # a row of class probabilities per row of train + val
        # each fold's rows were predicted by that fold's model: its own validation accuracy
        history = run.study.trials[number].user_attrs["automl"]["history"]
        by_fold = {h["fold"]: h["val_accuracy"] for h in history}
        for k, fold in enumerate(folds):
            predicted = oof[fold.val_rows].argmax(1)
            assert np.mean(predicted == y[fold.val_rows]) == pytest.approx(by_fold[k])
    record = run.study.user_attrs[ENSEMBLE]
    members = {m["trial"]: m["weight"] for m in record["members"]}
    assert set(members) <= kept
    mix = sum(w * np.load(oof_path(checkpoint_path(root, n)), allow_pickle=False)
              .astype(np.float64) for n, w in members.items())
    assert record["val"]["val_accuracy"] == pytest.approx(
        ensemble_score(y, mix, "classification")["accuracy"])
    best_oof = max(np.mean(np.load(oof_path(checkpoint_path(root, n))).argmax(1) == y)
                   for n in kept)
    assert record["val"]["val_accuracy"] >= best_oof  # greedy selection starts from the best
    assert record["test"]["test_accuracy"] > 0.6  # wine: 3 classes


def run_splits(spec: dict[str, object]) -> object:
    """The splits a search of ``spec`` trains on, made again the same way."""
    from automl.engine.components import load_splits
    from automl.plugin.host import get_plugin_host
    from automl.spec import Spec as SpecModel

    return load_splits(SpecModel.from_data(spec), get_plugin_host().collect())
