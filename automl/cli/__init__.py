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
@click.option("--no-plugin", "no_plugins", multiple=True, metavar="NAME",
              help="Do not load the plugin NAME (repeatable; `automl plugins list` names "
                   "them). AUTOML_PLUGINS=a,b loads only those.")
def main(no_plugins: tuple[str, ...]) -> None:
    """Find the best model and hyperparameters for your data from one YAML spec."""
    if no_plugins:
        from automl.cli.plugin_commands import block_plugins

        block_plugins(no_plugins)


def _register() -> None:
    from automl.cli import models, plugin_commands, results, run, spaces

    main.add_command(run.search)
    main.add_command(run.validate)
    main.add_command(run.worker)
    main.add_command(results.leaderboard)
    main.add_command(results.report)
    main.add_command(results.compare)
    main.add_command(results.studies)
    main.add_command(models.predict)
    main.add_command(models.export)
    main.add_command(plugin_commands.plugins)
    main.add_command(spaces.spaces)


_register()
