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
        from automl.library_warnings import held_back

        try:
            # What a library warned of on the way to a clear error is not printed before it.
            with held_back():
                return super().invoke(ctx)
        except AutomlError as exc:
            from automl.redaction import redact_text

            # The one line a user sees: never a storage URL's password, whoever raised it.
            click.echo(f"error: {redact_text(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            # A database that fails after it opened (a server gone mid-command, pages of a
            # damaged file read late) is a fault at run time: one line, exit 1.
            reason = _storage_fault(exc)
            if reason is None:
                raise
            click.echo(f"error: storage: {reason}", err=True)
            sys.exit(1)


def _storage_fault(exc: BaseException) -> str | None:
    """The one-line reason of a storage error raised past the engine, else ``None``."""
    if "sqlalchemy" not in sys.modules:
        return None  # nothing opened a database
    import optuna
    import sqlalchemy.exc

    from automl.engine.studies import storage_reason

    # the error itself, not its context: a bug raised while handling one stays a traceback
    if isinstance(exc, (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)):
        return storage_reason(exc)
    return None


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
    from automl.cli import dashboard, models, plugin_commands, results, run, spaces

    main.add_command(run.search)
    main.add_command(run.validate)
    main.add_command(run.worker)
    main.add_command(results.leaderboard)
    main.add_command(results.report)
    main.add_command(results.compare)
    main.add_command(results.studies)
    main.add_command(dashboard.dashboard)
    main.add_command(models.predict)
    main.add_command(models.export)
    main.add_command(plugin_commands.plugins)
    main.add_command(spaces.spaces)


_register()
