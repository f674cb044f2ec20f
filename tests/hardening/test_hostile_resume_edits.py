"""Resuming a study with an edited spec: safe edits applied and said, the rest refused.

A study's trials compare only if they share a space, a dataset split, an objective and an
epoch budget; an edit to any of those on resume is refused (exit 2, one line naming each
changed key and ``--study NEW``), and nothing of the study is lost. The budget, execution
and report settings may change.
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

import automl
from automl.cli import main
from automl.engine.controller import search
from automl.engine.keys import STUDY_RECORD
from automl.engine.spec_changes import SpecChange, check_resumed_spec, spec_changes
from automl.errors import UsageError
from automl.plugin.host import PluginHost
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

# (edit of CURVE_SPEC, the key the refusal must name)
REFUSED = [
    (("x: {type: float, low: 0.0, high: 1.0}", "x: {type: float, low: 0.0, high: 2.0}"),
     "params.x.high"),
    (("x: {type: float, low: 0.0, high: 1.0}", "x: {type: int, low: 0, high: 1}"),
     "params.x.type"),  # a param whose type changed since the study began
    (("x: {type: float, low: 0.0, high: 1.0}", "x: [0.1, 0.2]"), "params.x"),
    (("x: {type: float, low: 0.0, high: 1.0}",
      "x: {type: float, low: 0.0, high: 1.0}\n  y: [a, b]"), "params.y"),
    (("dataset: {name: iris}", "dataset: {name: digits}"), "dataset.name"),
    (("max_epochs: 8", "max_epochs: 20"), "budget.max_epochs"),
    (("sampler: {name: random, seed: 1}", "sampler: {name: tpe, seed: 1}"), "sampler.name"),
    (("patience: 3", "patience: 5"), "early_stopping.patience"),
    (("objective: {metric: val_accuracy, direction: maximize}",
      "objective: {metric: val_loss, direction: minimize}"), "directions"),
]


def _edit(text: str, edit: tuple[str, str]) -> str:
    assert edit[0] in text
    return text.replace(edit[0], edit[1])


@pytest.mark.parametrize(("edit", "key"), REFUSED, ids=[k for _, k in REFUSED])
def test_an_edit_that_would_mix_experiments_is_refused_and_nothing_is_lost(
        in_tmp: Path, write_spec: Spec, host: PluginHost, edit: tuple[str, str],
        key: str) -> None:
    path = write_spec(CURVE_SPEC.replace("trials: 6", "trials: 2"))
    search(load_spec(path), host)
    edited = write_spec(_edit(CURVE_SPEC.replace("trials: 6", "trials: 4"), edit), "edited.yaml")
    with pytest.raises(UsageError) as caught:
        search(load_spec(edited), host)
    message = str(caught.value)
    assert key in message and "--study NEW" in message and "\n" not in message
    assert len(automl.leaderboard("curve-study")) == 2  # no trial ran, none lost
    # the study's record still holds the first spec: the next resume compares with it
    study = optuna.load_study(study_name="curve-study",
                              storage=f"sqlite:///{in_tmp}/reports/curve-study/study.db")
    assert study.user_attrs[STUDY_RECORD]["spec"]["budget"]["trials"] == 2


def test_budget_execution_and_report_edits_are_applied_and_said(
        in_tmp: Path, write_spec: Spec, host: PluginHost,
        caplog: pytest.LogCaptureFixture) -> None:
    path = write_spec(CURVE_SPEC.replace("trials: 6", "trials: 2"))
    search(load_spec(path), host)
    edited = write_spec(CURVE_SPEC.replace("trials: 6", "trials: 3")
                        + "report: {top_k: 1}\n", "edited.yaml")
    with caplog.at_level(logging.WARNING):
        again = search(load_spec(edited), host)
    assert (again.n_trials, again.n_new) == (3, 1)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "budget.trials: 2 -> 3" in said and "report.top_k: 10 -> 1" in said
    frame = automl.leaderboard("curve-study")
    assert len(frame) == 3
    # the record now holds the new budget (what joining workers read)
    study = optuna.load_study(study_name="curve-study",
                              storage=f"sqlite:///{in_tmp}/reports/curve-study/study.db")
    assert study.user_attrs[STUDY_RECORD]["spec"]["budget"]["trials"] == 3


def test_an_unchanged_spec_resumes_quietly(in_tmp: Path, write_spec: Spec, host: PluginHost,
                                           caplog: pytest.LogCaptureFixture) -> None:
    path = write_spec(CURVE_SPEC.replace("trials: 6", "trials: 2"))
    search(load_spec(path), host)
    with caplog.at_level(logging.WARNING):
        search(load_spec(path), host)
    assert not [r for r in caplog.records if "resumed with" in r.getMessage()]


def test_the_cli_refuses_with_exit_2_and_one_line(in_tmp: Path, write_spec: Spec,
                                                  global_host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC.replace("trials: 6", "trials: 2"))
    runner = CliRunner()
    first = runner.invoke(main, ["search", "--space", str(path)])
    assert first.exit_code == 0, first.output
    edited = write_spec(CURVE_SPEC.replace("high: 1.0", "high: 3.0"), "edited.yaml")
    result = runner.invoke(main, ["search", "--space", str(edited)])
    assert result.exit_code == 2
    assert "params.x.high: 1.0 -> 3.0" in result.output
    assert "Traceback" not in result.output
    # --set on the command line is an edit like any other, and --trials a safe one
    result = runner.invoke(main, ["search", "--space", str(path), "--set", "params.x.low=0.5"])
    assert result.exit_code == 2 and "params.x.low" in result.output
    result = runner.invoke(main, ["search", "--space", str(path), "--trials", "3"])
    assert result.exit_code == 0, result.output
    assert len(automl.leaderboard("curve-study")) == 3


def test_the_diff_of_nested_and_listed_values() -> None:
    old = {"params": {"x": {"type": "float", "low": 0.0, "high": 1.0}, "k": [1, 2]},
           "budget": {"trials": 5, "max_epochs": 8}, "trainer": ["a", "b"]}
    new = {"params": {"x": {"type": "float", "low": 0.0, "high": 1.0}, "k": [1, 2, 3]},
           "budget": {"trials": 9, "max_epochs": 8}, "trainer": ("a", "b"),
           "ensemble": {"size": 3}}  # a section the old record lacks: an older automl
    changes = spec_changes(old, new)
    assert changes == [SpecChange("params.k", [1, 2], [1, 2, 3]),
                       SpecChange("budget.trials", 5, 9)]
    assert [c.safe for c in changes] == [False, True]
    with pytest.raises(UsageError, match=r"params\.k: \[1, 2\] -> \[1, 2, 3\]"):
        check_resumed_spec("s", old, new)
    assert check_resumed_spec("s", old, {**old, "budget": {"trials": 7, "max_epochs": 8}}) == \
        [SpecChange("budget.trials", 5, 7)]
    assert spec_changes({"a": {"v": float("nan")}}, {"a": {"v": float("nan")}}) == []
