"""The walker: sampled configs stay inside the space; flat names; enqueue round trips."""

from __future__ import annotations

import math
import textwrap
from collections import ChainMap
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from automl.engine.space import (
    check_config,
    describe,
    flatten,
    suggest,
    to_optuna_params,
    unflatten,
)
from automl.errors import SpecError
from automl.spec import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    RepeatBlock,
    Space,
    parse_space,
    parse_yaml,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

DESIGN_PARAMS = """
lr:           {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
batch_size:   {type: categorical, choices: [32, 64, 128]}
optimizer:    [adam, sgd]
momentum:     {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}
n_conv:       {type: int, low: 1, high: 3}
conv:
  repeat: n_conv
  params:
    channels: {type: int, low: 8, high: 64, log: true}
    kernel:   [3, 5]
dropout:      {type: float, low: 0.0, high: 0.5, step: 0.05}
activation:   relu
"""

# Per-layer conditions, a top-level condition inside a block, a conditional layer count,
# a dependency written after what depends on it, a fixed layer count.
RICH_PARAMS = """
scale_all: [true, false]
deep: [true, false]
blocks:
  repeat: n_blocks
  params:
    expansion: {type: int, low: 2, high: 6, step: 2, when: {kind: residual}}
    kind: [plain, residual]
    act: {value: gelu, when: {kind: plain}}
    scale: {type: float, low: 0.1, high: 1.0, when: {scale_all: true}}
    width: {type: int, low: 1, high: 1000, log: true}
n_blocks: {type: int, low: 0, high: 3, when: {deep: true}}
heads: {repeat: 2, params: {units: [16, 32], bias: {type: float, low: -1, high: 1}}}
wd: {type: float, low: 1.0e-6, high: 1.0e-2, log: true, when: {deep: false}}
"""


def space_of(text: str) -> Space:
    data, _ = parse_yaml(textwrap.dedent(text))
    return parse_space(data)


def assert_in_space(config: Mapping[str, Any], space: Space, outer: Mapping[str, Any] = {}) -> None:  # noqa: B006
    """An independent check of one sampled config against the space it came from."""
    values = ChainMap(dict(config), dict(outer))
    assert set(config) <= set(space)
    for name, param in space.items():
        active = param.when is None or param.when.holds(values)
        if isinstance(param, RepeatBlock) and isinstance(param.repeat, str):
            active = active and param.repeat in values
        assert (name in config) == active, (name, config)
        if not active:
            continue
        value = config[name]
        if isinstance(param, FloatParam):
            assert type(value) is float and param.low <= value <= param.high
            if param.step is not None:
                k = (value - param.low) / param.step
                assert math.isclose(k, round(k), abs_tol=1e-6)
        elif isinstance(param, IntParam):
            assert type(value) is int and param.low <= value <= param.high
            assert (value - param.low) % param.step == 0
        elif isinstance(param, CategoricalParam):
            assert any(type(value) is type(c) and value == c for c in param.choices)
        elif isinstance(param, FixedParam):
            assert value == param.value
        else:
            count = param.repeat if isinstance(param.repeat, int) else values[param.repeat]
            assert isinstance(value, list) and len(value) == count
            for layer in value:
                assert_in_space(layer, param.params, values)


def param_at(space: Space, flat_name: str) -> Param:
    parts = flat_name.split(".")
    param = space[parts[0]]
    if len(parts) == 3:
        assert isinstance(param, RepeatBlock)
        param = param.params[parts[2]]
    return param


def assert_distributions(trial: optuna.trial.Trial, space: Space) -> None:
    """What Optuna was asked for matches the spec: bounds, log, step, choices."""
    for name, dist in trial.distributions.items():
        param = param_at(space, name)
        if isinstance(param, FloatParam):
            assert isinstance(dist, FloatDistribution)
            assert (dist.low, dist.high, dist.log, dist.step) == (
                param.low, param.high, param.log, param.step,
            )
        elif isinstance(param, IntParam):
            assert isinstance(dist, IntDistribution)
            assert (dist.low, dist.high, dist.log, dist.step) == (
                param.low, param.high, param.log, param.step,
            )
        else:
            assert isinstance(dist, CategoricalDistribution) and isinstance(param, CategoricalParam)
            assert tuple(dist.choices) == param.choices


