"""Default search spaces (:class:`automl.plugin.HasDefaultSpace`): every built-in trainer
ships one per task, its default configuration is a complete point of it, configurations
sampled from it train, and :func:`check_trainer` holds a third party's to the same promise.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FixedTrial

from automl.data import TrialData, make_splits
from automl.engine.space import check_config, suggest, to_optuna_params
from automl.errors import TrialFailed, UsageError
from automl.plugin import (
    ContractError,
    HasDefaultSpace,
    TorchTrainer,
    Trainer,
    TrialContext,
    check_trainer,
    plugin_host,
    tiny_dataset,
)
from automl.plugin.trainer import TASK_METRICS
from automl.spec.params import Space
from automl.spec.space_parser import parse_space
from automl_plugins import cnn, mlp, sklearn_models
from automl_plugins.mlp import build_mlp

BUILT_IN = ("random_forest", "extra_trees", "hist_gbm", "logistic", "ridge", "svm", "knn", "mlp",
            "cnn")
HOST = plugin_host(sklearn_models, mlp, cnn)
TRAINERS = {name: HOST.trainers.get(name) for name in BUILT_IN}
CASES = [(name, task) for name, t in TRAINERS.items() for task in t.tasks]
IDS = [f"{name}-{task}" for name, task in CASES]
IMAGES = (1, 8, 8)  # the cnn needs image-shaped samples
# Outside the spaces, to keep the tests fast: fewer trees (the forest grows per epoch and
# early stopping picks the size, so n_estimators is not searched).
QUICK: dict[str, dict[str, Any]] = {"random_forest": {"n_estimators": 20},
                                    "extra_trees": {"n_estimators": 20}}


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def space_of(name: str, task: str) -> Space:
    return parse_space(TRAINERS[name].default_space(task), path=("params", name))


def trial_data(name: str, task: str) -> TrialData:
    # 60 rows: 45 training rows, fewer than knn's largest n_neighbors (50), which the
    # trainer must lower to fit.
    data = tiny_dataset(task, n=60, image_shape=IMAGES if name == "cnn" else None)  # type: ignore[arg-type]
    return make_splits(data, val=0.25, test=0.0, seed=0,
                       stratify=task == "classification").for_trial()


def fit_and_score(trainer: Trainer, config: dict[str, Any], data: TrialData,
                  tmp_path: Path) -> dict[str, float]:
    """Two epochs with ``config``; the final and the re-read checkpoint's metrics are finite."""
    ctx = TrialContext(number=0, device="cpu", seed=0, max_epochs=2,
                       checkpoint_path=tmp_path / "trial_0.ckpt")
    config = {**config, **QUICK.get(trainer.name, {})}
    result = trainer.fit(dict(config), data, ctx)
    metric = TASK_METRICS[data.info.task]
    assert math.isfinite(result["val_" + metric]), (config, result)
    # evaluate reads the checkpoint back: a param value that makes the model hold a type
    # the data-only checkpoint format refuses would fail here.
    evaluated = trainer.evaluate(dict(config), ctx.checkpoint_path, data.val, data.info)
    assert math.isfinite(evaluated[metric]), (config, evaluated)
    return dict(evaluated)


