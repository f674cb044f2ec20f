"""Issue 3: every sampler and pruner through the real CLI path, multi-objective,
constraints, warm start, study-level stopping and reproducibility."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

import automl
from automl.cli import main
from automl.engine.keys import LAST_RUN, WARM_START
from automl.plugin.algorithms import SamplerPlugin
from automl.plugin.host import PluginHost
from tests.helpers import CURVE_SPEC, CurvePlugin
from tests.helpers import WriteSpec as Spec

STEPPED = CURVE_SPEC.replace("x: {type: float, low: 0.0, high: 1.0}",
                             "x: {type: float, low: 0.0, high: 1.0, step: 0.125}\n"
                             "  kind: [a, b]")


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["search", *args])


def _spy_open_study(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """The (sampler, pruner) the controller really opens the study with (a study loaded
    back from storage gets Optuna's defaults, so the stored study cannot tell)."""
    import automl.engine.study_setup as setup

    seen: list[tuple[Any, Any]] = []
    real = setup.open_study

    def spy(name: str, storage: Any, directions: Any, sampler: Any, pruner: Any,
            *rest: Any, **kw: Any) -> Any:
        seen.append((sampler, pruner))
        return real(name, storage, directions, sampler, pruner, *rest, **kw)

    monkeypatch.setattr(setup, "open_study", spy)
    return seen


SAMPLER_CLASSES = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
                   "cmaes": optuna.samplers.CmaEsSampler, "gp": optuna.samplers.GPSampler,
                   "nsga2": optuna.samplers.NSGAIISampler, "qmc": optuna.samplers.QMCSampler,
                   "grid": optuna.samplers.GridSampler}


