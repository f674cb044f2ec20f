"""Finding a spec file by name: ``--space cnn`` works from any folder.

A path that exists is used as is. A bare name is looked up in ``./search_spaces/`` and
then among the spec files installed with automl (the ``automl_spaces`` package).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from automl.errors import UsageError
from automl.spec.keypath import did_you_mean

__all__ = ["list_spaces", "resolve_space_path"]

_SUFFIXES = (".yaml", ".yml")
LOCAL_DIR = "search_spaces"


def _installed_dir() -> Path | None:
    """The folder of the spec files shipped with automl, when it is importable as files."""
    try:
        root = resources.files("automl_spaces")
    except (ModuleNotFoundError, TypeError, ValueError):
        return None
    path = Path(str(root))
    return path if path.is_dir() else None


def _folders(cwd: Path | None) -> list[Path]:
    folders = [(cwd or Path.cwd()) / LOCAL_DIR]
    installed = _installed_dir()
    if installed is not None:
        folders.append(installed)
    return [f for f in folders if f.is_dir()]


def list_spaces(cwd: Path | None = None) -> list[tuple[str, Path]]:
    """``(name, path)`` of every spec file findable by name; local ones hide installed ones."""
    found: dict[str, Path] = {}
    for folder in _folders(cwd):
        for path in sorted(folder.iterdir()):
            if path.suffix in _SUFFIXES and path.is_file():
                found.setdefault(path.stem, path)
    return sorted(found.items())


def resolve_space_path(name: str, cwd: Path | None = None) -> Path:
    """The spec file ``name`` refers to (a path, or a bare name like ``cnn`` or ``cnn.yaml``).

    Raises UsageError, listing the available names, when there is none.
    """
    given = Path(name)
    if not given.is_absolute() and cwd is not None:
        given = cwd / given
    if given.is_file():
        return given
    if given.exists():
        raise UsageError(f"--space {name}: is a folder, not a spec file")
    bare = Path(name).name == name
    if bare:
        stem = Path(name).stem if Path(name).suffix in _SUFFIXES else name
        for folder in _folders(cwd):
            for suffix in _SUFFIXES:
                candidate = folder / (stem + suffix)
                if candidate.is_file():
                    return candidate
    names = [n for n, _ in list_spaces(cwd)]
    hint = did_you_mean(Path(name).stem, names) if bare else ""
    available = ", ".join(names) if names else "none"
    raise UsageError(
        f"--space {name}: no such file{hint}; spec files available by name: {available}"
        f" (from ./{LOCAL_DIR}/ and the ones installed with automl)"
    )
