"""The param tree: every YAML form, every validation error (path, line, message), the order."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from automl.errors import SpecError
from automl.spec import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    RepeatBlock,
    Space,
    load_spec,
    parse_space,
    parse_yaml,
)

HEAD = "trainer: cnn\ndataset: digits\nparams:\n"  # the first param is on line 4


def space_of(text: str) -> Space:
    data, _ = parse_yaml(textwrap.dedent(text))
    return parse_space(data)


def test_every_form() -> None:
    space = space_of(
        """
        lr: {type: float, low: 1.0e-4, high: 1e-1, log: true}
        wd: {type: float, low: 0, high: 1}
        units: {type: int, low: 16, high: 256, step: 16}
        depth: {type: int, low: 1, high: 64, log: true}
        batch: {type: categorical, choices: [32, 64]}
        opt: [adam, sgd]
        inferred: {choices: [a, b]}
        act: relu
        none: null
        flag: false
        mom: {type: float, low: 0.0, high: 0.99, when: {opt: sgd}}
        head: {value: [1, 2], when: {opt: [adam, sgd], batch: 32}}
        conv: {repeat: units_n, params: {ch: [8, 16]}, when: {opt: adam}}
        units_n: {type: int, low: 1, high: 3}
        fixed_layers: {repeat: 2, params: {k: {type: int, low: 3, high: 5, step: 2}}}
        """
    )
    assert space["lr"] == FloatParam("lr", 1e-4, 0.1, log=True)
    assert space["wd"] == FloatParam("wd", 0.0, 1.0)
    assert isinstance(space["wd"].low, float)  # ints written for a float range
    assert space["units"] == IntParam("units", 16, 256, step=16)
    assert space["depth"] == IntParam("depth", 1, 64, log=True)
    assert space["batch"] == CategoricalParam("batch", (32, 64))
    assert space["opt"] == CategoricalParam("opt", ("adam", "sgd"))
    assert space["inferred"] == CategoricalParam("inferred", ("a", "b"))
    assert space["act"] == FixedParam("act", "relu")
    assert space["none"] == FixedParam("none", None)
    assert space["flag"] == FixedParam("flag", False)
    assert space["mom"].when == Condition((("opt", ("sgd",)),))
    assert space["head"] == FixedParam(
        "head", [1, 2], Condition((("opt", ("adam", "sgd")), ("batch", (32,))))
    )
    conv = space["conv"]
    assert isinstance(conv, RepeatBlock) and conv.repeat == "units_n"
    assert conv.params == Space({"ch": CategoricalParam("ch", (8, 16))})
    assert space["fixed_layers"].repeat == 2
    assert list(space) == list(space.to_data())  # the YAML order is kept


def test_to_data_round_trips() -> None:
    text = """
        a: {type: float, low: 0, high: 1, step: 0.25, when: {b: [x, y]}}
        b: [x, y, z]
        n: {type: int, low: 0, high: 4, step: 2}
        fixed: {value: {k: 1}}
        cond_fixed: {value: 3, when: {b: z}}
        blk: {repeat: n, params: {u: [1, 2], v: {type: int, low: 1, high: 9, when: {u: 2}}}}
        """
    space = space_of(text)
    assert parse_space(space.to_data()) == space
    assert parse_space(space.to_data()).order == space.order


def test_sampling_order_puts_dependencies_first_and_keeps_yaml_order_otherwise() -> None:
    space = space_of(
        """
        mom: {type: float, low: 0, high: 1, when: {opt: sgd}}
        lr: {type: float, low: 0.1, high: 1}
        blk: {repeat: n, params: {e: {type: int, low: 1, high: 2, when: {k: r}}, k: [r, p]}}
        opt: [adam, sgd]
        n: {type: int, low: 1, high: 2, when: {deep: true}}
        deep: [true, false]
        """
    )
    assert space.order == ("lr", "opt", "mom", "deep", "n", "blk")
    assert space["blk"].params.order == ("k", "e")
    assert list(space) == ["mom", "lr", "blk", "opt", "n", "deep"]


def test_when_inside_a_block_prefers_the_blocks_own_param() -> None:
    space = space_of(
        """
        kind: [a, b]
        blk:
          repeat: 2
          params:
            kind: [x, y]
            size: {type: int, low: 1, high: 2, when: {kind: x}}
        """
    )
    assert space["blk"].params["size"].when == Condition((("kind", ("x",)),))


def test_condition_semantics() -> None:
    cond = Condition.of({"opt": ["sgd", "rmsprop"], "flag": True})
    assert cond.holds({"opt": "sgd", "flag": True})
    assert not cond.holds({"opt": "adam", "flag": True})
    assert not cond.holds({"opt": "sgd"})  # an absent param makes the condition false
    assert not cond.holds({"opt": "sgd", "flag": 1})  # true is not 1 here
    assert str(cond) == "opt in [sgd, rmsprop] and flag = true"


def test_int_range_may_be_a_single_value() -> None:
    assert space_of("n: {type: int, low: 3, high: 3}")["n"] == IntParam("n", 3, 3)


def test_int_log_with_step_one_is_what_optuna_allows() -> None:
    assert space_of("n: {type: int, low: 1, high: 8, log: true, step: 1}")["n"].log


def test_empty_params_section_is_an_empty_space(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("trainer: t\ndataset: d\nparams:\n")
    assert len(load_spec(path).params) == 0


# (case id, the lines under `params:` (first one is line 4), error path, line, phrase)
ERRORS = [
    ("float-low>high", "lr: {type: float, low: 0.1, high: 0.01}", "params.lr.low", 4,
     "low must be less than high for 'lr' (got low=0.1, high=0.01)"),
    ("float-low=high", "lr: {type: float, low: 1, high: 1}", "params.lr.low", 4,
     "low must be less than high"),
    ("int-low>high", "n: {type: int, low: 5, high: 3}", "params.n.low", 4,
     "low must be less than or equal to high for 'n'"),
    ("log-needs-positive-low", "lr: {type: float, low: 0, high: 1, log: true}",
     "params.lr.low", 4, "log: true needs low > 0"),
    ("log-and-step", "lr: {type: float, low: 0.1, high: 1, log: true, step: 0.1}",
     "params.lr.step", 4, "step cannot be combined with log"),
    ("int-log-and-step", "n: {type: int, low: 1, high: 9, log: true, step: 2}",
     "params.n.step", 4, "step cannot be combined with log"),
    ("step-zero", "d: {type: float, low: 0, high: 1, step: 0}", "params.d.step", 4,
     "step must be > 0, got 0.0"),
    ("int-step-negative", "n: {type: int, low: 0, high: 9, step: -1}", "params.n.step", 4,
     "step must be > 0"),
    ("int-grid", "n: {type: int, low: 0, high: 10, step: 3}", "params.n.step", 4,
     "high - low = 10 is not a multiple of step = 3; Optuna would silently lower high to 9"),
    ("float-grid", "d: {type: float, low: 0, high: 0.5, step: 0.3}", "params.d.step", 4,
     "not a multiple of step"),
    ("int-not-integer", "n: {type: int, low: 1.5, high: 3}", "params.n.low", 4,
     "expected an integer, got 1.5"),
    ("low-not-number", "lr: {type: float, low: small, high: 1}", "params.lr.low", 4,
     "expected a number, got 'small'"),
    ("bool-is-not-a-number", "lr: {type: float, low: true, high: 1}", "params.lr.low", 4,
     "expected a number, got true"),
    ("infinite", "lr: {type: float, low: 0, high: .inf}", "params.lr.high", 4,
     "expected a finite number"),
    ("missing-high", "lr:\n    type: float\n    low: 0.1", "params.lr.high", 4,
     "missing key 'high'"),
    ("log-not-bool", "lr: {type: float, low: 0.1, high: 1, log: 1}", "params.lr.log", 4,
     "expected true or false, got 1"),
    ("unknown-key", "lr:\n    type: float\n    lw: 0.1\n    high: 1", "params.lr.lw", 6,
     "unknown key 'lw' for a float param (did you mean 'low'?); valid keys: type, low, high"),
    ("unknown-key-categorical", "b: {type: categorical, choice: [1, 2]}", "params.b.choice",
     4, "did you mean 'choices'?"),
    ("key-of-another-type", "b: {type: categorical, choices: [1], low: 0}", "params.b.low",
     4, "unknown key 'low' for a categorical param; valid keys: type, choices, when"),
    ("unknown-key-no-type", "b: {lwo: 1, high: 2}", "params.b.lwo", 4,
     "did you mean 'low'?"),
    ("unknown-type", "lr: {type: flaot, low: 0, high: 1}", "params.lr.type", 4,
     "unknown type 'flaot' (did you mean 'float'?); expected one of float, int, categorical"),
    ("missing-type", "lr: {low: 0, high: 1}", "params.lr", 4, "missing key 'type'"),
    ("empty-mapping", "lr: {}", "params.lr", 4, "an empty mapping is not a param"),
    ("empty-choices", "opt: []", "params.opt", 4, "choices must not be empty"),
    ("empty-typed-choices", "opt: {type: categorical, choices: []}", "params.opt.choices", 4,
     "choices must not be empty"),
    ("no-choices", "opt: {type: categorical}", "params.opt.choices", 4,
     "expected a list of choices, got null"),
    ("nested-choice", "opt:\n    - [1, 2]\n    - 3", "params.opt.0", 5,
     "a choice must be null, a boolean, a number or a string, got a list"),
    ("duplicate-choice", "opt: [adam, sgd, adam]", "params.opt.2", 4,
     "duplicate choice: 'adam' (item 2) and 'adam' (item 0)"),
    ("true-and-1", "flag: [1, true]", "params.flag.1", 4, "Optuna treats as equal"),
    ("nan-choice", "x: [1, .nan]", "params.x.1", 4, "NaN cannot be a choice"),
    ("name-with-dot", "a.b: 1", "params.a.b", 4, "invalid param name 'a.b'"),
    ("name-starting-with-digit", "1st: 1", "params.1st", 4, "invalid param name '1st'"),
    ("name-with-dash", "learning-rate: 1", "params.learning-rate", 4, "letters, digits and _"),
    ("when-unknown-param",
     "opt: [adam, sgd]\n  m: {type: float, low: 0, high: 1, when: {otp: sgd}}",
     "params.m.when.otp", 5, "unknown param 'otp' (did you mean 'opt'?); when can name: opt"),
    ("when-value-not-a-choice",
     "opt: [adam, sgd]\n  m: {type: float, low: 0, high: 1, when: {opt: sgdd}}",
     "params.m.when.opt", 5,
     "'sgdd' is not a choice of 'opt' (did you mean 'sgd'?); choices: 'adam', 'sgd'"),
    ("when-value-in-list-not-a-choice",
     "opt: [adam, sgd]\n  m: {type: float, low: 0, high: 1, when: {opt: [sgd, rms]}}",
     "params.m.when.opt", 5, "'rms' is not a choice of 'opt'"),
    ("when-int-out-of-range",
     "n: {type: int, low: 1, high: 3}\n  m: {value: 1, when: {n: 4}}",
     "params.m.when.n", 5, "'n' ranges over [1, 3]; it is never 4"),
    ("when-int-off-grid",
     "n: {type: int, low: 0, high: 8, step: 4}\n  m: {value: 1, when: {n: 3}}",
     "params.m.when.n", 5, "in steps of 4"),
    ("when-fixed-never",
     "act: relu\n  m: {value: 1, when: {act: gelu}}",
     "params.m.when.act", 5, "'act' is fixed to 'relu', so it is never 'gelu'"),
    ("when-not-a-mapping", "m: {value: 1, when: sgd}", "params.m.when", 4,
     "expected a mapping {param: value or [values]}"),
    ("when-itself", "opt: {type: categorical, choices: [a, b], when: {opt: a}}",
     "params.opt.when.opt", 4, "cannot be conditioned on itself"),
    ("when-cycle",
     "a: {type: categorical, choices: [1, 2], when: {c: 1}}\n"
     "  b: {type: categorical, choices: [1, 2], when: {a: 1}}\n"
     "  c: {type: categorical, choices: [1, 2], when: {b: 1}}",
     "params.a.when", 4, "the conditions form a cycle: a -> c -> b -> a"),
    ("when-names-a-block",
     "blk: {repeat: 2, params: {u: [1, 2]}}\n  m: {value: 1, when: {blk: 1}}",
     "params.m.when.blk", 5, "'blk' is a repeat block"),
    ("when-names-a-block-param-from-outside",
     "blk: {repeat: 2, params: {u: [1, 2]}}\n  m: {value: 1, when: {u: 1}}",
     "params.m.when.u", 5, "unknown param 'u'"),
    ("when-in-block-unknown",
     "top: [a, b]\n  blk:\n    repeat: 2\n    params:\n      kind: [x, y]\n"
     "      e: {type: int, low: 1, high: 2, when: {knd: x}}",
     "params.blk.params.e.when.knd", 9,
     "unknown param 'knd' (did you mean 'kind'?); when can name: top, kind"),
    ("block-inner-low>high",
     "blk:\n    repeat: 2\n    params:\n      ch:\n        type: int\n        low: 64\n"
     "        high: 8",
     "params.blk.params.ch.low", 9, "low must be less than or equal to high for 'ch'"),
    ("repeat-unknown",
     "n_conv: {type: int, low: 1, high: 3}\n  conv: {repeat: n_cnv, params: {c: [1]}}",
     "params.conv.repeat", 5, "unknown param 'n_cnv' (did you mean 'n_conv'?)"),
    ("repeat-categorical-strings", "opt: [adam, sgd]\n  conv: {repeat: opt, params: {c: [1]}}",
     "params.conv.repeat", 5, "the layer count 'opt' must be a param of non-negative integers"),
    ("repeat-float", "f: {type: float, low: 1, high: 3}\n  conv: {repeat: f, params: {c: [1]}}",
     "params.conv.repeat", 5, "but it is a float param"),
    ("repeat-negative-int",
     "n: {type: int, low: -1, high: 3}\n  conv: {repeat: n, params: {c: [1]}}",
     "params.conv.repeat", 5, "non-negative integers"),
    ("repeat-fixed-string", "n: two\n  conv: {repeat: n, params: {c: [1]}}",
     "params.conv.repeat", 5, "but it is a fixed value"),
    ("repeat-count-inside-block", "conv: {repeat: n, params: {n: [1, 2]}}",
     "params.conv.repeat", 4, "'n' is inside the block; the layer count must be a top-level"),
    ("repeat-names-a-block",
     "a: {repeat: 2, params: {c: [1]}}\n  b: {repeat: a, params: {c: [1]}}",
     "params.b.repeat", 5, "but it is a repeat block"),
    ("repeat-negative-literal", "conv: {repeat: -2, params: {c: [1]}}", "params.conv.repeat", 4,
     "the layer count must be >= 0"),
    ("repeat-bool", "conv: {repeat: true, params: {c: [1]}}", "params.conv.repeat", 4,
     "expected a param name or a layer count"),
    ("repeat-without-params", "conv: {repeat: 2}", "params.conv.params", 4,
     "a repeat block needs 'params'"),
    ("repeat-empty-params", "conv: {repeat: 2, params: {}}", "params.conv.params", 4,
     "a repeat block needs a mapping of params"),
    ("repeat-nested",
     "conv: {repeat: 2, params: {inner: {repeat: 2, params: {c: [1]}}}}",
     "params.conv.params.inner", 4, "repeat blocks cannot be nested"),
    ("repeat-unknown-key", "conv: {repeat: 2, params: {c: [1]}, low: 1}", "params.conv.low", 4,
     "unknown key 'low' for a repeat block; valid keys: repeat, params, when"),
    ("fixed-unknown-key", "x: {value: 1, whn: {a: 1}}", "params.x.whn", 4,
     "did you mean 'when'?"),
    ("params-not-a-mapping", "- a\n  - b", "params", 3, "expected a mapping of param name"),
]


@pytest.mark.parametrize(
    ("body", "path", "line", "phrase"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_param_errors(tmp_path: Path, body: str, path: str, line: int, phrase: str) -> None:
    file = tmp_path / "spec.yaml"
    file.write_text(HEAD + "  " + body + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(file)
    err = info.value
    assert (err.path, err.line, err.file) == (path, line, str(file)), str(err)
    assert phrase in err.detail, str(err)


def test_space_needs_a_valid_order() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        Space({"a": FixedParam("a", 1)}, order=("a", "b"))