@pytest.mark.parametrize("sampler", list(SAMPLER_CLASSES))
def test_every_sampler_runs_a_short_study(sampler: str, write_spec: Spec, in_tmp: Path,
                                          global_host: PluginHost,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy_open_study(monkeypatch)
    path = write_spec(STEPPED)
    result = run("--space", str(path), "--set", f"sampler.name={sampler}", "--trials", "6")
    assert result.exit_code == 0, result.output
    frame = automl.leaderboard("curve-study")
    assert len(frame) == 6 and (frame["state"] == "complete").all()
    assert set(frame["x"]) <= {i / 8 for i in range(9)} and set(frame["kind"]) <= {"a", "b"}
    assert len(seen) == 1 and isinstance(seen[0][0], SAMPLER_CLASSES[sampler])


@pytest.mark.parametrize(("name", "cls"), [
    ("tpe", optuna.samplers.TPESampler), ("random", optuna.samplers.RandomSampler),
    ("cmaes", optuna.samplers.CmaEsSampler), ("gp", optuna.samplers.GPSampler),
    ("nsga2", optuna.samplers.NSGAIISampler), ("qmc", optuna.samplers.QMCSampler),
    ("grid", optuna.samplers.GridSampler)])
def test_sampler_names_build_the_optuna_sampler(name: str, cls: type, write_spec: Spec,
                                                in_tmp: Path, host: PluginHost) -> None:
    from automl.engine.components import build_algorithms
    from automl.spec import load_spec

    spec = load_spec(write_spec(STEPPED), {"sampler.name": name})
    sampler, _ = build_algorithms(spec, 0, host)
    assert isinstance(sampler, cls)


def test_tpe_options_pass_through(write_spec: Spec, host: PluginHost) -> None:
    from automl.engine.components import build_algorithms
    from automl.spec import load_spec

    spec = load_spec(write_spec(STEPPED), {"sampler.name": "tpe", "sampler.constant_liar": "true",
                                           "sampler.n_startup_trials": "3"})
    sampler, _ = build_algorithms(spec, 0, host)
    assert sampler._constant_liar is True and sampler._n_startup_trials == 3
    bad = load_spec(write_spec(STEPPED), {"sampler.no_such_option": "1"})
    with pytest.raises(automl.errors.SpecError, match="unknown option 'no_such_option'"):
        build_algorithms(bad, 0, host)


def test_unknown_sampler_lists_the_known_ones(write_spec: Spec, in_tmp: Path,
                                              global_host: PluginHost) -> None:
    result = run("--space", str(write_spec(STEPPED)), "--set", "sampler.name=tpee")
    assert result.exit_code == 2
    assert "did you mean 'tpe'" in result.output
    for name in ("cmaes", "gp", "grid", "nsga2", "qmc", "random"):
        assert name in result.output


def test_grid_needs_steps_and_stops_when_exhausted(write_spec: Spec, in_tmp: Path,
                                                   global_host: PluginHost) -> None:
    result = run("--space", str(write_spec(CURVE_SPEC)), "--set", "sampler.name=grid")
    assert result.exit_code == 2
    assert "params.x has no step" in result.output and "sampler.name" in result.output

    small = CURVE_SPEC.replace("x: {type: float, low: 0.0, high: 1.0}",
                               "x: {type: float, low: 0.0, high: 0.5, step: 0.5}\n"
                               "  kind: [a, b]")
    result = run("--space", str(write_spec(small)), "--set", "sampler.name=grid",
                 "--trials", "10")
    assert result.exit_code == 0, result.output
    assert "stopped: grid_exhausted" in result.output
    frame = automl.leaderboard("curve-study")
    assert sorted(zip(frame["x"], frame["kind"], strict=True)) == [
        (0.0, "a"), (0.0, "b"), (0.5, "a"), (0.5, "b")]


# the good config first, so that pruners have a good curve to compare the bad ones with
BAD_AND_GOOD = CURVE_SPEC.replace("x: {type: float, low: 0.0, high: 1.0}",
                                  "x: [0.3, 1.0]").replace(
    "trials: 6", "trials: 12") + "enqueue: [{x: 0.3}]\n"


PRUNER_CLASSES = {"median": optuna.pruners.MedianPruner,
                  "percentile": optuna.pruners.PercentilePruner,
                  "hyperband": optuna.pruners.HyperbandPruner,
                  "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
                  "wilcoxon": optuna.pruners.WilcoxonPruner, "none": optuna.pruners.NopPruner}


@pytest.mark.parametrize("pruner", [
    pytest.param(name, marks=[pytest.mark.slow] if name not in ("median", "none") else [])
    for name in PRUNER_CLASSES])
def test_every_pruner_runs_a_short_study(pruner: str, write_spec: Spec, in_tmp: Path,
                                         global_host: PluginHost,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy_open_study(monkeypatch)
    options = {"median": ", n_startup_trials: 2, n_warmup_steps: 1",
               "percentile": ", n_startup_trials: 2, n_warmup_steps: 1, percentile: 50"}
    text = BAD_AND_GOOD.replace("pruner: {name: none}",
                                f"pruner: {{name: {pruner}{options.get(pruner, '')}}}")
    result = run("--space", str(write_spec(text)))
    assert result.exit_code == 0, result.output
    assert isinstance(seen[0][1], PRUNER_CLASSES[pruner])
    frame = automl.leaderboard("curve-study")
    assert len(frame) == 12
    pruned = frame[frame["state"] == "pruned"]
    assert (pruned["stop_reason"] == "pruned").all()
    assert set(frame["stop_reason"]) <= {"completed", "pruned", "early_stopped"}
    if pruner == "none":
        assert pruned.empty and (frame["epochs"] == 8).all()
    else:  # every real pruner cuts the bad config (x = 1.0) short, and only it
        assert len(pruned) > 0 and set(pruned["x"]) == {1.0}
        assert (pruned["epochs"] < 8).all()



def test_a_warm_start_config_is_never_pruned(write_spec: Spec, in_tmp: Path,
                                             global_host: PluginHost) -> None:
    # the good config, then the bad one (x = 1.0) enqueued: the sampled copies of the bad
    # one are pruned against trial 0, the enqueued one trains its full curve
    text = BAD_AND_GOOD.replace("enqueue: [{x: 0.3}]", "enqueue: [{x: 0.3}, {x: 1.0}]").replace(
        "pruner: {name: none}", "pruner: {name: median, n_startup_trials: 1, n_warmup_steps: 1}")
    result = run("--space", str(write_spec(text)))
    assert result.exit_code == 0, result.output
    frame = automl.leaderboard("curve-study").set_index("trial")
    assert frame.loc[1, "x"] == 1.0 and frame.loc[1, "state"] != "pruned"
    assert frame.loc[1, "epochs"] == 8
    sampled_bad = frame[(frame.index > 1) & (frame["x"] == 1.0)]
    assert len(sampled_bad) > 0 and (sampled_bad["state"] == "pruned").all()
    study = optuna.load_study(study_name="curve-study",
                              storage="sqlite:///reports/curve-study/study.db")
    marked = {t.number for t in study.trials if t.user_attrs.get(WARM_START)}
    assert marked == {0, 1}

def test_patience_wraps_any_pruner(write_spec: Spec, host: PluginHost) -> None:
    from automl.engine.components import build_algorithms
    from automl.spec import load_spec

    spec = load_spec(write_spec(CURVE_SPEC.replace("pruner: {name: none}",
                                                   "pruner: {name: median, patience: 3}")))
    _, pruner = build_algorithms(spec, 0, host)
    assert isinstance(pruner, optuna.pruners.PatientPruner)
    assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)


def test_a_plugin_can_add_a_sampler(write_spec: Spec, in_tmp: Path,
                                    curve_plugin: CurvePlugin,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int | None] = []

    class SamplerPluginModule:
        @automl.hookimpl
        def register_samplers(self, register: Callable[[SamplerPlugin], None]) -> None:
            def build(seed: int | None, options: dict[str, Any], ctx: Any) -> Any:
                built.append(seed)
                return optuna.samplers.RandomSampler(seed=seed)

            register(SamplerPlugin("my_random", build, "a plugin's sampler"))

    host = PluginHost()
    host.register(curve_plugin, name="curve-tests")
    host.register(SamplerPluginModule(), name="my-sampler-plugin")
    monkeypatch.setattr(automl.plugin.host, "_default", host.collect())
    result = run("--space", str(write_spec(CURVE_SPEC)), "--set", "sampler.name=my_random",
                 "--trials", "3")
    assert result.exit_code == 0, result.output
    assert built == [1] and host.samplers.provider("my_random") == "my-sampler-plugin"


MULTI = CURVE_SPEC.replace(
    "objective: {metric: val_accuracy, direction: maximize}",
    "objective:\n  - {metric: val_accuracy, direction: maximize}\n"
    "  - {metric: n_params, direction: minimize}").replace(
    "pruner: {name: none}", "pruner: {name: median}").replace("trials: 6", "trials: 12")


@pytest.mark.slow
def test_multi_objective_marks_the_pareto_front(write_spec: Spec, in_tmp: Path,
                                                global_host: PluginHost,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="automl"):
        result = run("--space", str(write_spec(MULTI)))
    assert result.exit_code == 0, result.output
    assert "pruning is off" in caplog.text
    frame = automl.leaderboard("curve-study")
    assert len(frame) == 12 and {"pareto", "pareto_rank"} <= set(frame.columns)
    points = list(zip(frame["val_accuracy"], frame["n_params"], strict=True))

    def dominated(p: tuple[float, float]) -> bool:
        return any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)

    expected = [not dominated(p) for p in points]
    assert list(frame["pareto"]) == expected
    assert frame["pareto"].sum() >= 2
    # best first: the whole front before anything dominated
    assert list(frame["pareto_rank"]) == sorted(frame["pareto_rank"])
    md = (in_tmp / "reports/curve-study/leaderboard.md").read_text()
    assert "pareto" in md