def sample(space: Space, n: int, seed: int = 0) -> list[tuple[optuna.trial.Trial, dict]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append((trial, suggest(trial, space)))
        study.tell(trial, 0.0)
    return out


@pytest.mark.parametrize("text", [DESIGN_PARAMS, RICH_PARAMS], ids=["design", "rich"])
def test_every_sampled_config_is_inside_the_space(text: str) -> None:
    space = space_of(text)
    for trial, config in sample(space, 300):
        assert_in_space(config, space)
        assert_distributions(trial, space)
        check_config(space, config)
        # Optuna sees exactly the sampled (non-fixed) values, under flat names.
        sampled = (FloatParam, IntParam, CategoricalParam)
        flat = flatten(config)
        expected = {k: v for k, v in flat.items() if isinstance(param_at(space, k), sampled)}
        assert trial.params == expected


def test_design_configs_look_like_the_design_says() -> None:
    space = space_of(DESIGN_PARAMS)
    configs = [config for _, config in sample(space, 200, seed=1)]
    for config in configs:
        assert list(config)[:3] == ["lr", "batch_size", "optimizer"]  # the YAML order
        assert ("momentum" in config) == (config["optimizer"] == "sgd")
        assert len(config["conv"]) == config["n_conv"]
        assert config["activation"] == "relu"
        assert 1e-4 <= config["lr"] <= 0.1
    # Every branch was visited: both optimizers, every layer count, log-uniform lr.
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"}
    assert {c["n_conv"] for c in configs} == {1, 2, 3}
    assert any(c["lr"] < 1e-3 for c in configs)


def test_per_layer_conditions_are_resolved_per_layer() -> None:
    space = space_of(RICH_PARAMS)
    seen_mixed = False
    for _, config in sample(space, 300, seed=2):
        assert ("n_blocks" in config) == config["deep"]
        assert ("blocks" in config) == config["deep"]  # no layer count, no block
        assert ("wd" in config) != config["deep"]
        for layer in config.get("blocks", []):
            assert ("expansion" in layer) == (layer["kind"] == "residual")
            assert ("act" in layer) == (layer["kind"] == "plain")
            assert ("scale" in layer) == config["scale_all"]
        kinds = {layer["kind"] for layer in config.get("blocks", [])}
        seen_mixed = seen_mixed or kinds == {"plain", "residual"}
        assert len(config["heads"]) == 2
    assert seen_mixed  # layers of one config took different shapes


def test_zero_layers_is_an_empty_list() -> None:
    space = space_of("n: {type: int, low: 0, high: 0}\nconv: {repeat: n, params: {c: [1, 2]}}")
    (_, config), = sample(space, 1)
    assert config == {"n": 0, "conv": []}


def test_fixed_values_are_copies() -> None:
    space = space_of("sizes: {value: [1, 2]}")
    (_, first), (_, second) = sample(space, 2)
    first["sizes"].append(3)
    assert second["sizes"] == [1, 2] and space["sizes"].value == [1, 2]


def test_dependency_order_with_a_fixed_trial() -> None:
    space = space_of("m: {type: float, low: 0, high: 1, when: {opt: sgd}}\nopt: [adam, sgd]")
    trial = optuna.trial.FixedTrial({"opt": "sgd", "m": 0.5})
    assert suggest(trial, space) == {"m": 0.5, "opt": "sgd"}
    assert suggest(optuna.trial.FixedTrial({"opt": "adam"}), space) == {"opt": "adam"}


# -- flat names --------------------------------------------------------------------------


def test_flatten_and_unflatten() -> None:
    nested = {
        "lr": 0.1,
        "conv": [{"channels": 8, "kernel": 3}, {"channels": 16}],
        "sizes": [1, 2],
        "none": [],
        "empty_layer": [{}],
        "mapping": {"a": {"b": 1}},
    }
    flat = flatten(nested)
    assert flat == {
        "lr": 0.1,
        "conv.0.channels": 8,
        "conv.0.kernel": 3,
        "conv.1.channels": 16,
        "sizes": [1, 2],
        "none": [],
        "empty_layer.0": {},
        "mapping.a.b": 1,
    }
    assert unflatten(flat) == nested


@pytest.mark.parametrize(
    ("flat", "phrase"),
    [
        ({"a": 1, "a.b": 2}, "has a value of its own"),
        ({"a.b": 2, "a": 1}, "conflicts"),
        ({"conv.0.c": 1, "conv.2.c": 1}, "not 0..n-1"),
    ],
)
def test_unflatten_refuses_inconsistent_names(flat: dict[str, Any], phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        unflatten(flat)


_keys = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=4),
    st.just([]), st.just({}), st.lists(st.integers(), min_size=1, max_size=3),
)
_nested = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.dictionaries(_keys, inner, min_size=1, max_size=3),
        st.lists(st.dictionaries(_keys, inner, max_size=3), min_size=1, max_size=3),
    ),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _nested, max_size=5))
