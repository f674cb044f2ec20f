"""``automl leaderboard`` and ``automl report``: reading results back from storage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from automl.cli.output import echo_json

if TYPE_CHECKING:
    from collections.abc import Callable

    import optuna
    import pandas as pd


def _json_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--json", "as_json", is_flag=True,
                        help=f"Print JSON instead of a table: {what}.")


def _fmt(value: object) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def leaderboard_rows(study: str, top: int | None = None, storage: str | None = None
                     ) -> tuple[pd.DataFrame, list[str], int]:
    """What ``automl leaderboard`` shows: the leaderboard's best ``top`` rows (default: the
    study's ``report.top_k``) with every column of ``automl.leaderboard()``, the columns
    the terminal table shows, and the study's number of trials."""
    from automl.engine.studies import load_study
    from automl.reports import leaderboard_frame, objectives, top_k_of

    st = load_study(study, storage)
    frame = leaderboard_frame(st)
    k = top or top_k_of(st)
    objs = [o["metric"] for o in objectives(st)]
    params = list(dict.fromkeys(p for t in st.get_trials(deepcopy=False) for p in t.params))
    tests = [c for c in frame.columns if c.startswith("test_")
             and c.removeprefix("test_") in {o.removeprefix("val_") for o in objs}]
    cols = [c for c in ["rank", "trial", "state", *objs, *tests, "stop_reason", "epochs",
                        "members", *params, "duration_s"] if c in frame.columns]
    # The best k trials, and the ensemble row (where there is one) wherever it ranks.
    ensemble = (frame["state"] == "ensemble").to_numpy()
    shown = frame[((~ensemble).cumsum() <= k) | ensemble]
    return shown.reset_index(drop=True), cols, int((~ensemble).sum())


@click.command()
@click.argument("study")
@click.option("--top", "top", type=click.IntRange(min=1), help="Rows to show (default: "
              "the study's report.top_k).")
@click.option("--storage", metavar="URL", help="Storage URL (default: reports/STUDY/study.db).")
@_json_option("the rows, best first, with every column of leaderboard.csv")
def leaderboard(study: str, top: int | None, storage: str | None, as_json: bool) -> None:
    """Print a study's leaderboard in the terminal."""
    rows, cols, total = leaderboard_rows(study, top, storage)
    if as_json:
        echo_json(rows.to_dict(orient="records"))
        return
    from rich.table import Table

    from automl.cli.console import console

    shown = int((rows["state"] != "ensemble").sum())
    extra = " and the ensemble" if shown < len(rows) else ""
    table = Table(title=f"{study}: {total} trials, top {shown}{extra}")
    for c in cols:
        table.add_column(c, justify="right" if c not in ("state", "stop_reason") else "left")
    for _, row in rows.iterrows():
        table.add_row(*(_fmt(row[c]) for c in cols))
    console().print(table)


@click.command()
@click.argument("study")
@click.option("--storage", metavar="URL", help="Storage URL (default: reports/STUDY/study.db).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write to (default: reports/STUDY).")
def report(study: str, storage: str | None, out: Path | None) -> None:
    """Regenerate a study's reports from storage."""
    from automl.engine.studies import default_report_dir, load_study
    from automl.reports import top_k_of, write_reports
    from automl.reports.folder import check_folder_name, claim_report_dir

    if out is None:  # the folder comes from the name: it must stay inside reports/
        check_folder_name(study)
    st = load_study(study, storage)
    folder = claim_report_dir(out or default_report_dir(study), study)
    write_reports(st, folder, top_k_of(st), html=True)
    written = ", ".join(n for n in ("leaderboard.csv", "leaderboard.md", "report.html")
                        if (folder / n).exists())
    click.echo(f"wrote {written} in {folder}")


@click.command()
@click.argument("study_a")
@click.argument("study_b")
@click.option("--storage", metavar="URL", help="Storage of both studies (default: each "
              "study's reports/STUDY/study.db).")
@click.option("--storage-b", metavar="URL", help="Storage of STUDY_B when it differs.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison with both studies' curves as a "
                   "self-contained HTML page here.")
