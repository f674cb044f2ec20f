"""Finding spec files by name: a path, ./search_spaces/, then the installed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.errors import UsageError
from automl.spec import list_spaces, locate, resolve_space_path


@pytest.fixture()
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A working folder with ./search_spaces/ and a fake installed spec folder."""
    cwd = tmp_path / "work"
    (cwd / "search_spaces").mkdir(parents=True)
    installed = tmp_path / "installed"
    installed.mkdir()
    for name in ("cnn.yaml", "mlp.yaml", "tabular.yml", "notes.txt"):
        (installed / name).write_text("trainer: x\n")
    (cwd / "search_spaces" / "cnn.yaml").write_text("trainer: local\n")
    monkeypatch.setattr(locate, "_installed_dir", lambda: installed)
    return cwd, installed


def test_an_existing_path_is_used_as_is(folders: tuple[Path, Path]) -> None:
    cwd, installed = folders
    assert resolve_space_path(str(installed / "mlp.yaml")) == installed / "mlp.yaml"
    (cwd / "mine.yaml").write_text("trainer: x\n")
    assert resolve_space_path("mine.yaml", cwd=cwd) == cwd / "mine.yaml"


@pytest.mark.parametrize(
    ("name", "where", "file"),
    [
        ("cnn", "work/search_spaces", "cnn.yaml"),  # the local one hides the installed one
        ("cnn.yaml", "work/search_spaces", "cnn.yaml"),
        ("mlp", "installed", "mlp.yaml"),
        ("mlp.yaml", "installed", "mlp.yaml"),
        ("tabular", "installed", "tabular.yml"),
    ],
)
def test_bare_names(folders: tuple[Path, Path], name: str, where: str, file: str) -> None:
    cwd, _ = folders
    assert resolve_space_path(name, cwd=cwd) == cwd.parent / where / file


def test_unknown_name_lists_what_there_is(folders: tuple[Path, Path]) -> None:
    cwd, _ = folders
    with pytest.raises(UsageError) as info:
        resolve_space_path("cnnn", cwd=cwd)
    message = str(info.value)
    assert "--space cnnn: no such file (did you mean 'cnn'?)" in message
    assert "cnn, mlp, tabular" in message


def test_a_missing_path_is_not_looked_up_by_name(folders: tuple[Path, Path]) -> None:
    cwd, _ = folders
    with pytest.raises(UsageError, match="no such file;"):
        resolve_space_path("elsewhere/cnn.yaml", cwd=cwd)


def test_a_folder_is_not_a_spec(folders: tuple[Path, Path]) -> None:
    cwd, _ = folders
    with pytest.raises(UsageError, match="is a folder"):
        resolve_space_path("search_spaces", cwd=cwd)


def test_list_spaces(folders: tuple[Path, Path]) -> None:
    cwd, installed = folders
    assert list_spaces(cwd) == [
        ("cnn", cwd / "search_spaces" / "cnn.yaml"),
        ("mlp", installed / "mlp.yaml"),
        ("tabular", installed / "tabular.yml"),
    ]


def test_without_installed_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "_installed_dir", lambda: None)
    assert list_spaces(tmp_path) == []
    with pytest.raises(UsageError, match="available by name: none"):
        resolve_space_path("cnn", cwd=tmp_path)


def test_the_installed_dir_holds_the_bundled_specs() -> None:
    found = locate._installed_dir()
    assert found is not None and found.is_dir()
    assert {"cnn", "mlp", "tabular"} <= {p.stem for p in found.glob("*.yaml")}
