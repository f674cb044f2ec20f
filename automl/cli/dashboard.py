"""``automl dashboard STUDY``: optuna-dashboard on the study's storage, on 127.0.0.1.

optuna-dashboard is an optional dependency (``pip install 'automl[dashboard]'``). The
page is served on the loopback address only: a study holds data, params and error texts,
and sharing it further is a decision for the user (an SSH tunnel, a reverse proxy), not a
default. The server reads the storage as any other reader does, so it can watch a search
that is running (the default SQLite file is written behind the search, every few
seconds).
"""

from __future__ import annotations

import socketserver
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import click

from automl.errors import UsageError

if TYPE_CHECKING:
    import optuna

HOST = "127.0.0.1"


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request: the page asks for several things at once."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
        """Requests are not logged: the terminal shows the address and errors only."""


def _artifact_folder(study: optuna.Study, storage: str) -> Path | None:
    """The study's artifact store folder, from the spec it was created with."""
    from automl.engine.study_artifacts import artifact_dir
    from automl.engine.study_setup import stored_spec
    from automl.reports.artifacts import store_root

    try:
        spec = stored_spec(study.study_name, storage)
    except (UsageError, ValueError):  # a study not made by automl: no artifacts of ours
        return None
    from automl.engine.studies import report_dir_of

    report_dir = report_dir_of(spec, study.study_name)
    folder = artifact_dir(store_root(spec, report_dir))
    return folder if folder.is_dir() else None


def serve(study_name: str, storage: str | None, port: int,
          ready: Any = None) -> None:
    """Serve optuna-dashboard for ``study_name`` until interrupted; ``ready(url)`` is
    called once the port is bound (the CLI prints it)."""
    try:
        import optuna_dashboard
    except ImportError:
        raise UsageError("optuna-dashboard is not installed: pip install "
                         "'automl[dashboard]' (or pip install optuna-dashboard)") from None
    from automl.engine.studies import load_study, resolve_storage

    url = resolve_storage(study_name, storage)
    study = load_study(study_name, url)
    folder = _artifact_folder(study, url)
    store = None
    if folder is not None:
        from optuna.artifacts import FileSystemArtifactStore

        store = FileSystemArtifactStore(str(folder))
    app = optuna_dashboard.wsgi(study._storage, artifact_store=store)
    try:
        server = make_server(HOST, port, app, server_class=_ThreadingServer,
                             handler_class=_QuietHandler)
    except OSError as exc:
        raise UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}; pick "
                         "another --port (0: any free port)") from None
    with server:
        bound = server.server_address[1]
        study_id = study._study_id
        if ready is not None:
            ready(f"http://{HOST}:{bound}/dashboard/studies/{study_id}")
        server.serve_forever()


@click.command()
@click.argument("study")
@click.option("--storage", metavar="URL", help="Storage URL (default: reports/STUDY/study.db).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
def dashboard(study: str, storage: str | None, port: int) -> None:
    """Watch a study in optuna-dashboard (metrics, learning curves, artifacts), served on
    127.0.0.1 until Ctrl-C."""

    def ready(url: str) -> None:
        click.echo(f"optuna-dashboard for study {study} at {url} (Ctrl-C to stop)")

    serve(study, storage, port, ready)
