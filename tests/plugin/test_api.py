"""The plugin author's API: one namespace, documented and cheap to import; every import
path of automl 0.1 still works, with a DeprecationWarning naming the new home."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import automl.plugin
from automl import _compat
from automl.plugin.docs import render_api

OLD_API = json.loads((Path(__file__).parent / "automl_0_1_api.json").read_text())
# automl 0.1 names deleted on purpose: internal paths that only tests called.
DELETED = {
    ("automl.evaluation", "evaluate_top_k"): "Finisher.evaluate_test (one path, in a worker)",
    ("automl.evaluation", "refit_best"): "Finisher.refit",
    ("automl.evaluation", "score_checkpoints"): "Finisher.evaluate_test",
    ("automl.evaluation", "refit"): "TrialRunner.refit",
    ("automl.execution", "run_trial"): "the controller's InlinePool",
    ("automl.pool", "EpochHandler"): "automl.execution.pool.EpochListener",
    ("automl.pool", "SettleHandler"): "automl.execution.pool.EpochListener",
}


def test_every_public_name_is_exported_typed_and_documented() -> None:
    names = set(automl.plugin.__all__)
    assert names == set(dir(automl.plugin))
    for name in names:
        assert getattr(automl.plugin, name) is not None
    table = render_api()  # raises for a public name without a docstring
    assert all(f"| `{name}` |" in table for name in names)
    source = Path(automl.plugin.__file__).read_text()
    typed = source[source.index("if TYPE_CHECKING:"):source.index("else:")]
    missing = [n for n in names if n not in typed and n != "hookimpl"]
    assert not missing  # each name is imported for type checkers too


def test_what_a_model_plugin_needs_is_there() -> None:
    needed = {"hookimpl", "Trainer", "TrialContext", "Decision", "StopReason", "Dataset",
              "DatasetLoader", "TorchTrainer", "RegisterTrainer", "RegisterDataset",
              "RegisterSampler", "RegisterPruner", "check_trainer", "check_dataset",
              "check_plugin", "check_space", "ExecutionOptions", "Reporter"}
    assert needed <= set(automl.plugin.__all__)
    assert automl.plugin.hookimpl is automl.hookimpl


def test_importing_the_plugin_api_imports_no_torch_optuna_or_pandas() -> None:
    code = ("import sys, automl.plugin; "
            "print(sorted(m for m in ('torch', 'optuna', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def _fresh_import(name: str) -> object:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(set(OLD_API) - {"automl.execution"}))
def test_every_0_1_module_imports_with_a_deprecation_warning(old: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"{old.replace('.', '[.]')} moved to"):
        module = _fresh_import(old)
    for name in OLD_API[old]:
        if (old, name) in DELETED:
            with pytest.raises(AttributeError, match="moved to"):
                getattr(module, name)
            continue
        assert getattr(module, name) is not None, f"{old}.{name}"


def test_the_0_1_names_of_automl_execution_still_resolve() -> None:
    """``automl.execution`` was a module and is a package now: the same names resolve."""
    import automl.execution

    for name in OLD_API["automl.execution"]:
        if ("automl.execution", name) in DELETED:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert getattr(automl.execution, name) is not None, name
    with pytest.warns(DeprecationWarning, match="automl.execution.TrialOutcome moved"):
        automl.execution.TrialOutcome  # noqa: B018


def test_renamed_names_are_the_new_objects() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from automl.judge import TrialJudge  # type: ignore[import-not-found]
        from automl.studies import ATTR, RESULT  # type: ignore[import-not-found]
        from automl.torch import TorchTrainer  # type: ignore[import-not-found]
        from automl.trainer import TrialContext  # type: ignore[import-not-found]
    from automl.engine.keys import STUDY_RECORD, TRIAL_RESULT
    from automl.engine.supervisor import TrialSupervisor

    assert TrialJudge is TrialSupervisor and (ATTR, RESULT) == (STUDY_RECORD, TRIAL_RESULT)
    assert TorchTrainer is automl.plugin.TorchTrainer
    assert TrialContext is automl.plugin.TrialContext


def test_the_moved_table_names_only_modules_that_are_gone(tmp_path: Path) -> None:
    root = Path(automl.plugin.__file__).parents[1]
    for old in _compat.MOVED:
        relative = Path(*old.split(".")[1:])
        assert not (root / f"{relative}.py").exists(), f"{old} is a file again"
        for target in _compat.MOVED[old][0]:
            importlib.import_module(target)


def test_a_context_built_the_0_1_way_still_works(tmp_path: Path) -> None:
    seen: list[int] = []

    def judge(epoch: int, metrics: object) -> automl.plugin.Decision:
        seen.append(epoch)
        return automl.plugin.Decision(improved=True)

    with pytest.warns(DeprecationWarning, match="options=ExecutionOptions"):
        ctx = automl.plugin.TrialContext(number=0, device="cpu", seed=1, max_epochs=2,
                                         checkpoint_path=tmp_path / "c.pt", compile=True,
                                         amp=False, data_on_device=True, _judge=judge)
    assert (ctx.compile, ctx.amp, ctx.threads, ctx.data_on_device) == (True, False, None, True)
    assert ctx.options == automl.plugin.ExecutionOptions(compile=True, amp=False,
                                                         data_on_device=True)
    assert ctx.report(1, {"val_loss": 1.0}).improved and seen == [1]
    with pytest.raises(TypeError, match="nonsense"):
        automl.plugin.TrialContext(number=0, device="cpu", seed=1, max_epochs=2,
                                   checkpoint_path=tmp_path / "c.pt", nonsense=1)