def compare(study_a: str, study_b: str, storage: str | None, storage_b: str | None,
            out: Path | None) -> None:
    """Put two studies' best trials (and, with --out, their curves) side by side."""
    from rich.table import Table

    from automl.cli.console import console
    from automl.engine.studies import load_study
    from automl.reports.compare import compare_rows, render_compare
    from automl.reports.writers import atomic_write

    if out is not None:
        _check_page_path(out)
    a = load_study(study_a, storage)
    b = load_study(study_b, storage_b or storage)
    rows = compare_rows(a, b)
    table = Table(title=f"{study_a} vs {study_b}: best trials")
    table.add_column("")
    table.add_column(study_a, justify="right")
    table.add_column(study_b, justify="right")
    for field, x, y in rows[1:]:
        # the console prints without markup: user strings are shown as typed
        table.add_row(field, x, y,
                      style="bold" if field in ("best trial",) else None)
    console().print(table)
    if out is not None:
        _write_page(out, render_compare(a, b), atomic_write)
        click.echo(f"wrote {out}")


def _check_page_path(out: Path) -> None:
    """Refuse (one line, exit 2) a ``compare --out`` that is a folder or has an over-long
    name, before any study is read."""
    import os

    from automl.errors import UsageError

    if any(len(os.fsencode(part)) > 255 for part in out.parts):
        raise UsageError(f"--out {str(out)[:80]}...: a name longer than 255 bytes")
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory: give the page's file name "
                         "(e.g. compare.html)")


def _write_page(out: Path, text: str, write: Callable[[Path, str], None]) -> None:
    """Write ``compare --out``'s page; a path that cannot be written is a UsageError."""
    from automl.errors import UsageError

    try:
        write(out, text)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write it "
                         f"({exc.strerror or type(exc).__name__})") from None


# -- automl studies ----------------------------------------------------------------------------
_STUDY_DBS = "reports/*/study.db"


def study_rows(storage: str | None = None, cwd: Path | None = None) -> list[dict[str, Any]]:
    """What ``automl studies`` shows: one row per study in ``storage``, or, without one, in
    every ``reports/*/study.db`` under ``cwd`` (where ``automl search`` keeps them). Nothing
    is created or written: SQLite files are opened read-only. A file that cannot be read
    is one row with ``error`` set (its folder's name as ``study``); a bad ``storage`` is a
    UsageError."""
    from automl.engine.studies import _redact, make_storage, sqlite_url, storage_reason
    from automl.errors import AutomlError, UsageError

    if storage is None:
        rows: list[dict[str, Any]] = []
        for db in sorted((cwd or Path.cwd()).glob(_STUDY_DBS)):
            try:
                rows += _rows_of(_read_only_sqlite(db), sqlite_url(db))
            except Exception as exc:  # noqa: BLE001 - any unreadable file is listed as such
                rows.append(_unreadable(db.parent.name, sqlite_url(db), exc))
        return rows
    shown = _redact(storage)
    if storage.startswith("sqlite:"):
        path = Path(storage.removeprefix("sqlite:///"))
        if storage.startswith("sqlite:///") and path.is_dir():
            raise UsageError(f"--storage {shown}: {path} is a folder, not an SQLite file")
        if not storage.startswith("sqlite:///") or not path.is_file():
            raise UsageError(f"--storage {shown}: no SQLite file at {path} (expected "
                             "sqlite:///PATH to an existing file)")
        from automl.engine.studies import check_sqlite_file

        # the file named is not a study database: say so (exit 1 or 2), not a row
        check_sqlite_file(path, shown)
        try:
            return _rows_of(_read_only_sqlite(path), shown)
        except Exception as exc:  # noqa: BLE001
            raise AutomlError(f"--storage {shown}: cannot read it: {storage_reason(exc)}") from None
    import sqlalchemy.exc

    try:
        store = make_storage(storage, create=False, heartbeat=False)
    except AutomlError:
        raise  # already one line: a bad URL (exit 2) or a server that does not answer (1)
    except (sqlalchemy.exc.ArgumentError, ValueError, ImportError) as exc:
        raise UsageError(f"--storage {shown}: not a storage URL automl can open "
                         f"({storage_reason(exc)}); expected sqlite:///PATH or "
                         "postgresql://USER:PASSWORD@HOST/DB") from None
    except Exception as exc:  # noqa: BLE001 - a server that does not answer, say
        raise AutomlError(f"--storage {shown}: cannot read it: {storage_reason(exc)}") from None
    try:
        return _rows_of(store, shown)
    except Exception as exc:  # noqa: BLE001
        raise AutomlError(f"--storage {shown}: cannot read it: {storage_reason(exc)}") from None


