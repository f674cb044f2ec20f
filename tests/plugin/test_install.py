"""The third-party path for real: `automl plugins new`, `pip install`, the package's own
tests, `automl plugins list`, `automl search` with its trainer, `pip uninstall`.

The package is installed into a virtual environment made for the test, which sees this
environment's packages through a ``.pth`` file: nothing is downloaded (``--no-index``,
``--no-deps``, no build isolation), and a failed or killed run leaves this environment
as it was. The uninstall runs in ``finally`` all the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl.cli import main
from tests.helpers import REPO

CLI = "import sys; from automl.cli import main; sys.exit(main(prog_name='automl'))"
NAME = "pip-probe"
DIST, TRAINER = "automl-pip-probe", "pip_probe"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AUTOML_PLUGINS", "AUTOML_BLOCK_PLUGINS", "PYTHONPATH")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run(args: list[str | Path], cwd: Path, timeout: float = 240) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _pip_has_python_option() -> bool:
    from importlib.metadata import version

    major, minor = (int(p) for p in version("pip").split(".")[:2])
    return (major, minor) >= (22, 3)


def make_venv(root: Path) -> Path:
    """A venv whose Python also sees this environment's packages (automl, torch, ...)."""
    # pip older than 22.3 cannot install into another interpreter: give the venv its own
    # (ensurepip installs the copy bundled with Python, offline).
    venv.EnvBuilder(with_pip=not _pip_has_python_option()).create(root)
    python = root / "bin" / "python"
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               root).strip()
    parents = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    # addsitedir, not a bare path: the parent's own .pth files (the editable automl) count
    Path(site, "_parent_env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    return python


def pip(python: Path, *args: str, cwd: Path) -> str:
    if _pip_has_python_option():
        return run([sys.executable, "-m", "pip", "--python", python,
                    "--disable-pip-version-check", *args], cwd)
    return run([python, "-m", "pip", "--disable-pip-version-check", *args], cwd)


@pytest.mark.slow
def test_new_plugin_installs_with_pip_and_searches_through_the_cli(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    made = CliRunner().invoke(main, ["plugins", "new", NAME, "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    package = tmp_path / DIST
    try:
        pip(python, "install", "--no-deps", "--no-build-isolation", "--no-index",
            str(package), cwd=tmp_path)

        # the package's own tests pass as generated
        tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], package)
        assert "3 passed" in tests

        listing = json.loads(run([python, "-c", CLI, "plugins", "list", "--json"], tmp_path))
        plugin = next(p for p in listing["plugins"] if p["name"] == TRAINER)
        assert plugin == {"name": TRAINER, "module": "automl_pip_probe", "distribution": DIST,
                          "version": "0.1.0", "status": "ok", "error": None,
                          "provides": {"trainer": [TRAINER]}}

        out = run([python, "-c", CLI, "search", "--space", f"search_spaces/{TRAINER}.yaml",
                   "--trials", "2", "--set", "budget.max_epochs=3"], package)
        assert f"study {TRAINER}: 2 trials" in out and "best: trial" in out
        board = (package / "reports" / TRAINER / "leaderboard.csv").read_text()
        assert board.count("\n") == 3  # a header and two trials
    finally:
        pip(python, "uninstall", "--yes", DIST, cwd=tmp_path)
    gone = subprocess.run([str(python), "-c", f"import importlib.metadata as m; "
                           f"m.distribution({DIST!r})"], env=_env(), capture_output=True)
    assert gone.returncode != 0


LEGACY = REPO / "tests" / "legacy_plugin"
LEGACY_DIST = "automl-legacy-probe"


@pytest.mark.slow
def test_a_plugin_written_for_automl_0_1_installs_and_searches_unchanged(tmp_path: Path) -> None:
    """The plugin imports automl.torch, automl.trainer, automl.testing, ...: pip-installed,
    it is found through its entry point and its trainer and sampler run a search."""
    python = make_venv(tmp_path / "venv")
    package = tmp_path / "legacy"
    shutil.copytree(LEGACY, package, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        pip(python, "install", "--no-deps", "--no-build-isolation", "--no-index",
            str(package), cwd=tmp_path)
        listing = json.loads(run([python, "-c", CLI, "plugins", "list", "--json"], tmp_path))
        plugin = next(p for p in listing["plugins"] if p["name"] == "legacy_probe")
        assert plugin["status"] == "ok" and plugin["distribution"] == LEGACY_DIST
        assert plugin["provides"] == {"trainer": ["legacy_centroid", "legacy_mlp"],
                                      "dataset": ["legacy_blobs"],
                                      "sampler": ["legacy_sobol"]}
        out = run([python, "-c", CLI, "search", "--space", "search_spaces/legacy.yaml"],
                  package)
        assert "study legacy: 3 trials (3 complete)" in out, out
        board = (package / "reports" / "legacy" / "leaderboard.csv").read_text()
        assert board.count("\n") == 4  # a header and three trials
    finally:
        pip(python, "uninstall", "--yes", LEGACY_DIST, cwd=tmp_path)