def test_flatten_round_trip(nested: dict[str, Any]) -> None:
    assert unflatten(flatten(nested)) == nested


# -- checking configs and enqueueing them ------------------------------------------------


def test_enqueued_configs_come_back_as_they_were() -> None:
    space = space_of(RICH_PARAMS)
    configs = [config for _, config in sample(space, 40, seed=3)]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for config in configs:
        study.enqueue_trial(to_optuna_params(space, config))
    for config in configs:
        trial = study.ask()
        assert suggest(trial, space) == config
        study.tell(trial, 0.0)


def test_a_partial_enqueued_config_is_completed_by_the_sampler() -> None:
    space = space_of(DESIGN_PARAMS)
    partial = {"lr": 0.001, "batch_size": 64, "optimizer": "adam", "n_conv": 2}
    assert to_optuna_params(space, partial) == partial
    study = optuna.create_study()
    study.enqueue_trial(to_optuna_params(space, partial))
    config = suggest(study.ask(), space)
    assert {k: config[k] for k in partial} == partial
    assert len(config["conv"]) == 2 and "momentum" not in config


def test_to_optuna_params_leaves_fixed_values_out_and_normalizes_numbers() -> None:
    space = space_of(DESIGN_PARAMS)
    config = {"dropout": 0, "n_conv": 1.0, "conv": [{"channels": 8, "kernel": 3}],
              "activation": "relu"}
    params = to_optuna_params(space, config)
    assert params == {"dropout": 0.0, "n_conv": 1, "conv.0.channels": 8, "conv.0.kernel": 3}
    assert type(params["dropout"]) is float and type(params["n_conv"]) is int
    assert to_optuna_params(space, flatten(config)) == params  # flat names work too


@pytest.mark.parametrize(
    ("config", "path", "phrase"),
    [
        ({"lrr": 0.1}, "lrr", "unknown param 'lrr' (did you mean 'lr'?)"),
        ({"lr": 1.0}, "lr", "1.0 is outside [0.0001, 0.1]"),
        ({"lr": "fast"}, "lr", "expected a number, got 'fast'"),
        ({"dropout": 0.12}, "dropout", "not on the grid 0.0 + k * 0.05"),
        ({"n_conv": 2.5}, "n_conv", "expected an integer, got 2.5"),
        ({"n_conv": True}, "n_conv", "expected an integer, got true"),
        ({"n_conv": 4}, "n_conv", "4 is outside [1, 3]"),
        ({"optimizer": "sdg"}, "optimizer", "'sdg' is not a choice (did you mean 'sgd'?)"),
        ({"batch_size": "64"}, "batch_size", "'64' is not a choice"),
        ({"activation": "gelu"}, "activation", "this param is fixed to 'relu'"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum",
         "given, but its condition (optimizer = sgd) is false"),
        ({"n_conv": 2, "conv": [{"channels": 8}]}, "conv",
         "1 layer given, but the layer count (n_conv) is 2"),
        ({"conv": [{"channels": 100}]}, "conv.0.channels", "100 is outside [8, 64]"),
        ({"conv": [{"chanels": 8}]}, "conv.0.chanels", "did you mean 'channels'?"),
        ({"conv": {"channels": 8}}, "conv", "expected a list with one mapping per layer"),
        ({"conv": [3]}, "conv.0", "expected a mapping, got 3"),
        ({"conv.0.channels": 8, "conv.2.channels": 8}, "", "not 0..n-1"),
    ],
)
def test_check_config_errors(config: dict[str, Any], path: str, phrase: str) -> None:
    space = space_of(DESIGN_PARAMS)
    with pytest.raises(SpecError) as info:
        check_config(space, config)
    assert (info.value.path or "") == path
    assert phrase in info.value.detail, info.value.detail


