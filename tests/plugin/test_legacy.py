"""A plugin written against automl 0.1's modules (tests/legacy_plugin, kept unchanged on
purpose) still passes its own tests, is found, and trains in real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import REPO

LEGACY = REPO / "tests" / "legacy_plugin"
CLI = "import sys; from automl.cli import main; sys.exit(main(prog_name='automl'))"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOML_PLUGINS",
                                                            "AUTOML_BLOCK_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(LEGACY), str(REPO)])
    env.update(extra)
    return env


@pytest.mark.slow
def test_the_legacy_plugins_own_tests_pass_and_it_is_told_where_things_moved() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-W", "always::DeprecationWarning", "tests"], cwd=LEGACY,
                          env=_env(), capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "3 passed" in out
    for old, new in (("automl.torch", "automl.training"), ("automl.trainer",
                                                         "automl.plugin.trainer"),
                     ("automl.testing", "automl.plugin.testing"),
                     ("automl.algorithms", "automl.plugin.algorithms"),
                     ("automl.stopping", "automl.engine.stopping")):
        assert f"{old} moved to {new}" in out


@pytest.mark.slow
def test_a_search_with_the_legacy_plugin_runs_in_worker_processes(tmp_path: Path) -> None:
    env = _env(AUTOML_PLUGIN_MODULES="automl_legacy_probe", PYTHONWARNINGS="ignore")
    space = LEGACY / "search_spaces" / "legacy.yaml"
    for study, trainer in (("legacy-mlp", "legacy_mlp"), ("legacy-centroid",
                                                           "legacy_centroid")):
        args = [sys.executable, "-c", CLI, "search", "--space", str(space), "--study", study,
                "--workers", "1", "--set", f"trainer={trainer}"]
        if trainer == "legacy_centroid":
            args += ["--set", "params={shrink: {type: float, low: 0.0, high: 0.5}}"]
        proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        board = pd.read_csv(tmp_path / "reports" / study / "leaderboard.csv")
        assert len(board) == 3 and (board["state"] == "complete").all()
        assert board["val_accuracy"].max() > 0.6  # three blobs: chance is 1/3
        assert board["test_accuracy"].notna().any()  # scored on test in the worker too
