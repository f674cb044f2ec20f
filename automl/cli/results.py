"""``automl leaderboard`` and ``automl report``: reading results back from storage."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape


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


@click.command()
@click.argument("study")
@click.option("--top", "top", type=click.IntRange(min=1), help="Rows to show (default: "
              "the study's report.top_k).")
@click.option("--storage", metavar="URL", help="Storage URL (default: reports/STUDY/study.db).")
def leaderboard(study: str, top: int | None, storage: str | None) -> None:
    """Print a study's leaderboard in the terminal."""
    from rich.table import Table

    from automl.cli.console import console
    from automl.reports import leaderboard_frame, objectives, top_k_of
    from automl.search.studies import load_study

    st = load_study(study, storage)
    frame = leaderboard_frame(st)
    k = top or top_k_of(st)
    objs = [o["metric"] for o in objectives(st)]
    params = list(dict.fromkeys(p for t in st.get_trials(deepcopy=False) for p in t.params))
    tests = [c for c in frame.columns if c.startswith("test_")
             and c.removeprefix("test_") in {o.removeprefix("val_") for o in objs}]
    cols = [c for c in ["rank", "trial", "state", *objs, *tests, "stop_reason", "epochs",
                        *params, "duration_s"] if c in frame.columns]
    table = Table(title=f"{study}: {len(frame)} trials, top {min(k, len(frame))}")
    for c in cols:
        table.add_column(c, justify="right" if c not in ("state", "stop_reason") else "left")
    for _, row in frame.head(k).iterrows():
        table.add_row(*(_fmt(row[c]) for c in cols))
    console().print(table)


@click.command()
@click.argument("study")
@click.option("--storage", metavar="URL", help="Storage URL (default: reports/STUDY/study.db).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write to (default: reports/STUDY).")
def report(study: str, storage: str | None, out: Path | None) -> None:
    """Regenerate a study's reports from storage."""
    from automl.reports import top_k_of, write_reports
    from automl.search.studies import default_report_dir, load_study

    st = load_study(study, storage)
    folder = out or default_report_dir(study)
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
    from automl.reports.compare import compare_rows, render_compare
    from automl.reports.writers import atomic_write
    from automl.search.studies import load_study

    a = load_study(study_a, storage)
    b = load_study(study_b, storage_b or storage)
    rows = compare_rows(a, b)
    table = Table(title=f"{study_a} vs {study_b}: best trials")
    table.add_column("")
    table.add_column(study_a, justify="right")
    table.add_column(study_b, justify="right")
    for field, x, y in rows[1:]:
        # rich reads [..] as markup: user strings are shown as typed
        table.add_row(*(escape(v) for v in (field, x, y)),
                      style="bold" if field in ("best trial",) else None)
    console().print(table)
    if out is not None:
        atomic_write(out, render_compare(a, b))
        click.echo(f"wrote {out}")
