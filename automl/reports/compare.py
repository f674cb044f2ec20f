"""Two studies side by side: their best trials (a table) and curves (a self-contained page)."""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import optuna
import pandas as pd

from automl.reports.figure_text import escape_text
from automl.reports.html import CSS, SCRIPT, fmt, plotly_js, theme_json
from automl.reports.leaderboard import leaderboard_frame, objectives, test_metrics
from automl.engine.keys import TRIAL_RESULT


def compare_rows(a: optuna.Study, b: optuna.Study) -> list[tuple[str, str, str]]:
    """``(field, value in a, value in b)`` for the summary and the best trial of each study:
    counts, objective(s), test metrics, where it stopped, then the union of their params."""
    frames = [leaderboard_frame(a), leaderboard_frame(b)]
    studies = [a, b]
    bests = [_best_row(f) for f in frames]

    def both(get: Any) -> tuple[str, str]:
        return fmt(get(0)), fmt(get(1))

    rows: list[tuple[str, str, str]] = [("study", a.study_name, b.study_name)]
    rows.append(("trials", *both(lambda i: _states(frames[i]))))
    metrics = list(dict.fromkeys(o["metric"] for s in studies for o in objectives(s)))
    rows.append(("objective", *both(lambda i: ", ".join(
        f"{o['metric']} ({o['direction']})" for o in objectives(studies[i])))))
    rows.append(("best trial", *both(lambda i: None if bests[i] is None
                                     else f"#{int(bests[i]['trial'])}")))
    for m in metrics:
        rows.append((m, *both(lambda i, m=m: _get(bests[i], m))))
    tests = list(dict.fromkeys(k for i in (0, 1) if bests[i] is not None
                               for k in test_metrics(studies[i]).get(
                                   str(int(bests[i]["trial"])), {})))
    for k in tests:
        rows.append((f"test_{k}", *both(lambda i, k=k: None if bests[i] is None else
                                        test_metrics(studies[i]).get(
                                            str(int(bests[i]["trial"])), {}).get(k))))
    for field in ("stop_reason", "epochs", "best_epoch", "gap", "duration_s", "n_params",
                  "device"):
        rows.append((field, *both(lambda i, f=field: _get(bests[i], f))))
    params = list(dict.fromkeys(p for s in studies for t in s.get_trials(deepcopy=False)
                                for p in t.params))
    for p in params:
        rows.append((p, *both(lambda i, p=p: _get(bests[i], p))))
    return rows


def _best_row(frame: pd.DataFrame) -> pd.Series | None:
    complete = frame[frame["state"] == "complete"]
    return None if complete.empty else complete.iloc[0]


def _get(row: pd.Series | None, field: str) -> Any:
    if row is None or field not in row.index:
        return None
    return row[field]


def _states(frame: pd.DataFrame) -> str:
    counts = frame["state"].value_counts().to_dict()
    parts = [f"{counts[s]} {s}" for s in ("complete", "pruned", "failed", "running")
             if counts.get(s)]
    return f"{len(frame)} ({', '.join(parts)})" if parts else str(len(frame))


def _curve_figure(a: optuna.Study, b: optuna.Study) -> Any:
    """The best trial of each study: its loss curves (left) and the first objective's
    best-so-far over the trials (right)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "best trial: loss per epoch (train dashed, val solid)", "best so far, by trial"))
    for study, color in ((a, "#1565c0"), (b, "#ef6c00")):
        name = escape_text(study.study_name)
        best = _best_row(leaderboard_frame(study))
        if best is not None:
            trial = study.get_trials(deepcopy=False)[int(best["trial"])]
            hist = trial.user_attrs.get(TRIAL_RESULT, {}).get("history") or []
            for key, dash in (("train_loss", "dash"), ("val_loss", "solid")):
                ys = [h.get(key) for h in hist]
                if any(isinstance(y, int | float) and math.isfinite(y) for y in ys):
                    fig.add_trace(go.Scatter(
                        x=[h.get("epoch") for h in hist], y=ys, mode="lines+markers",
                        name=f"{name} #{trial.number} {key}",
                        line={"color": color, "dash": dash}), row=1, col=1)
        obj = objectives(study)[0]
        maximize = obj["direction"] == "maximize"
        done = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
        xs, ys, best_so_far = [], [], None
        for t in done:
            v = t.values[0]
            if best_so_far is None or (v > best_so_far if maximize else v < best_so_far):
                best_so_far = v
            xs.append(t.number)
            ys.append(best_so_far)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "shape": "hv"},
                                 name=f"{name}: best {escape_text(obj['metric'])}"), row=1, col=2)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(title_text="trial", row=1, col=2)
    fig.update_layout(height=440, margin={"t": 60, "l": 60, "r": 20, "b": 50},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def render_compare(a: optuna.Study, b: optuna.Study) -> str:
    """A self-contained page: the comparison table and the curves of both studies."""
    esc = html.escape
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(x)}</td><td>{esc(y)}</td></tr>"
        for k, x, y in compare_rows(a, b)[1:])
    title = f"{a.study_name} vs {b.study_name}"
    fig = _curve_figure(a, b)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; "
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:\">"
        f"<title>{esc(title)} · automl</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p class=muted>automl comparison, written "
        f"{esc(stamp)}.</p></header>"
        "<section><h2>Best trials</h2><table class=kv style='max-width:900px'>"
        f"<tr><th></th><th>{esc(a.study_name)}</th><th>{esc(b.study_name)}</th></tr>"
        f"{rows}</table></section>"
        "<section class=fig><h2>Curves</h2>"
        '<div class=plot id="plot-compare" data-fig="fig-compare"></div></section>'
        f'<script type="application/json" id="fig-compare">{fig.to_json()}</script>'
        f'<script type="application/json" id="fig-theme">{theme_json()}</script>'
        f"<script>{plotly_js()}</script><script>{SCRIPT}</script></body></html>\n")
