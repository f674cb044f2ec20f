"""The typed spec: DESIGN's example, defaults, one clear SpecError per mistake, overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from automl.errors import SpecError
from automl.spec import (
    CategoricalParam,
    EarlyStoppingSpec,
    FixedParam,
    FloatParam,
    IntParam,
    ObjectiveSpec,
    RepeatBlock,
    Spec,
    did_you_mean,
    load_spec,
    parse_duration,
    parse_set_options,
)

# The example of DESIGN.md, section "Search-space file (YAML)", verbatim.
DESIGN_EXAMPLE = """\
study: digits-cnn              # default: the file's stem; letters, digits, - _ . only
trainer: cnn                   # a trainer plugin's name (`automl plugins list`)
dataset: {name: digits}        # a dataset plugin and its arguments, e.g.
                               # {name: csv, path: data/train.csv, target: label}
split: {val: 0.2, test: 0.2, seed: 0, stratify: true}
objective: {metric: val_accuracy, direction: maximize}
#   several objectives: a list of {metric, direction}; the report shows the Pareto front
budget: {trials: 40, timeout: 20m, max_epochs: 30, no_improvement_trials: 20}
sampler: {name: tpe, seed: 0}  # tpe, random, cmaes, gp, nsga2, grid, qmc, or a plugin's
pruner: {name: hyperband}      # median, percentile, successive_halving, hyperband, none
early_stopping:                # per trial, on validation data, against overfitting
  monitor: val_loss
  mode: min
  patience: 5
  min_delta: 0.0
  restore_best: true
  max_gap: 0.1                 # stop as "overfitting" when val loss rises while train
                               # loss falls and their gap passes this (the exact rule
                               # is yours: document it and test it as a table)
enqueue:                       # known configs to try first (warm start)
  - {lr: 0.001, batch_size: 64, optimizer: adam, n_conv: 2}
