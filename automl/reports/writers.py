"""Writing the report files, atomically (write a temporary file, then rename)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from automl.engine.keys import LAST_RUN, STUDY_RECORD, TEST_METRICS
from automl.reports.by_trainer import trainer_table
from automl.reports.leaderboard import leaderboard_frame, objectives

logger = logging.getLogger(__name__)

# Columns of leaderboard.md beside the objectives, params and test metrics.
_MD_COLUMNS = ["rank", "trial", "state", "stop_reason", "epochs", "best_epoch"]


def _umask() -> int:
    """The process's umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (at once, so barely racy)
    os.umask(mask)
    return mask


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees a half-written file.

    The file gets the permissions of any file the user creates (0666 less the umask):
    ``mkstemp`` makes its temporary file owner-only, which would leave the reports
    unreadable to the team they are written for.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# A cell that a spreadsheet would run as a formula (OWASP "CSV injection"): =, +, -, @, and
# tab or carriage return (which some programs strip before looking for those).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: Any) -> Any:
    """A text cell that would start a formula, quoted with a leading ``'``; else as is.

    A carriage return inside a cell becomes a line feed: Python's CSV writer quotes a cell
    holding ``\\n`` but not one holding a bare ``\\r``, which readers take for the end of
    the row (a forged row).
    """
    if not isinstance(value, str):
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        if value.startswith("\n"):
            return "'" + value
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_text(frame: pd.DataFrame) -> str:
    """``leaderboard.csv``'s text: ``frame`` with every text cell (and column name) that a
    spreadsheet would run as a formula quoted. Numbers stay numbers (``-0.5`` is a value,
    not a formula); only strings (choices, errors, names) are touched."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(_defuse, na_action="ignore")
    out.columns = [_defuse(str(c)) for c in out.columns]
    return out.to_csv(index=False)


def md_cell(value: Any) -> Any:
    """A cell of leaderboard.md that cannot break out of its table or inject markup: pipes
    escaped, line breaks as spaces, HTML special characters as entities."""
    if not isinstance(value, str):
        return value
    text = " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def _md_table(table: pd.DataFrame) -> str:
    safe = table.astype(object).where(table.notna(), "").map(md_cell)
    safe.columns = [md_cell(str(c)) for c in safe.columns]
    return safe.to_markdown(index=False, floatfmt=".4g")


def markdown(study: optuna.Study, frame: pd.DataFrame, top_k: int) -> str:
    """``leaderboard.md``: a summary line and the top K rows."""
    objs = [o["metric"] for o in objectives(study)]
    names = set(_param_columns(study, frame))  # one read of the study, not one per column
    params = [c for c in frame.columns if c in names]
    tests = [c for c in frame.columns if c.startswith("test_") and c[5:] in
             {o.removeprefix("val_") for o in objs}]
    cols = ["rank", "trial", "state", *objs, "pareto_rank", "feasible", *tests, "stop_reason",
            "epochs", "best_epoch",
            "gap", "members", *params, "duration_s"]
    cols = [c for c in dict.fromkeys(cols) if c in frame.columns]
    counts = frame["state"].value_counts().to_dict()
    # The top K trials, and the ensemble row (where there is one) wherever it ranks.
    ensemble = (frame["state"] == "ensemble").to_numpy()
    shown = (~ensemble).cumsum() <= top_k
    top = frame[shown | ensemble]
    trials = int((~ensemble).sum())
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("complete", "pruned", "failed")
                        if counts.get(s, 0))
    head = top[cols]
    lines = [f"# Leaderboard: {md_cell(study.study_name)}", "",
             f"{trials} trials ({summary or 'none finished'}); "
             f"objective: {md_cell(', '.join(objs))}; top {min(top_k, trials)} shown"
             + (", with the ensemble of the top trials (members as trial:weight)"
                if ensemble.any() else "") + ".", ""]
    lines.append(_md_table(head) if len(head) else "_no trials_")
    table = trainer_table(frame, objs[0]) if len(frame) else None
    if table is not None:
        lines += ["", "## By trainer", "", _md_table(table)]
    return "\n".join(lines) + "\n"


def _param_columns(study: optuna.Study, frame: pd.DataFrame) -> list[str]:
    names: list[str] = []
    for t in study.get_trials(deepcopy=False):
        names += [p for p in t.params if p not in names]
    return names


# report.html costs about a second (plotly figures, fANOVA importances), far more than the
# leaderboards: after a trial it is rewritten only when that stays under 5 % of the time
# since the last write (measured: rewriting it whenever the best trial changed cost the
# 40-trial digits benchmark ~10 % of its wall time). It is always written at the end and
# by `automl report`. Kept per folder, for this process.
HTML_TIME_SHARE = 0.05
_FIRST_WRITE_COST = 3.0  # seconds, before a write in this process has been timed
_html_state: dict[Path, tuple[float, float, tuple[Any, ...]]] = {}


def _headline(study: optuna.Study, frame: pd.DataFrame) -> tuple[Any, ...]:
    best = frame.loc[frame["state"] == "complete", "trial"].head(1).tolist()
    tests = tuple(sorted(k for k in study.user_attrs if k.startswith(TEST_METRICS)))
    return (*best, tests, study.user_attrs.get(LAST_RUN, {}).get("finished_at"))


def html_due(study: optuna.Study, frame: pd.DataFrame, report_dir: Path) -> bool:
    """Whether ``report.html`` in ``report_dir`` should be rewritten now (see above)."""
    key = report_dir.resolve()
    state = _html_state.get(key)
    if state is None:
        # The first write of a run costs the plotly import too (2-4 s): start the clock
        # instead, so that a search pays at most HTML_TIME_SHARE of its time for the page.
        _html_state[key] = (time.monotonic(), _FIRST_WRITE_COST, _headline(study, frame))
        return False
    written_at, cost, _ = state
    return time.monotonic() - written_at >= cost / HTML_TIME_SHARE


def write_reports(study: optuna.Study, report_dir: Path, top_k: int,
                  html: bool | None = None) -> pd.DataFrame:
    """Write ``leaderboard.csv``, ``leaderboard.md`` and ``report.html`` into
    ``report_dir``; returns the leaderboard.

    ``html``: True writes the HTML, False skips it, None (after each trial) writes it when
    :func:`html_due`. A failure in the HTML is logged and never costs the leaderboards,
    which are written first.
    """
    frame = leaderboard_frame(study)
    atomic_write(report_dir / "leaderboard.csv", csv_text(frame))
    atomic_write(report_dir / "leaderboard.md", markdown(study, frame, top_k))
    if html or (html is None and html_due(study, frame, report_dir)):
        started = time.monotonic()
        try:
            from automl.reports.html import render_html

            atomic_write(report_dir / "report.html", render_html(study, frame, top_k))
        except Exception as exc:  # noqa: BLE001 - the leaderboards above still stand
            logger.warning("report.html not written: %s: %s", type(exc).__name__, exc)
        now = time.monotonic()
        _html_state[report_dir.resolve()] = (now, now - started, _headline(study, frame))
    return frame


def top_k_of(study: optuna.Study, default: int = 10) -> int:
    """The study's ``report.top_k`` as recorded at creation."""
    spec = study.user_attrs.get(STUDY_RECORD, {}).get("spec", {})
    return int(spec.get("report", {}).get("top_k", default) or default)
