"""`automl plugins new NAME`: the names, the files, and a package that is ready to use."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.errors import UsageError
from automl.plugin.scaffold import Names, new_plugin
from automl.plugin.testing import check_space, plugin_host
from tests.helpers import REPO


@pytest.mark.parametrize(("name", "dist", "module", "trainer"), [
    ("tiny", "automl-tiny", "automl_tiny", "tiny"),
    ("My-Model", "automl-my-model", "automl_my_model", "my_model"),
    ("automl-gru", "automl-gru", "automl_gru", "gru"),
    ("a__b--c", "automl-a-b-c", "automl_a_b_c", "a_b_c"),
])
def test_names(name: str, dist: str, module: str, trainer: str) -> None:
    assert Names.from_name(name) == Names(dist=dist, module=module, plugin=trainer,
                                          trainer=trainer)


@pytest.mark.parametrize("bad", ["9lives", "", "my model", "x.y", "-x"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(UsageError, match="use letters, digits, - and _"):
        Names.from_name(bad)


def test_new_writes_a_complete_package(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plugins", "new", "Tiny-Net", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "automl-tiny-net"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "automl_tiny_net.py", "pyproject.toml",
                     "search_spaces/tiny_net.yaml", "tests/test_tiny_net.py"]
    assert "pip install -e ." in result.output and "search_spaces/tiny_net.yaml" in result.output
    project = (root / "pyproject.toml").read_text()
    for line in ('name = "automl-tiny-net"', "[project.entry-points.automl]",
                 'tiny_net = "automl_tiny_net"', 'py-modules = ["automl_tiny_net"]'):
        assert line in project.splitlines()
    assert "$" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())


def test_the_plugin_code_is_under_30_lines(tmp_path: Path) -> None:
    created = new_plugin("short", tmp_path)
    source = (created.root / "automl_short.py").read_text().splitlines()
    code = [line for line in source if line.strip() and not line.strip().startswith("#")]
    assert len(code) < 30


def test_the_generated_module_registers_a_trainer_its_space_can_search(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created = new_plugin("probe", tmp_path)
    spec = importlib.util.spec_from_file_location("automl_probe", created.root / "automl_probe.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "automl_probe", module)
    spec.loader.exec_module(module)
    host = plugin_host(module, entry_points=True)
    trainer = host.trainers.get("probe")
    assert host.trainers.provider("probe") == "automl_probe"
    assert "automl-probe" in trainer.description
    loaded = check_space(created.root / "search_spaces" / "probe.yaml", host=host)
    assert loaded.trainer == "probe" and loaded.study == "probe"


def test_the_generated_package_passes_ruff(tmp_path: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        ruff = Path(shutil.which("ruff") or "ruff")
    created = new_plugin("linted", tmp_path)
    # Its own view of the imports: automl is third-party there.
    proc = subprocess.run([str(ruff), "check", "--isolated", "--select", "E,F,I,B,UP",
                           "--line-length", "100", "."], cwd=created.root,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["mlp"], "a plugin named 'mlp' is already installed"),
    (["hist-gbm"], "a trainer named 'hist_gbm' is already installed (plugin 'sklearn')"),
    (["9x"], "use letters, digits"),
])
def test_new_refuses_with_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["plugins", "new", *args, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert not any(tmp_path.iterdir())


def test_new_does_not_overwrite(tmp_path: Path) -> None:
    new_plugin("once", tmp_path)
    (tmp_path / "automl-once" / "automl_once.py").write_text("# my work\n")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        new_plugin("once", tmp_path)
    assert (tmp_path / "automl-once" / "automl_once.py").read_text() == "# my work\n"


def test_the_readme_shows_the_plugin_new_writes(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Writing a plugin"):]
    block = section[section.index("```python\n") + 10:]
    block = block[:block.index("```")]
    generated = (new_plugin("tiny", tmp_path).root / "automl_tiny.py").read_text()
    shown = [line for line in block.splitlines() if line.strip()]
    assert len(shown) > 15
    assert "\n".join(shown) in "\n".join(line for line in generated.splitlines() if line.strip())
