"""``automl plugins``: what is installed and what it provides; a new plugin package."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from automl.plugin.host import PluginHost, Registry


@click.group()
def plugins() -> None:
    """Installed plugins, and new ones."""


def registries(host: PluginHost) -> dict[str, Registry[Any]]:
    """The host's registries by kind (``trainer``, ``dataset``, ...), in a fixed order."""
    found = {reg.kind: reg for reg in vars(host).values() if isinstance(reg, Registry)}
    return dict(sorted(found.items()))


def plugins_report(host: PluginHost) -> dict[str, Any]:
    """Everything ``automl plugins list`` shows, as plain data (``--json``)."""
    rows = []
    for info in sorted(host.plugins.values(), key=lambda p: p.name):
        rows.append({
            "name": info.name,
            "module": info.module,
            "distribution": info.distribution,
            "version": info.version,
            "status": "failed" if info.error else "ok",
            "error": info.error,
            "provides": {kind: sorted(names) for kind, names in sorted(info.provides.items())},
        })
    report: dict[str, Any] = {"plugins": rows}
    for kind, registry in registries(host).items():
        items = []
        for name, obj, plugin in registry:
            item: dict[str, Any] = {"name": name, "plugin": plugin,
                                    "description": _description(obj)}
            if kind == "trainer":
                item["tasks"] = list(getattr(obj, "tasks", ()))
            items.append(item)
        report[kind + "s"] = items
    return report


def _description(obj: Any) -> str:
    return str(getattr(obj, "description", "") or "").strip().split("\n")[0]


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: plugins, with their "
              "distribution, version and what each registers, and every registry.")
def list_plugins(as_json: bool) -> None:
    """List plugins, their package, and the trainers, datasets, samplers and pruners they
    register."""
    from automl.plugin.host import get_plugin_host

    report = plugins_report(get_plugin_host())
    if as_json:
        from automl.cli.output import echo_json

        echo_json(report)
        return
    from rich.table import Table

    from automl.cli.console import console

    table = Table(title="automl plugins")
    for col in ("plugin", "package", "provides", "status"):
        table.add_column(col)
    for p in report["plugins"]:
        package = f"{p['distribution']} {p['version']}" if p["distribution"] else p["module"]
        provides = "; ".join(f"{kind}s: {', '.join(names)}"
                             for kind, names in p["provides"].items())
        table.add_row(p["name"], package, provides or "-",
                      f"failed: {p['error']}" if p["error"] else "ok")
    out = console()
    out.print(table)
    for key, items in report.items():
        if key == "plugins" or not items:
            continue
        listing = Table(title=key)
        cols = ["name", "plugin", *(["tasks"] if key == "trainers" else []), "description"]
        for col in cols:
            listing.add_column(col)
        for item in items:
            listing.add_row(*(", ".join(item[c]) if c == "tasks" else item[c] for c in cols))
        out.print(listing)


@plugins.command("new")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Folder to create the package folder in.")
def new_plugin(name: str, parent: Path) -> None:
    """Write a ready plugin package NAME: pyproject with the entry point, a module with a
    small torch model, a search space and a test."""
    from automl.plugin.scaffold import new_plugin as scaffold

    created = scaffold(name, parent)
    click.echo(f"created {created.root}/")
    for path in created.files:
        click.echo(f"  {path.relative_to(created.root)}")
    click.echo(f"""
next:
  cd {created.root}
  pip install -e .                  # registers the plugin (entry point '{created.plugin}')
  automl plugins list               # shows trainer '{created.trainer}'
  automl search --space search_spaces/{created.trainer}.yaml
  pytest                            # the plugin's own tests""")


def block_plugins(names: Iterable[str]) -> None:
    """``--no-plugin NAME``: add ``names`` to ``AUTOML_BLOCK_PLUGINS`` for this process and
    the workers it starts, and forget any plugin host loaded before."""
    import importlib.metadata as md

    from automl.errors import UsageError
    from automl.hints import did_you_mean
    from automl.plugin.host import ENTRY_POINT_GROUP, reset_plugin_host

    installed = sorted({ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)})
    for name in names:
        if name not in installed:
            raise UsageError(f"--no-plugin {name}: no plugin named {name!r}"
                             f"{did_you_mean(name, installed)}; installed: "
                             f"{', '.join(installed) or 'none'}")
    blocked = [p.strip() for p in os.environ.get("AUTOML_BLOCK_PLUGINS", "").split(",")]
    merged = sorted({p for p in blocked if p} | set(names))
    os.environ["AUTOML_BLOCK_PLUGINS"] = ",".join(merged)
    reset_plugin_host()
