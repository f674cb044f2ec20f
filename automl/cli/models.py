"""``automl predict`` and ``automl export``: using what a search found."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from automl.log import configure

# Files larger than this get a progress bar (on a terminal): counting their lines first
# costs a fraction of parsing them.
PROGRESS_MIN_BYTES = 4 << 20


@click.command()
@click.argument("source", metavar="REPORT_DIR_OR_STUDY")
@click.option("--data", "data", required=True, metavar="FILE",
              help="New raw data: CSV, Parquet, .npy or .npz, with the training columns "
                   "(the target may be there; it is ignored).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Where to write the predictions as CSV (default: standard output).")
@click.option("--trial", type=click.IntRange(min=0), help="A trial of the study instead of "
              "the best one (exported first if it was not).")
@click.option("--storage", metavar="URL", help="The study's storage, where it is not the "
              "default SQLite file in the report folder.")
@click.option("-v", "--verbose", count=True, help="More log output.")
def predict(source: str, data: str, out: Path | None, trial: int | None,
            storage: str | None, verbose: int) -> None:
    """Predict with a search's best model (or any trial's) on a new file.

    REPORT_DIR_OR_STUDY is a report folder (reports/digits-cnn), a model bundle folder
    (reports/digits-cnn/best) or a study name. One output row per input row: the
    prediction, and proba_<class> columns for a classifier.
    """
    from automl.errors import DataError
    from automl.models.load import load
    from automl.models.model import iter_chunks

    configure(verbose)
    model = load(source, trial, storage=storage)
    path = Path(data)
    if not path.is_file():
        raise DataError(f"--data {data}: no such file")
    writer = _Writer(out)
    with _bar(path) as advance:
        for chunk in iter_chunks(path):
            # messages name the file's rows, whichever chunk they are in
            frame = model.predict_frame(chunk, data, first_row=writer.rows + 1)
            writer.write(frame)
            advance(len(frame))
    writer.close()
    if out is not None:
        click.echo(f"{writer.rows} predictions of {model!r} written to {out}", err=True)


class _Writer:
    """CSV rows to a file (written whole at the end: no half file on an error) or stdout."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.rows = 0
        self._tmp = out.with_name(f".{out.name}.tmp") if out is not None else None
        self._handle: Any = None

    def write(self, frame: Any) -> None:
        if self._handle is None:
            if self._tmp is not None:
                self._tmp.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self._tmp.open("w", newline="")
            else:
                self._handle = sys.stdout
        frame.to_csv(self._handle, index=False, header=self.rows == 0)
        self.rows += len(frame)

    def close(self) -> None:
        if self._handle is None:  # no rows: still a header-less, empty file
            self.write_empty()
            return
        if self._tmp is not None and self.out is not None:
            self._handle.close()
            self._tmp.replace(self.out)
        else:
            self._handle.flush()

    def write_empty(self) -> None:
        if self.out is not None:
            self.out.write_text("prediction\n")
        else:
            click.echo("prediction")


class _bar:  # noqa: N801 - used as a context manager, like a function
    """A progress bar over a file's rows on a terminal, for large files; else nothing."""

    def __init__(self, path: Path) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.path = path
        self.enabled = (self.console.is_terminal
                        and path.stat().st_size >= PROGRESS_MIN_BYTES)
        self._progress: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda rows: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        total = _count_rows(self.path)
        self._progress = Progress("[bold]rows", BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=self.console)
        self._progress.start()
        task = self._progress.add_task("predict", total=total)
        return lambda rows: self._progress.advance(task, rows)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()


def _count_rows(path: Path) -> int | None:
    if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
        return None
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return max(lines - 1, 0)  # less the header


@click.command()
@click.argument("study")
@click.option("--trial", type=click.IntRange(min=0),
              help="The trial to export (default: the best).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="The bundle's folder (default: reports/<study>/bundles/trial_<N>).")
@click.option("--format", "format_", type=click.Choice(["bundle", "onnx"]), default="bundle",
              show_default=True, help="onnx: also write model.onnx, for serving.")
@click.option("--storage", metavar="URL", help="The study's storage, where it is not the "
              "default SQLite file in the report folder.")
@click.option("-v", "--verbose", count=True, help="More log output.")
def export(study: str, trial: int | None, out: Path | None, format_: str,
           storage: str | None, verbose: int) -> None:
    """Write a trial's model bundle (weights, params, input schema, metrics), training the
    trial again from its params when its weights were not kept."""
    from automl.models.export import ONNX_FILE, export_trial

    configure(verbose)
    with _epochs() as progress:
        folder = export_trial(study, trial, storage=storage, out=out, format=format_,
                              progress=progress)
    extra = f" and {ONNX_FILE}" if format_ == "onnx" else ""
    click.echo(f"model bundle{extra} written to {folder}")


class _epochs:  # noqa: N801 - used as a context manager, like a function
    """Epochs of a retraining: a bar on a terminal, a line per epoch otherwise."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        def advance(epoch: int, epochs: int) -> None:
            if not self.console.is_terminal:
                click.echo(f"training again: epoch {epoch}/{epochs}", err=True)
                return
            if self._progress is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress

                self._progress = Progress("[bold]training again", BarColumn(),
                                          MofNCompleteColumn(), console=self.console)
                self._progress.start()
                self._task = self._progress.add_task("epochs", total=epochs)
            self._progress.update(self._task, completed=epoch)

        return advance

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