@pytest.mark.parametrize(
    ("config", "path", "phrase"),
    [
        ({"deep": False, "blocks": []}, "blocks", "its layer count 'n_blocks' is absent"),
        ({"deep": True, "wd": 0.001}, "wd", "its condition (deep = false) is false"),
        ({"deep": True, "n_blocks": 1, "blocks": [{"kind": "plain", "expansion": 2}]},
         "blocks.0.expansion", "its condition (kind = residual) is false"),
        ({"scale_all": False, "n_blocks": 1, "blocks": [{"scale": 0.5}]},
         "blocks.0.scale", "its condition (scale_all = true) is false"),
    ],
)
def test_check_config_knows_what_a_partial_config_rules_out(
    config: dict[str, Any], path: str, phrase: str
) -> None:
    with pytest.raises(SpecError) as info:
        check_config(space_of(RICH_PARAMS), config)
    assert info.value.path == path
    assert phrase in info.value.detail, info.value.detail


def test_absence_propagates_through_conditions() -> None:
    space = space_of(
        "a: [x, y]\nb: {type: categorical, choices: [u, v], when: {a: x}}\n"
        "c: {value: 1, when: {b: u}}"
    )
    with pytest.raises(SpecError, match="names a param that is absent") as info:
        check_config(space, {"a": "y", "c": 1})
    assert info.value.path == "c"
    check_config(space, {"c": 1})  # nothing known about a or b: fine


def test_check_config_reports_through_the_given_error_factory() -> None:
    space = space_of(DESIGN_PARAMS)
    calls = []

    def error(path: tuple, message: str) -> SpecError:
        calls.append(path)
        return SpecError(message, file="f.yaml", path="x", line=7)

    with pytest.raises(SpecError, match="f.yaml:7"):
        check_config(space, {"conv": [{"channels": 1}]}, path=("enqueue", 0), error=error)
    assert calls == [("enqueue", 0, "conv", 0, "channels")]


def test_describe() -> None:
    rows = {row["name"]: row for row in describe(space_of(DESIGN_PARAMS))}
    assert list(rows) == [
        "lr", "batch_size", "optimizer", "momentum", "n_conv", "conv", "conv.*.channels",
        "conv.*.kernel", "dropout", "activation",
    ]
    assert rows["lr"] == {"name": "lr", "kind": "float", "domain": "0.0001 .. 0.1", "log": True,
                          "step": None, "condition": ""}
    assert rows["momentum"]["condition"] == "optimizer = sgd"
    assert rows["conv"]["kind"] == "repeat" and rows["conv"]["domain"] == "n_conv layers"
    assert rows["conv.*.kernel"]["domain"] == "3, 5"
    assert rows["dropout"]["step"] == 0.05
    assert rows["activation"] == {"name": "activation", "kind": "fixed", "domain": "relu",
                                  "log": None, "step": None, "condition": ""}


# -- property test over generated spaces -------------------------------------------------

_choice = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", "relu", "x1"]),
    st.sampled_from([0.5, 2.5, -1.25]),
)


