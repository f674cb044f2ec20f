"""`automl plugins list [--json]`, `--no-plugin`, AUTOML_PLUGINS, and how broken or
conflicting plugins reach the user at the command line."""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import automl.plugin.host
from automl.cli import main


@pytest.fixture(autouse=True)
def fresh_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command loads the plugins afresh; env changes by --no-plugin are undone."""
    monkeypatch.setattr(automl.plugin.host, "_default", None)
    monkeypatch.setenv("AUTOML_BLOCK_PLUGINS", "")
    monkeypatch.delenv("AUTOML_PLUGINS", raising=False)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def listing(*args: str) -> dict[str, Any]:
    result = invoke(*args, "plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def add_entry_points(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                     modules: dict[str, str]) -> None:
    """Install fake plugins next to the real ones: a module and an entry point each."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = [md.EntryPoint(name=n.removeprefix("automl_fake_"), value=n, group="automl")
            for n in modules]
    real = md.entry_points

    def entry_points(**kwargs: Any) -> Any:
        found = real(**kwargs)
        return [*found, *fake] if kwargs.get("group") == "automl" else found

    monkeypatch.setattr(automl.plugin.host.md, "entry_points", entry_points)
    monkeypatch.setattr(md, "entry_points", entry_points)


def test_list_json_names_each_plugin_its_distribution_and_what_it_registers() -> None:
    data = listing()
    plugins = {p["name"]: p for p in data["plugins"]}
    sklearn = plugins["sklearn"]
    assert sklearn["distribution"] == "automl" and sklearn["version"] == automl.__version__
    assert sklearn["module"] == "automl_plugins.sklearn_models" and sklearn["status"] == "ok"
    assert sklearn["provides"] == {"trainer": ["extra_trees", "hist_gbm", "knn", "logistic",
                                               "random_forest", "ridge", "svm"]}
    assert plugins["data_files"]["provides"] == {"dataset": ["csv", "image_folder", "npz",
                                                             "parquet", "saved"]}
    trainers = {t["name"]: t for t in data["trainers"]}
    assert trainers["ridge"] == {"name": "ridge", "plugin": "sklearn",
                                 "description": trainers["ridge"]["description"],
                                 "tasks": ["regression"]}
    assert trainers["cnn"]["plugin"] == "cnn"
    assert {d["name"] for d in data["datasets"]} >= {"csv", "parquet", "npz", "image_folder",
                                                     "iris"}


def test_list_table() -> None:
    result = invoke("plugins", "list")
    assert result.exit_code == 0, result.output
    for text in ("automl plugins", "sklearn", "automl 0.1.0", "trainers: extra_trees, hist_gbm",
                 "hist_gbm", "image_folder", "scikit-learn histogram gradient boosting"):
        assert text in result.output


def test_no_plugin_blocks_a_plugin_for_every_command() -> None:
    data = listing("--no-plugin", "sklearn", "--no-plugin", "cnn")
    names = {p["name"] for p in data["plugins"]}
    assert "sklearn" not in names and "cnn" not in names and "mlp" in names
    assert "hist_gbm" not in {t["name"] for t in data["trainers"]}


def test_a_blocked_trainer_is_unknown_to_search(tmp_path: Path, in_tmp: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("trainer: logistic\ndataset: {name: iris}\n")
    result = invoke("--no-plugin", "sklearn", "validate", "--space", str(spec))
    assert result.exit_code == 2
    assert "unknown trainer 'logistic'" in result.output


def test_no_plugin_with_an_unknown_name_is_a_usage_error() -> None:
    result = invoke("--no-plugin", "sklern", "plugins", "list")
    assert result.exit_code == 2
    assert "no plugin named 'sklern' (did you mean 'sklearn'?)" in result.output


def test_automl_plugins_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_PLUGINS", "sklearn,datasets")
    data = listing()
    assert sorted(p["name"] for p in data["plugins"]) == ["datasets", "sklearn"]
    assert "cnn" not in {t["name"] for t in data["trainers"]}


BROKEN = "import a_module_that_is_not_installed\n"
DUPLICATE = '''
import automl
from automl_plugins.sklearn_models import TRAINERS

@automl.hookimpl
def register_trainers(register):
    register(next(t for t in TRAINERS if t.name == "hist_gbm"))  # a second time
'''
RAISES = '''
import automl

@automl.hookimpl
def register_datasets(register):
    raise RuntimeError("no network here")
'''


def test_a_plugin_that_fails_to_import_is_listed_as_failed(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    add_entry_points(monkeypatch, tmp_path, {"automl_fake_broken": BROKEN})
    plugins = {p["name"]: p for p in listing()["plugins"]}
    assert plugins["broken"]["status"] == "failed"
    assert plugins["broken"]["error"] == ("ModuleNotFoundError: No module named "
                                          "'a_module_that_is_not_installed'")
    assert plugins["sklearn"]["status"] == "ok"


def test_a_search_runs_with_a_broken_plugin_installed_and_warns_by_name(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_tmp: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    add_entry_points(monkeypatch, tmp_path, {"automl_fake_broken": BROKEN})
    spec = tmp_path / "s.yaml"
    spec.write_text("trainer: logistic\ndataset: {name: iris}\nbudget: {trials: 2}\n"
                    "execution: {workers: 0}\nparams: {C: {type: float, low: 0.1, high: 10}}\n")
    with caplog.at_level(logging.WARNING, logger="automl"):
        result = invoke("search", "--space", str(spec))
    assert result.exit_code == 0, result.output
    assert "study s: 2 trials (2 complete)" in result.output
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("plugin 'broken'" in w and "failed to import and is skipped" in w
               and "a_module_that_is_not_installed" in w for w in warnings), warnings


def test_a_duplicate_trainer_name_is_exit_2_naming_both_plugins(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    add_entry_points(monkeypatch, tmp_path, {"automl_fake_dup": DUPLICATE})
    result = invoke("plugins", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: trainer 'hist_gbm' is registered by two plugins: 'dup' and 'sklearn'; "
        "uninstall or block one of them (AUTOML_PLUGINS / AUTOML_BLOCK_PLUGINS)")
    # and blocking either one resolves it
    assert invoke("--no-plugin", "dup", "plugins", "list").exit_code == 0


def test_a_plugin_raising_in_a_hook_is_exit_2_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    add_entry_points(monkeypatch, tmp_path, {"automl_fake_raises": RAISES})
    result = invoke("plugins", "list", "--json")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: plugin 'raises' raised in register_datasets: "
                                     "RuntimeError: no network here")
