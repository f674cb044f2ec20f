"""``automl plugins``: what is installed and what it provides."""

from __future__ import annotations

import click


@click.group()
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
def list_plugins() -> None:
    """List plugins, their package, and the trainers and datasets they register."""
    from rich.table import Table

    from automl.cli.console import console
    from automl.plugins import get_plugin_host

    host = get_plugin_host()
    table = Table(title="automl plugins")
    for col in ("plugin", "package", "provides", "status"):
        table.add_column(col)
    for info in sorted(host.plugins.values(), key=lambda p: p.name):
        package = f"{info.distribution} {info.version}" if info.distribution else info.module
        provides = "; ".join(f"{kind}s: {', '.join(names)}"
                             for kind, names in sorted(info.provides.items()))
        table.add_row(info.name, package, provides or "-",
                      f"failed: {info.error}" if info.error else "ok")
    out = console()
    out.print(table)
    for kind, registry in (("trainers", host.trainers), ("datasets", host.datasets)):
        items = Table(title=kind)
        for col in ("name", "plugin", "description"):
            items.add_column(col)
        for name, obj, plugin in registry:
            items.add_row(name, plugin, getattr(obj, "description", "") or "")
        out.print(items)
