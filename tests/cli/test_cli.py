"""The command line through click's runner, and once through the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import automl
from automl.cli import main
from automl.plugin.host import PluginHost
from tests.helpers import CURVE_SPEC, REPO, CurvePlugin
from tests.helpers import WriteSpec as Spec


def test_validate_prints_the_resolved_space() -> None:
    result = CliRunner().invoke(main, ["validate", "--space", str(REPO / "search_spaces/cnn.yaml")])
    assert result.exit_code == 0, result.output
    for text in ("valid", "digits-cnn", "momentum", "conv", "channels", "optimizer"):
        assert text in result.output


def test_validate_bad_spec_exits_2_with_one_line(write_spec: Spec) -> None:
    path = write_spec("""
        trainer: cnn
        params:
          lr: {type: float, low: 0.1, high: 0.001}
        """)
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "params.lr" in lines[0] and str(path) in lines[0] and ":3:" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_real_console_script_bad_spec_no_traceback(write_spec: Spec) -> None:
    path = write_spec("""
        trainer: cnn
        budjet: {trials: 3}
        """)
    exe = Path(sys.executable).with_name("automl")
    proc = subprocess.run([str(exe), "validate", "--space", str(path)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "budjet" in proc.stderr and "did you mean 'budget'" in proc.stderr


def test_unknown_trainer_is_a_spec_error_with_a_hint(write_spec: Spec, in_tmp: Path,
                                                     global_host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC.replace("trainer: curve", "trainer: curv"))
    result = CliRunner().invoke(main, ["search", "--space", str(path)])
    assert result.exit_code == 2
    assert "trainer" in result.output and "did you mean 'curve'" in result.output
    assert ":2:" in result.output


@pytest.mark.slow
def test_search_leaderboard_report(write_spec: Spec, in_tmp: Path,
                                   global_host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC)
    runner = CliRunner()
    result = runner.invoke(main, ["search", "--space", str(path), "--trials", "3",
                                  "--set", "budget.max_epochs=4"])
    assert result.exit_code == 0, result.output
    assert "3 trials" in result.output and "best: trial" in result.output
    # a resume must keep the epoch budget its trials were trained with
    edited = runner.invoke(main, ["search", "--space", str(path), "--trials", "5"])
    assert edited.exit_code == 2 and "budget.max_epochs: 4 -> " in edited.output
    result = runner.invoke(main, ["search", "--space", str(path), "--trials", "5",
                                  "--set", "budget.max_epochs=4"])
    assert result.exit_code == 0, result.output
    assert "5 trials" in result.output and "2 run now" in result.output

    board = runner.invoke(main, ["leaderboard", "curve-study", "--top", "2"])
    assert board.exit_code == 0, board.output
    assert "curve-study: 5 trials, top 2" in board.output and "val_accuracy" in board.output

    (in_tmp / "reports/curve-study/leaderboard.md").unlink()
    rep = runner.invoke(main, ["report", "curve-study"])
    assert rep.exit_code == 0, rep.output
    assert (in_tmp / "reports/curve-study/leaderboard.md").exists()

    missing = runner.invoke(main, ["leaderboard", "no-such-study"])
    assert missing.exit_code == 2 and "no study 'no-such-study'" in missing.output


def test_plugins_list_shows_builtins_and_their_package() -> None:
    result = CliRunner().invoke(main, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    for text in ("cnn", "mlp", "digits", "breast_cancer", "diabetes", "automl 0.1.0"):
        assert text in result.output


def test_spaces_lists_bundled_specs(in_tmp: Path) -> None:
    result = CliRunner().invoke(main, ["spaces"])
    assert result.exit_code == 0
    assert "cnn" in result.output and "mlp" in result.output


@pytest.mark.slow
def test_ctrl_c_keeps_finished_trials_exits_130_and_resumes_to_the_budget(
        write_spec: Spec, in_tmp: Path, global_host: PluginHost,
        curve_plugin: CurvePlugin) -> None:
    path = write_spec(CURVE_SPEC)
    curve_plugin.trainer.interrupt_at = 3
    runner = CliRunner()
    result = runner.invoke(main, ["search", "--space", str(path), "--trials", "5"])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    frame = automl.leaderboard("curve-study")
    assert sorted(frame["state"]) == ["complete", "complete", "failed"]
    stopped = frame[frame["state"] == "failed"].iloc[0]
    assert stopped["stop_reason"] == "interrupted"
    assert (in_tmp / "reports/curve-study/leaderboard.md").exists()

    curve_plugin.trainer.interrupt_at = None
    result = runner.invoke(main, ["search", "--space", str(path), "--trials", "5"])
    assert result.exit_code == 0, result.output
    frame = automl.leaderboard("curve-study")
    assert (frame["state"] == "complete").sum() == 5
    # the interrupted trial's params ran again first
    retried = frame[frame["trial"] == 3].iloc[0]
    assert retried["x"] == stopped["x"]


def test_validate_checks_plugin_and_algorithm_names(write_spec: Spec) -> None:
    path = write_spec("""
        trainer: cnn
        dataset: {name: digits}
        sampler: {name: tpee}
        params:
          lr: {type: float, low: 1e-4, high: 1e-1, log: true}
        """)
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    assert result.exit_code == 2
    assert ":3: sampler.name: unknown sampler 'tpee' (did you mean 'tpe'?)" in result.output


def test_validate_says_what_a_spec_without_params_searches(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("study: bare\ntrainer: logistic\ndataset: {name: iris}\n"
                    "objective: {metric: val_accuracy, direction: maximize}\n")
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    assert result.exit_code == 0, result.output
    assert "no params: every trial trains logistic with the same settings" in result.output
    assert "search space" not in result.output
