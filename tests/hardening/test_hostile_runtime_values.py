"""Valid-looking values that would crash at run time: refused by ``validate`` (exit 2, one
line naming the key), or ended as a failed trial with its reason. No trial is left RUNNING
by an error in the controller, and a search in which every trial failed exits non-zero and
points at no ``best/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

import automl
import automl.plugin.host
from automl.cli import main
from automl.engine import controller as controller_module
from automl.engine.controller import search
from automl.errors import SpecError
from automl.plugin import PrunerPlugin, SamplerPlugin, hookimpl
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC, CurvePlugin, mlp_spec_head

WriteSpec = Callable[..., Path]

BASE = mlp_spec_head("runtime")


def _validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    return result.exit_code, result.output


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


# -- a float step far below the range's precision --------------------------------------------
FINE_STEPS = [
    "{type: float, low: 0.0, high: 1.0, step: 1.0e-300}",  # 1e300 grid points
    "{type: float, low: 0.0, high: 1.0, step: 1.0e-13}",  # more points than any search
    "{type: float, low: 1.0e6, high: 1000001.0, step: 1.0e-12}",  # finer than floats near 1e6
    "{type: float, low: -1.0e300, high: 1.0e300, step: 1.0}",
    "{type: float, low: 5.0e-324, high: 1.0e-323, step: 5.0e-324}",  # subnormal: no precision
]


@pytest.mark.parametrize("param", FINE_STEPS)
def test_a_float_step_below_the_range_precision_is_refused(write_spec: WriteSpec,
                                                           param: str) -> None:
    code, output = _validate(write_spec(BASE + f"params:\n  x: {param}\n"))
    assert code == 2, output
    line = _one_error_line(output)
    assert "spec.yaml:7: params.x.step:" in line and "far below the precision" in line, line


def test_a_reasonable_float_step_still_loads(write_spec: WriteSpec) -> None:
    spec = load_spec(write_spec(BASE + "params:\n"
                                "  x: {type: float, low: 0.0, high: 1.0, step: 1.0e-9}\n"
                                "  y: {type: float, low: 1.0e6, high: 1000001.0, step: 0.001}\n"))
    assert spec.params["x"].step == 1e-9


# -- sampler and pruner options of the wrong type ----------------------------------------------
BAD_OPTIONS = [
    ("sampler: {name: tpe, n_startup_trials: abc}", "sampler.n_startup_trials", "must be int"),
    ("sampler: {name: tpe, n_ei_candidates: 2.5}", "sampler.n_ei_candidates", "must be int"),
    ("sampler: {name: tpe, multivariate: 'yes'}", "sampler.multivariate", "must be bool"),
    ("sampler: {name: tpe, gamma: 3}", "sampler.gamma", "must be Callable"),
    ("sampler: {name: tpe, prior_weight: true}", "sampler.prior_weight", "must be float"),
    ("sampler: {name: cmaes, sigma0: big}", "sampler.sigma0", "must be float"),
    # refused by the constructor itself: the one option to blame is found and named
    ("sampler: {name: nsga2, population_size: [10]}", "sampler.population_size",
     "option 'population_size' = [10] is refused"),
    ("sampler: {name: qmc, scramble: 1}", "sampler.scramble", "must be bool"),
    ("pruner: {name: hyperband, reduction_factor: 2.5}", "pruner.reduction_factor",
     "must be int"),
    ("pruner: {name: successive_halving, min_early_stopping_rate: '1'}",
     "pruner.min_early_stopping_rate", "option 'min_early_stopping_rate' = '1' is refused"),
    ("pruner: {name: median, patience: soon}", "pruner.patience", "must be an integer"),
    ("pruner: {name: median, patience: 1.5}", "pruner.patience", "must be an integer"),
    ("pruner: {name: median, n_warmup_steps: [1]}", "pruner.n_warmup_steps",
     "option 'n_warmup_steps' = [1] is refused"),
]


@pytest.mark.parametrize(("section", "key", "says"), BAD_OPTIONS,
                         ids=[o[0] for o in BAD_OPTIONS])
def test_a_sampler_or_pruner_option_of_the_wrong_type_is_refused_by_validate(
        write_spec: WriteSpec, section: str, key: str, says: str) -> None:
    code, output = _validate(write_spec(BASE + section + "\n"))
    assert code == 2, output
    line = _one_error_line(output)
    assert f"spec.yaml:6: {key}:" in line and says in line, line


@pytest.mark.parametrize("section", [
    "sampler: {name: tpe, n_startup_trials: 3, multivariate: false, prior_weight: 2}",
    "sampler: {name: cmaes, sigma0: 1, restart_strategy: null}",
    "sampler: {name: nsga2, population_size: 10, crossover_prob: 1}",
    "pruner: {name: hyperband, max_resource: auto, reduction_factor: 3}",
    "pruner: {name: median, n_startup_trials: 2, patience: 2}",
])
def test_options_of_the_right_type_still_validate(write_spec: WriteSpec, section: str) -> None:
    code, output = _validate(write_spec(BASE + section + "\n"))
    assert code == 0, output


class _BrokenSampler(optuna.samplers.RandomSampler):
    """Accepts its options, then fails on the first param it samples (as a sampler given
    a value it only reads at sampling time does)."""

    def sample_independent(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("the sampler cannot use this option value")


class _BrokenSamplerPlugin:
    @hookimpl
    def register_samplers(self, register: Callable[[SamplerPlugin], None]) -> None:
        register(SamplerPlugin("broken", lambda seed, options, ctx: _BrokenSampler(seed=seed)))


def test_a_sampler_that_fails_while_sampling_leaves_no_trial_running(
        in_tmp: Path, write_spec: WriteSpec, curve_plugin: CurvePlugin) -> None:
    host = PluginHost()
    host.register(curve_plugin, name="curve-tests")
    host.register(_BrokenSamplerPlugin(), name="broken-sampler")
    text = CURVE_SPEC.replace("sampler: {name: random, seed: 1}", "sampler: {name: broken}")
    with pytest.raises(SpecError, match=r"sampler: sampler 'broken' failed to sample trial 0: "
                                        r"the sampler cannot use this option value"):
        search(load_spec(write_spec(text)), host.collect())
    trials = automl.load_study("curve-study").trials
    assert [t.state.name for t in trials] == ["FAIL"]
    assert "cannot use this option value" in trials[0].system_attrs["fail_reason"]


def test_an_error_in_the_controller_leaves_no_trial_running(
        in_tmp: Path, write_spec: WriteSpec, host: PluginHost,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, pool: Any, event: Any) -> Any:
        raise RuntimeError("the controller broke while recording a trial")

    monkeypatch.setattr(controller_module.Controller, "_handle", broken)
    with pytest.raises(RuntimeError, match="controller broke"):
        search(load_spec(write_spec(CURVE_SPEC)), host)
    states = [t.state.name for t in automl.load_study("curve-study").trials]
    assert states and "RUNNING" not in states, states


# -- an objective the trainer never reports; every trial failed --------------------------------
def _search_cli(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["search", "--space", str(path)])
    return result.exit_code, result.output


@pytest.fixture
def failed_search(in_tmp: Path, write_spec: WriteSpec,
                  global_host: PluginHost) -> Callable[[str], str]:
    """``automl search`` of a curve spec in which no trial completes: it exits 1, names no
    best/ and writes none. The fixture's value runs a spec text and returns the output."""
    def run(text: str) -> str:
        code, output = _search_cli(write_spec(text))
        assert code == 1, output
        assert "leaderboard.csv, best/" not in output
        assert not (in_tmp / "reports" / "curve-study" / "best").exists()
        return output

    return run


