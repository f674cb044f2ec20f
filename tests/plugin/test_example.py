"""The template plugin in examples/automl-moons keeps working: its own tests pass and a
search runs with its trainer and dataset."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from automl.engine.controller import search
from automl.plugin.testing import plugin_host
from automl.spec import load_spec
from tests.helpers import REPO

EXAMPLE = REPO / "examples" / "automl-moons"


@pytest.fixture
def moons(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, "automl_moons", raising=False)
    import automl_moons

    return automl_moons


def test_the_examples_own_tests_pass(moons: ModuleType) -> None:
    spec = importlib.util.spec_from_file_location("example_tests",
                                                  EXAMPLE / "tests" / "test_automl_moons.py")
    assert spec and spec.loader
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    names = [n for n in dir(tests) if n.startswith("test_")]
    assert len(names) == 3
    for name in names:
        getattr(tests, name)()


def test_a_search_with_the_examples_trainer_and_dataset(moons: ModuleType, in_tmp: Path) -> None:
    spec = load_spec(EXAMPLE / "search_spaces" / "moons.yaml",
                     {"budget.trials": "3", "budget.max_epochs": "15",
                      "execution.workers": "0"})  # the plugin is not installed: in-process
    result = search(spec, plugin_host(moons, entry_points=True))
    assert result.counts.get("complete", 0) >= 2
    assert result.best is not None and result.best["metrics"]["val_accuracy"] >= 0.8
    assert (in_tmp / "reports" / "moons" / "best" / "model.pt").exists()