@pytest.mark.slow
def test_constraints_mark_infeasible_trials(write_spec: Spec, in_tmp: Path,
                                            global_host: PluginHost) -> None:
    text = CURVE_SPEC + "constraints: ['n_params <= 400']\n"
    result = run("--space", str(write_spec(text)), "--trials", "10", "--set", "sampler.name=tpe")
    assert result.exit_code == 0, result.output
    frame = automl.leaderboard("curve-study")
    assert list(frame["feasible"]) == [n <= 400 for n in frame["n_params"]]
    assert frame["feasible"].any() and not frame["feasible"].all()
    first_infeasible = list(frame["feasible"]).index(False)
    assert frame["feasible"].iloc[:first_infeasible].all()
    assert not frame["feasible"].iloc[first_infeasible:].any()
    # Optuna sees the same feasibility: its best trial is our rank 1, a feasible one
    assert automl.load_study("curve-study").best_trial.number == frame.iloc[0]["trial"]

    bad = run("--space", str(write_spec(CURVE_SPEC + "constraints: ['n_params =< 4']\n")))
    assert bad.exit_code == 2 and "constraints.0" in bad.output


def test_enqueue_file_is_checked_and_runs_first(write_spec: Spec, in_tmp: Path,
                                                global_host: PluginHost,
                                                curve_plugin: CurvePlugin) -> None:
    spec = write_spec(CURVE_SPEC)
    good = write_spec("- {x: 0.25}\n- {x: 0.75}\n", "warm.yaml")
    result = run("--space", str(spec), "--enqueue", str(good), "--trials", "4")
    assert result.exit_code == 0, result.output
    assert [p["x"] for p in curve_plugin.trainer.fitted[:2]] == [0.25, 0.75]

    bad = write_spec("- {x: 0.25}\n- {x: 7.5}\n", "bad.yaml")
    result = run("--space", str(spec), "--enqueue", str(bad))
    assert result.exit_code == 2
    assert "bad.yaml:2" in result.output and "1.x" in result.output


def test_spec_enqueue_out_of_range_is_a_spec_error(write_spec: Spec) -> None:
    result = CliRunner().invoke(main, ["validate", "--space", str(write_spec(
        CURVE_SPEC + "enqueue:\n  - {x: 2.0}\n"))])
    assert result.exit_code == 2 and "enqueue.0.x" in result.output


