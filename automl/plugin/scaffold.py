"""``automl plugins new NAME``: write a ready plugin package from ``templates/plugin/``.

The package is the shortest complete plugin: a ``pyproject.toml`` with the ``automl``
entry point, one module with a small torch model registered as a trainer, a search
space, a README and a test built on :mod:`automl.plugin.testing`. It installs with pip and its
test passes as written (automl's own tests install one and run a search with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from automl.errors import PluginError, UsageError

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # fullmatch: `$` would allow a newline
MAX_NAME = 64

# template file -> path in the new package (formatted with the names below)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "module.py.tmpl": "{module}.py",
    "space.yaml.tmpl": "search_spaces/{trainer}.yaml",
    "test_plugin.py.tmpl": "tests/test_{trainer}.py",
}


@dataclass(frozen=True)
class Names:
    """The names one plugin goes by, derived from what the user typed."""

    dist: str  # the pip package: automl-my-model
    module: str  # the Python module: automl_my_model
    plugin: str  # the entry-point name (`--no-plugin`, AUTOML_PLUGINS): my_model
    trainer: str  # the trainer's name in specs: my_model

    @classmethod
    def from_name(cls, name: str) -> Names:
        """``My-Model``, ``my_model`` or ``automl-my-model`` -> the four names."""
        if not _NAME.fullmatch(name):
            raise UsageError(f"plugin name {name!r}: use letters, digits, - and _, starting "
                             "with a letter (for example: my-model)")
        if len(name) > MAX_NAME:
            raise UsageError(f"plugin name {name!r}: at most {MAX_NAME} characters (its "
                             "package, module and file names are made from it)")
        base = re.sub(r"[-_]+", "_", name.lower())
        base = base.removeprefix("automl_")
        if base in ("", "automl", "automl_"):
            raise UsageError(f"plugin name {name!r} names automl itself; give the plugin "
                             "a name of its own (for example: my-model)")
        if base.endswith("_"):  # pip refuses a project name not ending in a letter or digit
            raise UsageError(f"plugin name {name!r}: pip would refuse the package "
                             f"'automl-{base.replace('_', '-')}'; give a name that ends "
                             "with a letter or digit (for example: my-model)")
        return cls(dist="automl-" + base.replace("_", "-"), module="automl_" + base,
                   plugin=base, trainer=base)


@dataclass
class Created:
    """What :func:`new_plugin` wrote."""

    root: Path
    dist: str
    module: str
    plugin: str
    trainer: str
    files: list[Path] = field(default_factory=list)


def _template(name: str) -> str:
    return (resources.files("automl") / "templates" / "plugin" / name).read_text("utf-8")


def render(names: Names) -> dict[str, str]:
    """The package's files (relative path -> text), without writing anything."""
    values = {"dist": names.dist, "module": names.module, "plugin": names.plugin,
              "trainer": names.trainer}
    return {target.format(**values): Template(_template(source)).substitute(values)
            for source, target in FILES.items()}


def new_plugin(name: str, parent: str | Path = ".", *, check_conflicts: bool = True
               ) -> Created:
    """Write the plugin package ``automl-NAME`` into ``parent``; returns what was written.

    Refuses (``UsageError``) a bad name, an existing non-empty folder, and, with
    ``check_conflicts``, a trainer or plugin name that is already installed: installing
    the new package would then be a duplicate-name error.
    """
    names = Names.from_name(name)
    root = Path(parent) / names.dist
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} already exists and is not empty; pick another name or "
                         "folder (--dir)")
    if check_conflicts:
        _check_conflicts(names)
    created = Created(root=root, dist=names.dist, module=names.module, plugin=names.plugin,
                      trainer=names.trainer)
    for relative, text in render(names).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        created.files.append(path)
    return created


def _check_conflicts(names: Names) -> None:
    from automl.plugin.host import PluginHost

    host = PluginHost(allow=None, block=())
    if names.plugin in host.plugins:
        raise UsageError(f"a plugin named {names.plugin!r} is already installed "
                         f"({host.plugins[names.plugin].module}); pick another name")
    try:
        host.collect()
    except PluginError:
        return  # installed plugins conflict already; `automl plugins list` says how
    if names.trainer in host.trainers:
        raise UsageError(f"a trainer named {names.trainer!r} is already installed (plugin "
                         f"{host.trainers.provider(names.trainer)!r}); pick another name")