class CornerSampler(BaseSampler):
    """Every param at one end of its range: ``low`` and the first choice, or ``high`` and
    the last; the extremes are where a space is likeliest to hold a config that fails."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if isinstance(param_distribution, CategoricalDistribution):
            return param_distribution.choices[-1 if self.high else 0]
        return param_distribution.high if self.high else param_distribution.low  # type: ignore[attr-defined]


def sampled(space: Space, sampler: BaseSampler, n: int) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=sampler)
    return [suggest(study.ask(), space) for _ in range(n)]


# -- the built-in trainers -----------------------------------------------------------------

def test_every_built_in_trainer_has_a_default_space_and_a_cost() -> None:
    for name, trainer in TRAINERS.items():
        assert isinstance(trainer, HasDefaultSpace), name
        assert trainer.cost > 0, name
    costs = {name: t.cost for name, t in TRAINERS.items()}  # type: ignore[attr-defined]
    # the linear models are the cheapest, the cnn the dearest (trials run cheapest first)
    assert costs["logistic"] == costs["ridge"] == min(costs.values())
    assert costs["cnn"] == max(costs.values())


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_the_default_config_is_a_complete_point_of_the_default_space(name: str,
                                                                     task: str) -> None:
    space = space_of(name, task)
    config = TRAINERS[name].default_config(task)  # type: ignore[attr-defined]
    check_config(space, config)
    # Complete: sampling with exactly its values gives it back, nothing left to chance.
    trial = FixedTrial(to_optuna_params(space, config))
    assert suggest(trial, space) == config


def test_the_spaces_are_task_aware() -> None:
    rf = TRAINERS["random_forest"]
    assert "criterion" in rf.default_space("classification")  # type: ignore[attr-defined]
    assert "criterion" not in rf.default_space("regression")  # type: ignore[attr-defined]
    assert "epsilon" in TRAINERS["svm"].default_space("regression")  # type: ignore[attr-defined]
    assert rf.default_config("classification")["max_features"] == "sqrt"  # type: ignore[attr-defined]
    assert rf.default_config("regression")["max_features"] == 1.0  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="handles classification, not regression"):
        TRAINERS["logistic"].default_space("regression")  # type: ignore[attr-defined]


def test_default_spaces_are_fresh_copies() -> None:
    trainer = TRAINERS["mlp"]
    space = trainer.default_space("classification")  # type: ignore[attr-defined]
    space["layers"]["params"]["units"]["high"] = 1
    trainer.default_config("classification")["layers"].clear()  # type: ignore[attr-defined]
    assert trainer.default_space("classification")["layers"]["params"]["units"]["high"] == 256  # type: ignore[attr-defined]
    assert len(trainer.default_config("classification")["layers"]) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_configs_from_the_default_space_train(name: str, task: str, tmp_path: Path) -> None:
    space, trainer, data = space_of(name, task), TRAINERS[name], trial_data(name, task)
    configs = [trainer.default_config(task),  # type: ignore[attr-defined]
               *sampled(space, CornerSampler(high=False), 1),
               *sampled(space, CornerSampler(high=True), 1),
               *sampled(space, RandomSampler(seed=0), 1)]
    for i, config in enumerate(configs):
        check_config(space, config)
        fit_and_score(trainer, config, data, tmp_path / str(i))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_many_random_configs_from_the_default_space_train(name: str, task: str,
                                                          tmp_path: Path) -> None:
    space, trainer, data = space_of(name, task), TRAINERS[name], trial_data(name, task)
    for i, config in enumerate(sampled(space, RandomSampler(seed=1), 25)):
        fit_and_score(trainer, config, data, tmp_path / str(i))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_the_torch_trainers_keep_the_contract_with_their_default_space(name: str) -> None:
    dataset = tiny_dataset(image_shape=IMAGES) if name == "cnn" else None
    checks = check_trainer(TRAINERS[name], dataset=dataset, max_epochs=2)
    assert checks
    for check in checks:
        assert "val_" + TASK_METRICS[check.task] in check.default_result


def test_knn_lowers_n_neighbors_to_the_training_rows(tmp_path: Path) -> None:
    data = trial_data("knn", "classification")
    fit_and_score(TRAINERS["knn"], {"n_neighbors": 500}, data, tmp_path)


@pytest.mark.parametrize(("params", "error"), [
    ({"gamma_mode": "scale", "gamma": 0.1}, "gamma_mode 'scale' takes no gamma"),
    ({"gamma_mode": "fixed"}, "gamma_mode 'fixed' needs a gamma"),
    ({"gamma_mode": "auto"}, "gamma_mode must be 'scale' or 'fixed'"),
])
def test_svm_gamma_mode_mistakes_fail_the_trial(params: dict[str, Any], error: str,
                                                tmp_path: Path) -> None:
    with pytest.raises(TrialFailed, match=error):
        fit_and_score(TRAINERS["svm"], params, trial_data("svm", "regression"), tmp_path)


def test_svm_gamma_mode_reaches_the_estimator() -> None:
    build = sklearn_models._svm
    assert build("regression", {"gamma_mode": "scale"}, 0).get_params()["gamma"] == "scale"
    fixed = build("regression", {"gamma_mode": "fixed", "gamma": 0.5}, 0)
    assert fixed.get_params()["gamma"] == 0.5
    assert build("regression", {"gamma": 0.25}, 0).get_params()["gamma"] == 0.25  # as before


# -- TorchTrainer(space=, config=, cost=) and check_trainer -----------------------------

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}, "width": [8, 16]}
CONFIG = {"lr": 1e-3, "width": 8}


def test_a_torch_trainer_without_a_space_has_no_default_space() -> None:
    trainer = TorchTrainer("plain", build_mlp)
    assert not isinstance(trainer, HasDefaultSpace)
    assert not hasattr(trainer, "default_space") and not hasattr(trainer, "cost")


def test_a_torch_trainer_with_a_space_has_one_per_task() -> None:
    trainer = TorchTrainer("spaced", build_mlp, tasks=("classification",), space=SPACE,
                           config=lambda task: {**CONFIG, "width": 16}, cost=4)
    assert isinstance(trainer, HasDefaultSpace)
    assert trainer.default_space("classification") == SPACE
    assert trainer.default_config("classification") == {"lr": 1e-3, "width": 16}
    assert trainer.cost == 4.0
    with pytest.raises(UsageError, match="'spaced' handles classification, not regression"):
        trainer.default_config("regression")
    again = pickle.loads(pickle.dumps(TorchTrainer("p", build_mlp, space=SPACE, config=CONFIG)))
    assert again.default_space("regression") == SPACE and again.cost == 1.0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"space": SPACE}, TypeError, "space= and config= go together"),
    ({"config": CONFIG}, TypeError, "space= and config= go together"),
    ({"cost": 2.0}, TypeError, "cost= means nothing without space="),
    ({"space": SPACE, "config": CONFIG, "cost": 0}, ValueError, "positive number"),
    ({"space": SPACE, "config": CONFIG, "cost": math.nan}, ValueError, "positive number"),
])
def test_bad_default_space_arguments_are_refused(kwargs: dict[str, Any],
                                                 error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        TorchTrainer("bad", build_mlp, **kwargs)


def test_a_space_function_that_returns_no_mapping_is_a_usage_error() -> None:
    trainer = TorchTrainer("bad", build_mlp, space=lambda task: None, config=CONFIG)  # type: ignore[arg-type, return-value]
    with pytest.raises(UsageError, match=r"default_space\('regression'\) gave a NoneType"):
        trainer.default_space("regression")


@pytest.mark.parametrize(("space", "config", "match"), [
    ({"lr": {"type": "float", "low": 1e-4}}, CONFIG,
     r"default_space\('regression'\) is not a valid params section: "
     r"params.bad.lr.high: missing key 'high'"),
    (SPACE, {"lr": 5.0}, r"default_config\('regression'\) is not inside default_space"),
    (SPACE, {"lr": 1e-3, "depth": 2}, r"default_config\('regression'\) is not inside"),
    ({**SPACE, "activation": ["relu", "nope"]}, {"activation": "nope"},
     r"\(regression\) with default_config: fit\(\) raised TrialFailed: unknown activation"),
])
def test_check_trainer_holds_a_default_space_to_its_promise(space: dict[str, Any],
                                                            config: dict[str, Any],
                                                            match: str) -> None:
    trainer = TorchTrainer("bad", build_mlp, tasks=("regression",), standardize=True,
                           space=space, config=config)
    with pytest.raises(ContractError, match=match):
        check_trainer(trainer, max_epochs=2)


class HalfSpaced:
    """A trainer that forgot ``cost``: ``isinstance(t, HasDefaultSpace)`` says no."""

    name = "half"
    tasks = ("regression",)
    description = "half a default space"

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        raise AssertionError("never trained")

    def evaluate(self, *args: Any) -> dict[str, float]:
        raise AssertionError("never evaluated")

    def default_space(self, task: str) -> dict[str, Any]:
        return {}

    def default_config(self, task: str) -> dict[str, Any]:
        return {}


def test_check_trainer_refuses_half_a_default_space() -> None:
    assert not isinstance(HalfSpaced(), HasDefaultSpace)
    with pytest.raises(ContractError, match="has default_space, default_config but no cost"):
        check_trainer(HalfSpaced())  # type: ignore[arg-type]
