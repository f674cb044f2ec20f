"""``automl spaces``: the spec files found in ./search_spaces and installed with automl."""

from __future__ import annotations

import click


@click.command()
def spaces() -> None:
    """List the spec files that `--space NAME` finds."""
    from automl.spec import list_spaces

    for name, path in list_spaces():
        click.echo(f"{name:20} {path}")