params:
  lr:           {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
  batch_size:   {type: categorical, choices: [32, 64, 128]}
  optimizer:    [adam, sgd]                 # a plain list is categorical
  momentum:     {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}
  n_conv:       {type: int, low: 1, high: 3}
  conv:                                     # an architecture block, one per layer
    repeat: n_conv
    params:
      channels: {type: int, low: 8, high: 64, log: true}
      kernel:   [3, 5]
  dropout:      {type: float, low: 0.0, high: 0.5, step: 0.05}
  activation:   relu                        # a scalar is fixed
execution:
  workers: 1                   # trial processes on this machine
  device: auto                 # GPUs if any, else CPU
  trials_per_device: 1         # pack several small trials onto one GPU
  trial_timeout: 10m
  storage: null                # default: an SQLite file in the report folder
report: {dir: reports/digits-cnn, top_k: 10}
"""

MINIMAL = "trainer: cnn\ndataset: digits\n"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_design_example(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, DESIGN_EXAMPLE, "cnn.yaml"))
    assert spec.study == "digits-cnn"
    assert spec.trainer == "cnn"
    assert (spec.dataset.name, spec.dataset.args) == ("digits", {})
    assert (spec.split.val, spec.split.test, spec.split.seed, spec.split.stratify) == (
        0.2,
        0.2,
        0,
        True,
    )
    assert spec.objectives == (ObjectiveSpec(metric="val_accuracy", direction="maximize"),)
    budget = spec.budget
    assert (budget.trials, budget.timeout, budget.max_epochs) == (40, 1200.0, 30)
    assert (budget.no_improvement_trials, budget.target, budget.max_failures) == (20, None, None)
    assert (spec.sampler.name, spec.sampler.seed, spec.sampler.options) == ("tpe", 0, {})
    assert (spec.pruner.name, spec.pruner.options) == ("hyperband", {})
    es = spec.early_stopping
    assert (es.enabled, es.monitor, es.mode, es.patience) == (True, "val_loss", "min", 5)
    assert (es.min_delta, es.restore_best, es.max_gap) == (0.0, True, 0.1)
    assert spec.enqueue == ({"lr": 0.001, "batch_size": 64, "optimizer": "adam", "n_conv": 2},)
    params = spec.params
    assert params["lr"] == FloatParam("lr", 1e-4, 0.1, log=True)
    assert isinstance(params["lr"].low, float)
    assert params["batch_size"] == CategoricalParam("batch_size", (32, 64, 128))
    assert params["optimizer"] == CategoricalParam("optimizer", ("adam", "sgd"))
    assert params["momentum"].when is not None and params["momentum"].when.names == ("optimizer",)
    assert params["n_conv"] == IntParam("n_conv", 1, 3)
    conv = params["conv"]
    assert isinstance(conv, RepeatBlock) and conv.repeat == "n_conv"
    assert conv.params["channels"] == IntParam("channels", 8, 64, log=True)
    assert params["dropout"] == FloatParam("dropout", 0.0, 0.5, step=0.05)
    assert params["activation"] == FixedParam("activation", "relu")
    ex = spec.execution
    assert (ex.workers, ex.device, ex.trials_per_device, ex.trial_timeout, ex.storage) == (
        1,
        "auto",
        1,
        600.0,
        None,
    )
    assert (spec.report.dir, spec.report.top_k) == ("reports/digits-cnn", 10)
    assert spec.source == tmp_path / "cnn.yaml"


def test_floats_without_a_dot_in_the_exponent(tmp_path: Path) -> None:
    text = MINIMAL + "params:\n  lr: {type: float, low: 1e-4, high: 1e-1, log: true}\n"
    lr = load_spec(write(tmp_path, text)).params["lr"]
    assert (lr.low, lr.high) == (1e-4, 0.1)


def test_defaults_and_short_forms(tmp_path: Path) -> None:
    spec = load_spec(
        write(tmp_path, MINIMAL + "early_stopping: false\npruner: none\n", "my.run-1.yaml")
    )
    assert spec.study == "my.run-1"  # the file's stem
    assert spec.dataset.name == "digits"
    assert spec.objectives == (ObjectiveSpec(metric="val_accuracy", direction="maximize"),)
    assert (spec.budget.trials, spec.budget.max_epochs, spec.budget.timeout) == (20, 30, None)
    assert (spec.sampler.name, spec.pruner.name) == ("tpe", "none")
    assert not spec.early_stopping.enabled
    assert spec.split.val == 0.2 and spec.execution.workers is None and spec.report.top_k == 10
    assert len(spec.params) == 0 and spec.enqueue == ()


def test_extra_keys_of_plugin_sections_become_their_arguments(tmp_path: Path) -> None:
    text = """\
        trainer: mlp
        dataset: {name: csv, path: data/train.csv, target: label}
        sampler: {name: tpe, seed: 3, n_startup_trials: 5, multivariate: true}
        pruner: {name: percentile, percentile: 25.0, n_warmup_steps: 5}
        objective:
          - {metric: val_accuracy, direction: maximize}
          - {metric: params, direction: minimize}
        budget: {timeout: 1h30m}
        split: {val: 0.3, test: 0}
        """
    spec = load_spec(write(tmp_path, text))
    assert spec.dataset.args == {"path": "data/train.csv", "target": "label"}
    assert spec.sampler.seed == 3
    assert spec.sampler.options == {"n_startup_trials": 5, "multivariate": True}
    assert spec.pruner.options == {"percentile": 25.0, "n_warmup_steps": 5}
    assert [o.direction for o in spec.objectives] == ["maximize", "minimize"]
    assert spec.budget.timeout == 5400.0
    assert spec.split.test == 0


def test_to_dict_is_plain_data_that_reads_back(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, DESIGN_EXAMPLE))
    data = spec.to_dict()
    assert data["objective"] == [{"metric": "val_accuracy", "direction": "maximize"}]
    assert data["params"]["optimizer"] == {"type": "categorical", "choices": ["adam", "sgd"]}
    assert data["budget"]["timeout"] == 1200.0
    assert Spec.from_data(data) == spec
    text = """\
        trainer: t
        dataset: {name: csv, path: x.csv}
        sampler: {name: tpe, n_startup_trials: 3}
        """
    other = load_spec(write(tmp_path, text))
    assert other.to_dict()["dataset"] == {"name": "csv", "path": "x.csv"}
    assert Spec.from_data(other.to_dict()) == other


def test_spec_error_points_into_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, DESIGN_EXAMPLE)
    spec = load_spec(path)
    err = spec.error("sampler.name", "unknown sampler 'tpee'" + did_you_mean("tpee", ["tpe"]))
    assert str(err) == f"{path}:9: sampler.name: unknown sampler 'tpee' (did you mean 'tpe'?)"
    assert spec.error(("params", "conv", "params", "kernel"), "x").line == 32
    assert spec.error(("params", "lr", "nope"), "x").line == 23  # falls back to the parent


def test_did_you_mean() -> None:
    assert did_you_mean("tpee", ["tpe", "random"]) == " (did you mean 'tpe'?)"
    assert did_you_mean("zzz", ["tpe", "random"]) == ""


# (case id, file text, error path, line, phrase)
ERRORS = [
    (
        "unknown-section",
        MINIMAL + "budjet: {trials: 3}\n",
        "budjet",
        3,
        "unknown key 'budjet' (did you mean 'budget'?); valid keys: study, trainer, dataset",
    ),
    (
        "unknown-key-in-section",
        MINIMAL + "budget:\n  trials: 3\n  trails: 4\n",
        "budget.trails",
        5,
        "unknown key 'trails' (did you mean 'trials'?); valid keys: trials, timeout",
    ),
    (
        "objectives-is-not-the-key",
        MINIMAL + "objectives: []\n",
        "objectives",
        3,
        "did you mean 'objective'?",
    ),
    ("trials-zero", MINIMAL + "budget: {trials: 0}\n", "budget.trials", 3, "must be >= 1, got 0"),
    (
        "trials-not-int",
        MINIMAL + "budget: {trials: many}\n",
        "budget.trials",
        3,
        "expected an integer, got 'many'",
    ),
    (
        "trials-float",
        MINIMAL + "budget: {trials: 2.5}\n",
        "budget.trials",
        3,
        "expected an integer, got 2.5",
    ),
    (
        "bad-duration",
        MINIMAL + "budget: {timeout: 20 minutes}\n",
        "budget.timeout",
        3,
        "expected a duration such as 90s, 20m, 1h30m",
    ),
    (
        "negative-duration",
        MINIMAL + "execution: {trial_timeout: -5}\n",
        "execution.trial_timeout",
        3,
        "a duration must be positive",
    ),
    (
        "direction-typo",
        MINIMAL + "objective: {metric: acc, direction: maximise}\n",
        "objective.direction",
        3,
        "expected 'maximize' or 'minimize', got 'maximise' (did you mean 'maximize'?)",
    ),
    (
        "direction-missing",
        MINIMAL + "objective:\n  - {metric: a, direction: maximize}\n  - {metric: b}\n",
        "objective.1.direction",
        5,
        "missing required key 'direction'",
    ),
    (
        "same-metric-twice",
        MINIMAL
        + "objective: [{metric: a, direction: maximize}, {metric: a, direction: minimize}]\n",
        "objective",
        3,
        "metric 'a' appears twice",
    ),
    ("no-objective", MINIMAL + "objective: []\n", "objective", 3, "at least one"),
    (
        "split-too-big",
        MINIMAL + "split: {val: 0.6, test: 0.5}\n",
        "split",
        3,
        "val + test must leave data to train on (< 1), got 0.6 + 0.5",
    ),
    ("split-val-zero", MINIMAL + "split: {val: 0}\n", "split.val", 3, "must be > 0"),
    (
        "stratify-not-bool",
        MINIMAL + "split: {stratify: maybe}\n",
        "split.stratify",
        3,
        "expected true or false, got 'maybe'",
    ),
    (
        "device",
        MINIMAL + "execution:\n  device: gpu\n",
        "execution.device",
        4,
        "expected auto, cpu, mps, cuda or cuda:0,1",
    ),
    ("workers-negative", MINIMAL + "execution: {workers: -1}\n", "execution.workers", 3,
     "must be >= 0"),
    ("top-k-zero", MINIMAL + "report: {top_k: 0}\n", "report.top_k", 3, "must be >= 1"),
    (
        "patience-zero",
        MINIMAL + "early_stopping: {patience: 0}\n",
        "early_stopping.patience",
        3,
        "must be >= 1",
    ),
    (
        "mode-typo",
        MINIMAL + "early_stopping: {mode: mn}\n",
        "early_stopping.mode",
        3,
        "expected 'min' or 'max', got 'mn' (did you mean 'min'?)",
    ),
    (
        "sampler-seed",
        MINIMAL + "sampler: {name: tpe, seed: abc}\n",
        "sampler.seed",
        3,
        "expected an integer, got 'abc'",
    ),
    (
        "section-not-a-mapping",
        MINIMAL + "budget: [1, 2]\n",
        "budget",
        3,
        "expected a mapping, got a list",
    ),
    (
        "study-name",
        "study: my study\n" + MINIMAL,
        "study",
        1,
        "invalid study name 'my study': use letters, digits, - _ . only",
    ),
    ("trainer-list-empty", "trainer: []\ndataset: digits\n", "trainer", 1,
     "the list of trainers is empty"),
    ("trainer-list-twice", "trainer: [mlp, knn, mlp]\ndataset: digits\n", "trainer.2", 1,
     "trainer 'mlp' is listed twice"),
    ("trainer-list-not-a-name", "trainer: [mlp, {a: 1}]\ndataset: digits\n", "trainer.1", 1,
     "expected a trainer name"),
    ("trainer-list-params-unknown",
     "trainer: [mlp, knn]\ndataset: digits\nparams:\n  mpl: {lr: 0.1}\n", "params.mpl", 4,
     "'mpl' is not in the trainer list (did you mean 'mlp'?)"),
    ("trainer-list-params-flat",
     "trainer: [mlp, knn]\ndataset: digits\nparams:\n  knn: 5\n", "params.knn", 4,
     "expected a mapping of knn's params"),
    ("trainer-list-params-bad",
     "trainer: [mlp, knn]\ndataset: digits\nparams:\n  knn:\n    k: {type: it}\n",
     "params.knn.k.type", 5, "unknown type 'it'"),
    ("trainer-list-params-not-a-map",
     "trainer: [mlp, knn]\ndataset: digits\nparams: [1, 2]\n", "params", 3,
     "params maps each trainer's name to its params"),
    ("trainer-missing", "dataset: digits\n", "trainer", None, "missing required key 'trainer'"),
    ("dataset-missing", "trainer: cnn\n", "dataset", None, "missing required key 'dataset'"),
    (
        "dataset-name-missing",
        "trainer: cnn\ndataset: {path: x.csv}\n",
        "dataset.name",
        2,
        "missing required key 'name'",
    ),
    (
        "enqueue-unknown-param",
        MINIMAL + "enqueue:\n  - {lrr: 0.5}\nparams:\n  lr: {type: float, low: 0.1, high: 1}\n",
        "enqueue.0.lrr",
        4,
        "unknown param 'lrr' (did you mean 'lr'?)",
    ),
    (
        "enqueue-out-of-range",
        MINIMAL
        + "enqueue:\n  - lr: 0.5\n  - lr: 5\nparams:\n  lr: {type: float, low: 0.1, high: 1}\n",
        "enqueue.1.lr",
        5,
        "5 is outside [0.1, 1.0]",
    ),
    (
        "enqueue-condition-false",
        MINIMAL + "enqueue: [{opt: adam, mom: 0.5}]\nparams:\n  opt: [adam, sgd]\n"
        "  mom: {type: float, low: 0, high: 1, when: {opt: sgd}}\n",
        "enqueue.0.mom",
        3,
        "given, but its condition (opt = sgd) is false",
    ),
    (
        "enqueue-not-a-mapping",
        MINIMAL + "enqueue: [3]\n",
        "enqueue.0",
        3,
        "expected a mapping, got 3",
    ),
    (
        "objective-string",
        MINIMAL + "objective: val_loss\n",
        "objective",
        3,
        "expected {metric: NAME, direction: maximize|minimize} or a list of them, got 'val_loss'",
    ),
    ("key-not-a-string", MINIMAL + "1: 2\n", "1", 3, "keys must be strings, got 1"),
    (
        "enqueue-not-a-list",
        MINIMAL + "enqueue: {lr: 1}\n",
        "enqueue",
        3,
        "expected a list, got a mapping",
    ),
    (
        "enqueue-block-without-its-count",
        MINIMAL
        + "enqueue:\n  - deep: false\n    conv: []\nparams:\n  deep: [true, false]\n"
        + "  n: {type: int, low: 0, high: 2, when: {deep: true}}\n"
        + "  conv: {repeat: n, params: {c: [1]}}\n",
        "enqueue.0.conv",
        5,
        "given, but its layer count 'n' is absent",
    ),
    (
        "unknown-key-before-missing",
        "trainer: cnn\ndatset: digits\n",
        "datset",
        2,
        "unknown key 'datset' (did you mean 'dataset'?); valid keys: study, trainer, dataset",
    ),
    (
        "problems-in-file-order",
        MINIMAL + "report: {top_k: 0}\nbudget: {trials: 0}\n",
        "report.top_k",
        3,
        "must be >= 1, got 0 (and 1 more problem)",
    ),
    (
        "several-problems",
        MINIMAL + "budget: {trials: 0, max_epochs: 0}\n",
        "budget.trials",
        3,
        "must be >= 1, got 0 (and 1 more problem)",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "phrase"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_spec_errors(tmp_path: Path, text: str, path: str, line: int | None, phrase: str) -> None:
    file = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(file)
    err = info.value
    assert (err.path, err.line, err.file) == (path, line, str(file)), str(err)
    assert phrase in err.detail, str(err)
    assert "pydantic" not in str(err) and "https://" not in str(err)


def test_file_name_that_is_not_a_study_name(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="add `study: NAME`"):
        load_spec(write(tmp_path, MINIMAL, "my spec.yaml"))
    assert load_spec(write(tmp_path, "study: ok\n" + MINIMAL, "my spec.yaml")).study == "ok"


# -- overrides ---------------------------------------------------------------------------


def test_overrides_are_read_as_yaml_scalars(tmp_path: Path) -> None:
    file = write(tmp_path, DESIGN_EXAMPLE)
    spec = load_spec(
        file,
        {
            "budget.trials": "5",
            "params.lr.high": "0.01",
            "sampler.name": "random",
            "early_stopping.patience": "3",
            "execution.storage": "sqlite:///x.db",
            "params.optimizer": "[adam, sgd, rmsprop]",
            "enqueue.0.lr": "1e-3",
            "report.dir": "",
        },
    )
    assert spec.budget.trials == 5
    assert spec.params["lr"].high == 0.01
    assert spec.sampler.name == "random"
    assert spec.early_stopping.patience == 3
    assert spec.execution.storage == "sqlite:///x.db"
    assert spec.params["optimizer"].choices == ("adam", "sgd", "rmsprop")
    assert spec.enqueue[0]["lr"] == 0.001
    assert spec.report.dir is None


def test_overrides_expand_short_forms_and_create_sections(tmp_path: Path) -> None:
    file = write(tmp_path, "trainer: mlp\ndataset: csv\nearly_stopping: false\n")
    spec = load_spec(
        file,
        {"dataset.path": "x.csv", "early_stopping.patience": "2", "budget.max_epochs": "3"},
    )
    assert (spec.dataset.name, spec.dataset.args) == ("csv", {"path": "x.csv"})
    assert (spec.early_stopping.enabled, spec.early_stopping.patience) == (False, 2)
    assert spec.budget.max_epochs == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"budget.trials": "0"}, "--set budget.trials: must be >= 1, got 0"),
        ({"budget.trials": "many"}, "--set budget.trials: expected an integer, got 'many'"),
        ({"budjet.trials": "5"}, "--set budjet.trials: budjet: unknown key 'budjet' (did you mean"),
        ({"params.lr.low": "x"}, "--set params.lr.low: expected a number, got 'x'"),
        (
            {"params.lr": "{type: float, low: 1, high: 0}"},
            "--set params.lr: params.lr.low: low must be less than high",
        ),
        ({"study.name": "x"}, "--set study.name: cannot set a key inside study"),
        ({"enqueue.3.lr": "0.1"}, "--set enqueue.3.lr: enqueue is a list of 1 items"),
        ({"budget.trials": "[1,"}, "--set budget.trials: invalid YAML"),
    ],
)
def test_override_errors_name_the_option(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, DESIGN_EXAMPLE), overrides)
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.line is None


def test_an_override_that_breaks_a_file_value_points_at_the_file(tmp_path: Path) -> None:
    file = write(tmp_path, DESIGN_EXAMPLE)
    with pytest.raises(SpecError) as info:
        load_spec(file, {"params.lr.high": "1e-5"})
    assert (info.value.path, info.value.line) == ("params.lr.low", 23)
    assert "high=1e-05" in info.value.detail


def test_parse_set_options() -> None:
    assert parse_set_options(["budget.trials=5", "a.b=x=y", "c= 1"]) == {
        "budget.trials": "5",
        "a.b": "x=y",
        "c": " 1",
    }


@pytest.mark.parametrize("item", ["budget.trials", "=5", "a..b=1", ".a=1", " =1"])
def test_parse_set_options_refuses_malformed_items(item: str) -> None:
    with pytest.raises(SpecError, match="expected KEY=VALUE") as info:
        parse_set_options([item])
    assert info.value.path == "--set"


# -- durations and early stopping -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (0.5, 0.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("20m", 1200.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        (None, None),
    ],
)
def test_durations(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["20 minutes", "30m1h", "1h1h", "", "m", "1x", "-5", 0, -1, True, [1]]
)
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("monitor", "mode", "objective", "expected"),
    [
        (None, None, ("val_accuracy", "maximize"), ("val_accuracy", "max")),
        (None, None, ("val_loss", "minimize"), ("val_loss", "min")),
        (None, None, ("val_score", "minimize"), ("val_score", "min")),  # the direction rules
        ("val_loss", None, ("val_accuracy", "maximize"), ("val_loss", "min")),
        ("val_error", None, ("val_accuracy", "maximize"), ("val_error", "min")),
        ("val_rmse", None, ("val_accuracy", "maximize"), ("val_rmse", "min")),
        ("val_MAE", None, ("val_accuracy", "maximize"), ("val_MAE", "min")),
        ("val_f1", None, ("val_loss", "minimize"), ("val_f1", "max")),
        ("val_loss", "max", ("val_accuracy", "maximize"), ("val_loss", "max")),
    ],
)
def test_early_stopping_resolved(
    monitor: str | None, mode: str | None, objective: tuple[str, str], expected: tuple[str, str]
) -> None:
    es = EarlyStoppingSpec(monitor=monitor, mode=mode, patience=7)
    resolved = es.resolved(ObjectiveSpec(metric=objective[0], direction=objective[1]))
    assert (resolved.monitor, resolved.mode) == expected
    assert resolved.patience == 7