@st.composite
def _raw_param(draw: st.DrawFn, cats: dict[str, list[Any]]) -> Any:
    kind = draw(st.sampled_from(["float", "float_log", "float_step", "int", "int_log", "cat",
                                 "list", "fixed"]))
    raw: Any
    if kind == "float":
        low = draw(st.floats(-100, 100))
        raw = {"type": "float", "low": low, "high": low + draw(st.floats(0.001, 100))}
    elif kind == "float_log":
        low = draw(st.floats(1e-6, 10))
        raw = {"type": "float", "low": low, "high": low * draw(st.floats(1.01, 1e4)), "log": True}
    elif kind == "float_step":
        step = draw(st.sampled_from([Decimal(s) for s in ("0.1", "0.25", "1", "2.5")]))
        low = Decimal(draw(st.integers(-20, 20))) / 4
        high = low + step * draw(st.integers(1, 20))
        raw = {"type": "float", "low": float(low), "high": float(high), "step": float(step)}
    elif kind in ("int", "int_log"):
        if kind == "int_log":
            low = draw(st.integers(1, 10))
            raw = {"type": "int", "low": low, "high": low + draw(st.integers(0, 500)), "log": True}
        else:
            low, step = draw(st.integers(-10, 10)), draw(st.integers(1, 3))
            raw = {"type": "int", "low": low, "high": low + step * draw(st.integers(0, 10)),
                   "step": step}
    elif kind in ("cat", "list"):
        choices = draw(st.lists(_choice, min_size=1, max_size=4, unique_by=lambda c: (
            "num" if isinstance(c, (bool, int, float)) else type(c).__name__,
            float(c) if isinstance(c, (bool, int, float)) else c,
        )))
        raw = choices if kind == "list" else {"type": "categorical", "choices": choices}
    else:
        raw = draw(st.one_of(_choice, st.just({"value": [1, {"k": "v"}]})))
    if cats and draw(st.booleans()):
        target = draw(st.sampled_from(sorted(cats)))
        allowed = draw(st.lists(st.sampled_from(cats[target]), min_size=1, max_size=2))
        when = {target: allowed if len(allowed) > 1 else allowed[0]}
        if not isinstance(raw, dict):
            raw = {"type": "categorical", "choices": raw} if kind == "list" else {"value": raw}
        raw = {**raw, "when": when}
    return raw


def _choices_of(raw: Any) -> list[Any] | None:
    if isinstance(raw, list):
        return raw
    if isinstance(raw, dict) and raw.get("type") == "categorical":
        return raw["choices"]
    return None


@st.composite
def raw_spaces(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.from_regex(r"p[a-z0-9_]{0,4}", fullmatch=True), min_size=1,
                          max_size=6, unique=True))
    top: dict[str, Any] = {}
    cats: dict[str, list[Any]] = {}
    for name in names:
        top[name] = draw(_raw_param(cats))
        choices = _choices_of(top[name])
        if choices is not None:
            cats[name] = choices
    if draw(st.booleans()):
        count = draw(st.one_of(st.integers(0, 3), st.just("n_layers")))
        if count == "n_layers":
            top["n_layers"] = {"type": "int", "low": 0, "high": 3}
        inner: dict[str, Any] = {}
        inner_names = draw(st.lists(st.from_regex(r"[pq][a-z0-9]{0,3}", fullmatch=True),
                                    min_size=1, max_size=4, unique=True))
        # Block params see their own block first: one of them hides a top-level namesake.
        scope = {k: v for k, v in cats.items() if k not in inner_names}
        for name in inner_names:
            inner[name] = draw(_raw_param(scope))
            choices = _choices_of(inner[name])
            if choices is not None:
                scope[name] = choices
        top["layers"] = {"repeat": count, "params": inner}
    return top


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_spaces(), st.integers(0, 2**16))
def test_generated_spaces(raw: dict[str, Any], seed: int) -> None:
    space = parse_space(raw)
    assert parse_space(space.to_data()) == space
    for trial, config in sample(space, 8, seed=seed):
        assert_in_space(config, space)
        assert_distributions(trial, space)
        check_config(space, config)
        assert unflatten(flatten(config)) == config
    study = optuna.create_study()
    study.enqueue_trial(to_optuna_params(space, config))
    assert suggest(study.ask(), space) == config