def _read_only_sqlite(path: Path) -> optuna.storages.BaseStorage:
    """An Optuna storage on the SQLite file ``path``, opened read-only (SQLite's
    ``mode=ro``): nothing is created, not even a missing file. A file that is not an Optuna
    database raises, with SQLite's reason."""
    import sqlite3
    import warnings
    from contextlib import closing
    from urllib.parse import quote

    import optuna

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    with closing(connect()) as conn:  # SQLite's own reason for a junk file
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "studies" not in tables:
        raise ValueError("not an Optuna study database (no 'studies' table)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # the connection is ours (`creator`): SQLAlchemy's URL would re-read the file name
        return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": connect},
                                          skip_table_creation=True)


def _rows_of(store: optuna.storages.BaseStorage, shown: str) -> list[dict[str, Any]]:
    import optuna

    return [_study_row(optuna.load_study(study_name=name, storage=store), shown)
            for name in sorted(optuna.get_all_study_names(storage=store))]


def _study_row(st: optuna.Study, storage: str) -> dict[str, Any]:
    import datetime as dt

    from optuna.trial import TrialState

    from automl.engine.trials import counted
    from automl.reports import objectives

    trials = st.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    multi = len(st.directions) > 1
    best_value = best_trial = pareto = None
    if TrialState.COMPLETE in states:
        try:
            if multi:
                pareto = len(st.best_trials)
            else:
                best = st.best_trial
                best_value, best_trial = best.value, best.number
        except (ValueError, RuntimeError):  # no feasible complete trial
            pass
    stamps = [t.datetime_complete or t.datetime_start for t in trials]
    newest = max((s for s in stamps if s is not None), default=None)
    return {
        "study": st.study_name,
        "trials": counted(trials),
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
        "running": states.count(TrialState.RUNNING),
        "best_value": best_value,
        "best_trial": best_trial,
        "pareto_front": pareto,
        "directions": [d.name.lower() for d in st.directions],
        "objectives": objectives(st),
        # Optuna stores local naive times: astimezone() reads them as such
        "last_update": None if newest is None else
        newest.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "storage": storage,
        "error": None,
    }


def _unreadable(study: str, storage: str, exc: BaseException) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(
        ("trials", "complete", "pruned", "failed", "running", "best_value", "best_trial",
         "pareto_front", "directions", "objectives", "last_update"))
    from automl.engine.studies import storage_reason

    return {"study": study, **row, "storage": storage, "error": storage_reason(exc)}


def _objective_text(row: dict[str, Any]) -> str:
    arrows = {"maximize": "↑", "minimize": "↓"}
    return ", ".join(f"{o['metric']} {arrows.get(o['direction'], o['direction'])}"
                     for o in row["objectives"] or [])


@click.command()
@click.option("--storage", metavar="URL", help="Storage to list (sqlite:///PATH or "
              "postgresql://...; default: every reports/*/study.db under this folder).")
@_json_option("study, trials (counted against the budget), complete, pruned, failed, "
              "running, best_value, directions, last_update (UTC), storage, error")
def studies(storage: str | None, as_json: bool) -> None:
    """List the studies in a storage: trials, best value, last update. Reads only."""
    rows = study_rows(storage)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        from automl.redaction import redact_url

        where = redact_url(storage) if storage else f"{_STUDY_DBS} under {Path.cwd()}"
        click.echo(f"no studies in {where}")
        return
    from rich.table import Table

    from automl.cli.console import console

    table = Table(title=f"automl studies: {len(rows)}")
    cols = ["study", "trials", "complete", "pruned", "failed", "running", "best",
            "objective", "last update (UTC)", "storage"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("study", "objective", "storage")
                         else "right")
    for row in rows:
        if row["error"]:
            cells = [row["study"], *[""] * 8, row["storage"]]
            cells[6] = f"unreadable: {row['error']}"
            table.add_row(*cells, style="red")
            continue
        best = _fmt(row["best_value"]) if row["pareto_front"] is None else \
            f"{row['pareto_front']} on the Pareto front"
        updated = (row["last_update"] or "").replace("T", " ").removesuffix("+00:00")
        table.add_row(*(str(c) for c in (
            row["study"], row["trials"], row["complete"], row["pruned"], row["failed"],
            row["running"], best or "-", _objective_text(row), updated, row["storage"])))
    console().print(table)