def test_an_objective_the_trainer_never_reports_fails_each_trial_with_the_reason(
        failed_search: Callable[[str], str]) -> None:
    output = failed_search(CURVE_SPEC.replace("metric: val_accuracy", "metric: val_acuracy")
                           .replace("trials: 6", "trials: 2"))
    assert "no trial of study curve-study completed" in output
    assert "objective metric 'val_acuracy' was not reported (did you mean 'val_accuracy'?)" \
        in output
    trials = automl.load_study("curve-study").trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]


def test_a_search_in_which_every_trial_failed_exits_non_zero_without_best(
        failed_search: Callable[[str], str]) -> None:
    output = failed_search(CURVE_SPEC.replace("trials: 6", "trials: 3, max_failures: 10")
                           .replace("params:\n", "params:\n  mode: raise\n"))
    last = output.strip().splitlines()[-1]
    assert last == ("error: no trial of study curve-study completed, so there is no best "
                    "model; last error: RuntimeError: boom in the trainer"), output
    assert "no best/" in output


class _PruneAll(optuna.pruners.BasePruner):
    """Prunes every trial at its first epoch (a pruner far too eager for the spec)."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


class _PruneAllPlugin:
    @hookimpl
    def register_pruners(self, register: Callable[[PrunerPlugin], None]) -> None:
        register(PrunerPlugin("prune_all", lambda options, ctx: _PruneAll()))


def test_a_search_in_which_every_trial_was_pruned_says_so(
        in_tmp: Path, write_spec: WriteSpec, curve_plugin: CurvePlugin,
        monkeypatch: pytest.MonkeyPatch) -> None:
    host = PluginHost()
    host.register(curve_plugin, name="curve-tests")
    host.register(_PruneAllPlugin(), name="prune-all")
    monkeypatch.setattr(automl.plugin.host, "_default", host.collect())
    code, output = _search_cli(write_spec(CURVE_SPEC.replace("trials: 6", "trials: 3").replace(
        "pruner: {name: none}", "pruner: {name: prune_all}")))
    assert [t.state.name for t in automl.load_study("curve-study").trials] == ["PRUNED"] * 3
    # no model, so not 0 (as when every trial failed), but no error to quote either
    assert code == 1, output
    last = output.strip().splitlines()[-1]
    assert last == ("error: all 3 trials of study curve-study were pruned, so there is no "
                    "best model: the pruner stopped every trial before it finished; give it "
                    "more warm-up or start-up trials, or turn it off (pruner: {name: none})"), \
        output
    assert "last error" not in output and "no best/" in output
    assert not (in_tmp / "reports" / "curve-study" / "best").exists()


def test_a_search_with_a_completed_trial_still_exits_0_with_best(
        in_tmp: Path, write_spec: WriteSpec, global_host: PluginHost) -> None:
    code, output = _search_cli(write_spec(CURVE_SPEC.replace("trials: 6", "trials: 2")))
    assert code == 0, output
    assert "leaderboard.csv, best/" in output
    assert (in_tmp / "reports" / "curve-study" / "best").is_dir()
