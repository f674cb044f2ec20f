"""A search over a list of trainers: the spec's form, which trainers take part, default
spaces and first configs, per-trainer pruning, and a real search that picks trainers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

import automl
from automl.engine.components import build_algorithms
from automl.engine.space import suggest, to_optuna_params
from automl.engine.trainer_choice import SameTrainerPruner, resolve_trainers
from automl.errors import SpecError
from automl.plugin import hookimpl
from automl.plugin.testing import plugin_host
from automl.spec import Spec

BASE: dict[str, Any] = {"study": "pick", "dataset": {"name": "iris"},
                        "objective": {"metric": "val_accuracy", "direction": "maximize"}}


def spec_of(trainer: Any, params: Any = None, **more: Any) -> Spec:
    return Spec.from_data({**BASE, "trainer": trainer, **({"params": params} if params else {}),
                           **more})


class _Spaced:
    """A trainer with a default space (``HasDefaultSpace``); it never trains here."""

    def __init__(self, name: str, cost: float, tasks: tuple[str, ...] = ("classification",)
                 ) -> None:
        self.name, self.cost, self.tasks = name, cost, tasks

    def fit(self, params: dict[str, Any], data: Any, ctx: Any) -> dict[str, float]:
        raise AssertionError("not trained in these tests")

    def evaluate(self, params: dict[str, Any], path: Path, split: Any, info: Any
                 ) -> dict[str, float]:
        raise AssertionError("not trained in these tests")

    def default_space(self, task: str) -> dict[str, Any]:
        return {"alpha": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
                "kind": ["a", "b"]}

    def default_config(self, task: str) -> dict[str, Any]:
        return {"alpha": 1.0, "kind": "a"}


class _Bare(_Spaced):
    """A trainer without a default space."""

    default_space = None  # type: ignore[assignment]


class _Plugin:
    @hookimpl
    def register_trainers(self, register: Any) -> None:
        register(_Spaced("slow", cost=50.0))
        register(_Spaced("cheap", cost=1.0))
        register(_Spaced("regressor", cost=1.0, tasks=("regression",)))
        register(_Bare("bare", cost=1.0))


@pytest.fixture
def spaced_host() -> Any:
    return plugin_host(_Plugin(), entry_points=True)


def test_a_trainer_list_is_one_space_whose_groups_follow_the_trainer() -> None:
    spec = spec_of(["mlp", "knn"], {"mlp": {"lr": {"type": "float", "low": 1e-3, "high": 0.1},
                                            "width": [16, 32]},
                                    "knn": {"n_neighbors": {"type": "int", "low": 1, "high": 9}}})
    assert spec.picks_trainer and spec.trainers == ("mlp", "knn")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        params = suggest(trial, spec.params)
        name, own = spec.trial_trainer(params)
        seen.add(name)
        assert set(params) == {"trainer", name}  # the other trainer's params are absent
        assert set(trial.params) == {"trainer", *(f"{name}.{k}" for k in own)}
        assert set(own) == ({"lr", "width"} if name == "mlp" else {"n_neighbors"})
        study.tell(trial, 0.5)
    assert seen == {"mlp", "knn"}
    # the file's form, read back to an equal spec
    data = spec.to_dict()
    assert data["trainer"] == ["mlp", "knn"] and set(data["params"]) == {"mlp", "knn"}
    assert Spec.from_data(data) == spec
    # enqueue takes nested or flat names; another trainer's params are refused
    assert to_optuna_params(spec.params, {"trainer": "knn", "knn": {"n_neighbors": 3}}) == \
        {"trainer": "knn", "knn.n_neighbors": 3}
    assert to_optuna_params(spec.params, {"trainer": "knn", "knn.n_neighbors": 3}) == \
        {"trainer": "knn", "knn.n_neighbors": 3}
    with pytest.raises(SpecError, match=r"mlp: given, but its condition \(trainer = mlp\)"):
        spec_of(["mlp", "knn"], {"mlp": {"width": [16, 32]}},
                enqueue=[{"trainer": "knn", "mlp": {"width": 16}}])


def test_a_single_trainer_spec_is_unchanged() -> None:
    spec = spec_of("knn", {"n_neighbors": 3})
    assert not spec.picks_trainer and spec.trainers == ("knn",)
    assert spec.trial_trainer({"n_neighbors": 3}) == ("knn", {"n_neighbors": 3})
    assert spec.to_dict()["trainer"] == "knn"


def test_listed_trainers_without_params_get_their_default_space_cheapest_first(
        spaced_host: Any) -> None:
    spec = spec_of(["slow", "cheap", "bare"], {"slow": {"alpha": 2.0}}, enqueue=[
        {"trainer": "slow"}])
    assert spec.defaulted_trainers == ("cheap", "bare")
    resolved = resolve_trainers(spec, spaced_host, "classification")
    assert resolved.defaulted_trainers == ("bare",)  # nothing to give it
    data = resolved.to_dict()
    assert data["params"]["slow"] == {"alpha": 2.0}  # as given: no default for it
    assert data["params"]["cheap"]["kind"] == {"type": "categorical", "choices": ["a", "b"]}
    assert data["params"].get("bare", {}) == {}  # no default space: its own defaults
    # the spec's own first, then each defaulted trainer's default config by cost
    assert data["enqueue"] == [{"trainer": "slow"},
                               {"trainer": "cheap", "cheap": {"alpha": 1.0, "kind": "a"}}]
    assert resolve_trainers(resolved, spaced_host, "classification") == resolved


def test_trainers_that_do_not_handle_the_task_are_left_out_with_a_warning(
        spaced_host: Any, caplog: pytest.LogCaptureFixture) -> None:
    spec = spec_of(["cheap", "regressor"])
    with caplog.at_level(logging.WARNING):
        resolved = resolve_trainers(spec, spaced_host, "classification")
    assert resolved.trainers == ("cheap",)
    assert "regressor handles regression only" in caplog.text
    with pytest.raises(SpecError, match="none of the trainers .* handles classification data"):
        resolve_trainers(spec_of(["regressor"]), spaced_host, "classification")
    with pytest.raises(SpecError, match="trainer 'regressor' handles regression data"):
        resolve_trainers(spec_of("regressor"), spaced_host, "classification")
    with pytest.raises(SpecError, match=r"trainer\.1: .*unknown trainer 'nope'|nope"):
        resolve_trainers(spec_of(["cheap", "nope"]), spaced_host, "classification")


def _trial(trainer: str, curve: list[float], state: TrialState = TrialState.COMPLETE
           ) -> optuna.trial.FrozenTrial:
    return create_trial(
        params={"trainer": trainer, f"{trainer}.x": 0.5},
        distributions={"trainer": CategoricalDistribution(["fast", "slow"]),
                       f"{trainer}.x": FloatDistribution(0, 1)},
        value=curve[-1] if state == TrialState.COMPLETE else None, state=state,
        intermediate_values=dict(enumerate(curve, start=1)))


def test_pruning_compares_a_trial_with_its_own_trainers_trials_only() -> None:
    # "fast" trials are at 0.9 from their first step; "slow" ones start low and climb.
    pruner = SameTrainerPruner(optuna.pruners.MedianPruner(n_startup_trials=2,
                                                           n_warmup_steps=0))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for _ in range(3):
        study.add_trial(_trial("fast", [0.9, 0.91, 0.92]))
    for _ in range(3):
        study.add_trial(_trial("slow", [0.3, 0.6, 0.95]))
    slow = study.ask({"trainer": CategoricalDistribution(["fast", "slow"])})
    assert slow.params["trainer"] in ("fast", "slow")
    study.add_trial(_trial("slow", [0.35], TrialState.RUNNING))
    running = study.get_trials(deepcopy=False)[-1]
    # A plain median pruner compares 0.35 with every trial's step 1 (median 0.6): pruned.
    assert optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0).prune(
        study, running)
    # Against the slow trials only (median 0.3) it goes on.
    assert not pruner.prune(study, running)
    study.add_trial(_trial("fast", [0.5], TrialState.RUNNING))
    assert pruner.prune(study, study.get_trials(deepcopy=False)[-1])  # below fast's 0.9


def test_a_trainer_list_study_wraps_the_pruner() -> None:
    from automl.plugin.host import get_plugin_host

    _, pruner = build_algorithms(spec_of(["knn", "logistic"], pruner={"name": "median"}), 0,
                                 get_plugin_host())
    assert isinstance(pruner, SameTrainerPruner)
    assert isinstance(pruner.inner, optuna.pruners.MedianPruner)
    _, single = build_algorithms(spec_of("knn", pruner={"name": "median"}), 0,
                                 get_plugin_host())
    assert isinstance(single, optuna.pruners.MedianPruner)


@pytest.mark.slow
def test_a_search_over_trainers_picks_from_the_list_and_reports_by_trainer(in_tmp: Path
                                                                           ) -> None:
    spec = {**BASE, "dataset": {"name": "wine"},
            "trainer": ["logistic", "knn", "random_forest", "ridge"],
            "params": {"logistic": {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}},
                       "knn": {"n_neighbors": {"type": "int", "low": 1, "high": 25}},
                       "random_forest": {"n_estimators": {"type": "int", "low": 10, "high": 40},
                                         "max_depth": {"type": "int", "low": 2, "high": 6}}},
            "budget": {"trials": 12, "max_epochs": 2}, "sampler": {"name": "random", "seed": 1},
            "execution": {"workers": 0}, "report": {"top_k": 3}}
    run = automl.search(spec, progress=False)
    board = run.leaderboard
    assert (board["state"] == "ensemble").sum() == 1  # on by default for a trainer list
    frame = board[board["state"] != "ensemble"]
    assert len(frame) == 12
    picked = set(frame["trainer"])
    assert picked <= {"logistic", "knn", "random_forest"} and len(picked) >= 2  # no ridge
    for _, row in frame.iterrows():  # each row has its own trainer's params, no other's
        own = {c.split(".")[0] for c in frame.columns if "." in c and pd.notna(row[c])}
        assert own <= {row["trainer"]}
    best = frame.iloc[0]
    assert run.best is not None and run.best.record.trainer == best["trainer"]
    assert set(run.best.params) == {c.split(".", 1)[1] for c in frame.columns
                                    if c.startswith(f"{best['trainer']}.")}
    from sklearn.datasets import load_wine

    wine = load_wine()
    truth = np.asarray(run.best.classes, dtype=object)[wine.target]  # labels in class order
    accuracy = np.mean(np.asarray(run.best.predict(wine.data), dtype=object) == truth)
    assert accuracy > 0.85
    md = (in_tmp / "reports/pick/leaderboard.md").read_text()
    assert "## By trainer" in md
    by_trainer = md.split("## By trainer", 1)[1]
    for name in picked:
        assert f"| {name}" in by_trainer
    html = (in_tmp / "reports/pick/report.html").read_text()
    assert "id=trainers" in html and "By trainer" in html


@pytest.mark.slow
def test_a_regression_search_over_trainers_uses_regression_metrics(in_tmp: Path) -> None:
    spec = {**BASE, "dataset": {"name": "diabetes"}, "trainer": ["ridge", "logistic", "knn"],
            "objective": {"metric": "val_rmse", "direction": "minimize"},
            "params": {"ridge": {"alpha": {"type": "float", "low": 0.01, "high": 100,
                                           "log": True}},
                       "knn": {"n_neighbors": {"type": "int", "low": 3, "high": 30}}},
            "budget": {"trials": 6, "max_epochs": 1}, "sampler": {"name": "random", "seed": 0},
            "execution": {"workers": 0}, "report": {"top_k": 2}}
    run = automl.search(spec, progress=False)
    board = run.leaderboard
    frame = board[board["state"] == "complete"]
    assert set(frame["trainer"]) <= {"ridge", "knn"}  # logistic: classification only
    assert {"val_rmse", "val_mae", "val_r2", "test_rmse", "test_mae", "test_r2"} <= set(
        board.columns)
    assert not any(c.endswith(("accuracy", "log_loss")) for c in board.columns)
    assert frame["val_rmse"].iloc[0] == frame["val_rmse"].min()
    assert 30 < frame["test_rmse"].dropna().iloc[0] < 80  # diabetes: std of y is 77
    ensemble = board[board["state"] == "ensemble"].iloc[0]  # averaged predictions
    assert ensemble["val_rmse"] <= frame["val_rmse"].min() + 1e-9
    assert 30 < ensemble["test_rmse"] < 80 and -1 < ensemble["test_r2"] < 1


@pytest.mark.slow
def test_the_ensemble_row_scores_at_least_as_well_as_its_best_member_and_predicts(
        in_tmp: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    spec = {**BASE, "study": "ens", "dataset": {"name": "breast_cancer"},
            "objective": {"metric": "val_log_loss", "direction": "minimize"},
            "trainer": ["logistic", "knn", "random_forest"],
            "params": {"logistic": {"C": {"type": "float", "low": 0.001, "high": 10, "log": True}},
                       "knn": {"n_neighbors": {"type": "int", "low": 3, "high": 40}},
                       "random_forest": {"n_estimators": {"type": "int", "low": 10, "high": 40},
                                         "max_depth": {"type": "int", "low": 2, "high": 8}}},
            "budget": {"trials": 12, "max_epochs": 2}, "sampler": {"name": "random", "seed": 3},
            "execution": {"workers": 0}, "report": {"top_k": 2},
            "ensemble": {"size": 10, "from_top": 8}}
    run = automl.search(spec, progress=False)
    frame = run.leaderboard
    row = frame[frame["trainer"] == "ensemble"]
    assert len(row) == 1 and row["state"].iloc[0] == "ensemble"
    record = run.study.user_attrs["automl_ensemble"]
    members = {m["trial"]: m["weight"] for m in record["members"]}
    assert abs(sum(members.values()) - 1) < 1e-6 and set(members) <= set(frame["trial"].dropna())
    trials = frame[frame["state"] == "complete"]
    best_single = trials["val_log_loss"].min()
    assert row["val_log_loss"].iloc[0] <= best_single + 1e-12  # never worse on validation
    assert record["trace"][0] == pytest.approx(best_single, rel=1e-6)  # round one: the best
    assert pd.notna(row["test_log_loss"].iloc[0]) and pd.notna(row["test_accuracy"].iloc[0])
    # The row sits where its value ranks it; the trials keep their ranks 1..n.
    assert list(trials["rank"]) == list(range(1, len(trials) + 1))
    # Loadable; predicts what its members' weighted mean gives.
    model = automl.load("reports/ens/ensemble")
    assert run.ensemble is not None and len(model.members) == len(members)
    x = load_breast_cancer().data
    proba = model.predict_proba(x)
    mean = sum(w * m.predict_proba(x) for m, w in model.members)
    np.testing.assert_allclose(proba, mean, atol=1e-12)
    assert np.mean(model.predict(x) == np.asarray(model.classes, dtype=object)[
        load_breast_cancer().target]) > 0.9
    assert "| ensemble" in (in_tmp / "reports/ens/leaderboard.md").read_text()
    assert run.best_model is not None


@pytest.mark.parametrize(("dataset", "section", "metric", "path", "hint"), [
    ("diabetes", "objective", {"metric": "val_accuracy", "direction": "maximize"},
     "objective.metric", "use one of val_rmse, val_mae, val_r2 or val_loss"),
    ("iris", "objective", {"metric": "val_rmse", "direction": "minimize"},
     "objective.metric", "val_accuracy"),
    ("iris", "early_stopping", {"monitor": "val_r2", "mode": "max"},
     "early_stopping.monitor", "val_log_loss"),
])
def test_a_metric_of_the_other_task_is_a_spec_error_before_any_trial(
        in_tmp: Path, dataset: str, section: str, metric: dict[str, Any], path: str,
        hint: str) -> None:
    from automl.engine.controller import Controller

    spec = Spec.from_data({**BASE, "dataset": {"name": dataset}, "trainer": ["knn"],
                           section: metric, "execution": {"workers": 0}})
    with pytest.raises(SpecError, match=hint) as caught:
        Controller(spec)
    assert caught.value.path == path
    assert not (in_tmp / "reports").exists()  # nothing created by a command that failed


@pytest.mark.slow
def test_with_a_refit_the_ensemble_members_are_trained_again_on_train_and_val(
        in_tmp: Path) -> None:
    from automl.reports.artifacts import checkpoint_path
    from tests.engine.test_folds import run_splits

    spec = {"study": "ens-refit", "trainer": ["knn", "logistic"],
            "dataset": {"name": "breast_cancer"},
            "objective": {"metric": "val_log_loss", "direction": "minimize"},
            "budget": {"trials": 8, "max_epochs": 1}, "sampler": {"name": "random", "seed": 0},
            "pruner": {"name": "none"}, "ensemble": {"size": 10, "from_top": 8},
            "execution": {"workers": 0}, "report": {"top_k": 2, "refit": True}}
    plain = automl.search({**spec, "study": "ens-plain", "report": {"top_k": 2}}, progress=False)
    plain_record = plain.study.user_attrs["automl_ensemble"]
    assert not any(m["refit"] for m in plain_record["members"])
    assert not (in_tmp / "reports" / "ens-plain" / "refit").exists()
    run = automl.search(spec, progress=False)
    record = run.study.user_attrs["automl_ensemble"]
    best_refit = run.study.user_attrs["automl_refit"]
    members = {m["trial"]: m["weight"] for m in record["members"]}
    assert len(members) >= 2 and all(m["refit"] for m in record["members"])
    report = in_tmp / "reports" / "ens-refit"
    for number in members:
        # the best trial's refit is reused; the others get their own, on train + val
        refit = Path(best_refit["checkpoint"]) if number == best_refit["trial"] else \
            report / "refit" / f"trial_{number}" / "model.pt"
        bundled = next((report / "ensemble" / f"trial_{number}").glob("model.*"))  # the copy
        assert bundled.read_bytes() == refit.read_bytes() != \
            checkpoint_path(report, number).read_bytes()
    # The stored test score is the refit members' mixture's, which the bundle predicts.
    model = automl.load(report / "ensemble")
    splits = run_splits(spec)
    proba = model.predict_proba(splits.test.x)
    mixed = sum(w * m.predict_proba(splits.test.x) for m, w in model.members)
    np.testing.assert_allclose(proba, mixed, atol=1e-12)
    accuracy = float(np.mean(np.argmax(proba, axis=1) == np.asarray(splits.test.y)))
    assert record["test"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    # Same trials, same selection: only the members' models (and the test score) differ.
    assert record["members"] == [{**m, "refit": True} for m in plain_record["members"]]
    assert record["val"] == plain_record["val"]