@pytest.mark.parametrize(("budget", "reason"), [
    ("budget: {trials: 500, max_epochs: 8, total_epochs: 20}", "total_epochs"),
    ("budget: {trials: 500, max_epochs: 8, target: 0.9}", "target"),
])
def test_study_level_stopping(budget: str, reason: str, write_spec: Spec, in_tmp: Path,
                              global_host: PluginHost) -> None:
    text = CURVE_SPEC.replace("budget: {trials: 6, max_epochs: 8}", budget)
    result = run("--space", str(write_spec(text)))
    assert result.exit_code == 0, result.output
    assert f"stopped: {reason}" in result.output
    frame = automl.leaderboard("curve-study")
    if reason == "total_epochs":
        assert len(frame) == 3  # 8 + 8 + 8 >= 20
    if reason == "target":
        assert frame.iloc[0]["val_accuracy"] >= 0.9
        assert (frame["val_accuracy"].iloc[1:] < 0.9).all()
    last = automl.load_study("curve-study").user_attrs[LAST_RUN]
    assert last["stop_reason"] == reason


class _Clock:
    """The controller's ``time``: real, plus ``jump`` seconds once ``after()`` is true."""

    def __init__(self, after: Callable[[], bool], jump: float) -> None:
        import time

        self._time, self._after, self._jump = time, after, jump

    def monotonic(self) -> float:
        return self._time.monotonic() + (self._jump if self._after() else 0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._time, name)


def test_timeout_stops_the_study_once_the_time_is_up(
        write_spec: Spec, in_tmp: Path, global_host: PluginHost, curve_plugin: CurvePlugin,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import automl.engine.controller

    # the clock passes the 60 s budget when the third trial has been fitted, not before
    monkeypatch.setattr(automl.engine.controller, "time",
                        _Clock(lambda: len(curve_plugin.trainer.fitted) >= 3, jump=3600.0))
    text = CURVE_SPEC.replace("budget: {trials: 6, max_epochs: 8}",
                              "budget: {trials: 500, max_epochs: 8, timeout: 60s}")
    result = run("--space", str(write_spec(text)))
    assert result.exit_code == 0, result.output
    assert "stopped: timeout" in result.output
    assert len(automl.leaderboard("curve-study")) == 3  # not 0 (too soon), not 500 (ignored)
    assert automl.load_study("curve-study").user_attrs[LAST_RUN]["stop_reason"] == "timeout"


def _params(study: str) -> list[dict[str, Any]]:
    return [t.params for t in automl.load_study(study).trials]


@pytest.mark.slow
def test_same_seed_same_params(write_spec: Spec, in_tmp: Path,
                               global_host: PluginHost) -> None:
    text = STEPPED.replace("sampler: {name: random, seed: 1}", "sampler: {name: tpe}").replace(
        "pruner: {name: none}", "pruner: {name: median}")
    path = write_spec(text)
    for study in ("run-a", "run-b"):
        result = run("--space", str(path), "--study", study, "--seed", "7", "--trials", "12")
        assert result.exit_code == 0, result.output
    a, b = _params("run-a"), _params("run-b")
    assert a[:10] == b[:10]
    result = run("--space", str(path), "--study", "run-c", "--seed", "8", "--trials", "12")
    assert _params("run-c")[:10] != a[:10]
    record = automl.load_study("run-a").user_attrs["automl"]
    assert record["seed"] == 7 and record["spec"]["sampler"]["name"] == "tpe"
    assert {"python", "optuna", "torch", "automl"} <= set(record["versions"])


@pytest.mark.slow
def test_resume_does_not_replay_random_draws(write_spec: Spec, in_tmp: Path,
                                             global_host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC)
    assert run("--space", str(path), "--trials", "5").exit_code == 0
    assert run("--space", str(path), "--trials", "10").exit_code == 0
    xs = [p["x"] for p in _params("curve-study")]
    assert len(set(xs)) == 10


@pytest.mark.parametrize(("count", "layers"), [("2", 2), ("[1, 3]", 3),
                                               ("{type: int, low: 1, high: 2}", 2)])
def test_the_grid_has_every_layer_a_repeat_block_can_reach(count: str, layers: int,
                                                            write_spec: Spec) -> None:
    # a layer count that is fixed, a choice or a range: each layer's params are in the grid
    from automl.spec import load_spec
    from plugins.search import grid_of

    text = CURVE_SPEC.replace("x: {type: float, low: 0.0, high: 1.0}",
                              f"x: [0.5]\n  n: {count}\n  block:\n    repeat: n\n"
                              "    params: {width: [8, 16], kind: k3}")
    grid = grid_of(load_spec(write_spec(text)).params)
    assert [k for k in grid if k.startswith("block.")] == [f"block.{i}.width"
                                                          for i in range(layers)]
    assert all(grid[f"block.{i}.width"] == [8, 16] for i in range(layers))
