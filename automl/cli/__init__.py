"""The ``automl`` command line. Errors are turned into one line and an exit code here, and
only here: 0 done, 1 a failure at run time, 2 a bad command or spec, 130 interrupted."""

from __future__ import annotations

import sys
from typing import Any

import click

from automl.errors import AutomlError


class _Group(click.Group):
    """A click group that is automl's one error boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AutomlError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl", prog_name="automl")
def main() -> None:
    """Find the best model and hyperparameters for your data from one YAML spec."""


def _register() -> None:
    from automl.cli import plugins, results, run, spaces

    main.add_command(run.search)
    main.add_command(run.validate)
    main.add_command(results.leaderboard)
    main.add_command(results.report)
    main.add_command(plugins.plugins)
    main.add_command(spaces.spaces)


_register()
