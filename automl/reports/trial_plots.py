"""The figures of ``report.html`` that need automl's per-trial record: the best value over
wall time (time to a target), learning curves with the best and the stop epoch, stop
reasons, and the timeline per worker process. Each
returns a plotly figure, or a string saying why there is none."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.reports.figure_text import escape_text, integer_axis
from automl.reports.leaderboard import top_numbers
from automl.engine.keys import STUDY_RECORD, TRIAL_RESULT

__all__ = ["REASON_COLORS", "best_over_time", "learning_curves", "stop_reasons", "timeline"]

# One colour per stop reason, the same in every plot and in the table's badges.
REASON_COLORS = {
    "completed": "#2e7d32",
    "early_stopped": "#1565c0",
    "overfitting": "#ef6c00",
    "pruned": "#8e8e8e",
    "failed": "#c62828",
    "timeout": "#6a1b9a",
    "interrupted": "#ad1457",
    "running": "#00838f",
}

def _history_of(t: FrozenTrial) -> list[dict[str, Any]]:
    return list(t.user_attrs.get(TRIAL_RESULT, {}).get("history") or [])


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def learning_curves(study: optuna.Study, frame: pd.DataFrame, top_k: int) -> Any:
    from plotly.subplots import make_subplots

    numbers = top_numbers(frame, top_k)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    shown = [n for n in numbers if _history_of(trials[n])]
    if not shown:
        return "no complete trial recorded a per-epoch history"
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    ranks = dict(zip(frame["trial"], frame["rank"], strict=True))
    titles = []
    for n in shown:
        res = trials[n].user_attrs.get(TRIAL_RESULT, {})
        titles.append(f"#{ranks.get(n)} · trial {n} · {res.get('stop_reason', '')}")
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_xaxes=False,
                        horizontal_spacing=0.07, vertical_spacing=0.5 / rows)
    for i, n in enumerate(shown):
        row, col = i // cols + 1, i % cols + 1
        res = trials[n].user_attrs.get(TRIAL_RESULT, {})
        hist = _history_of(trials[n])
        epochs = [h.get("epoch") for h in hist]
        for key, dash, color in (("train_loss", "dash", "#ef6c00"),
                                 ("val_loss", "solid", "#1565c0")):
            ys = [_finite(h.get(key)) for h in hist]
            if not any(y is not None for y in ys):
                continue
            fig.add_scatter(x=epochs, y=ys, mode="lines+markers", name=key, row=row, col=col,
                            line={"dash": dash, "color": color}, marker={"size": 4},
                            legendgroup=key, showlegend=i == 0,
                            hovertemplate=f"trial {n} epoch %{{x}}: {key} %{{y:.4g}}"
                                          "<extra></extra>")
        best = res.get("best_epoch")
        best_val = next((_finite(h.get("val_loss")) for h in hist if h.get("epoch") == best),
                        None)
        if best is not None and best_val is not None:
            fig.add_scatter(x=[best], y=[best_val], mode="markers", name="best epoch",
                            marker={"symbol": "star", "size": 13, "color": "#2e7d32"},
                            legendgroup="best", showlegend=i == 0, row=row, col=col,
                            hovertemplate=f"trial {n}: best epoch %{{x}}<extra></extra>")
        stop = epochs[-1] if epochs else None
        if stop is not None:
            color = REASON_COLORS.get(str(res.get("stop_reason")), "#555")
            fig.add_vline(x=stop, line_dash="dot", line_color=color, row=row, col=col)
        fig.update_xaxes(title_text="epoch" if row == rows else None, row=row, col=col)
        fig.update_yaxes(title_text="loss" if col == 1 else None, row=row, col=col)
    fig.update_layout(height=max(330, 280 * rows) + 40,
                      legend={"orientation": "h", "yref": "container", "y": 1.0,
                              "yanchor": "top", "x": 0, "xanchor": "left"},
                      margin={"t": 80})
    return fig


def stop_reasons(frame: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    if frame.empty:
        return "no trials yet"
    counts = frame["stop_reason"].fillna("unknown").value_counts()
    names = list(counts.index)[::-1]
    fig = go.Figure(go.Bar(
        x=[int(counts[n]) for n in names], y=[escape_text(n) for n in names],
        orientation="h", text=[int(counts[n]) for n in names], textposition="outside",
        marker_color=[REASON_COLORS.get(n, "#555") for n in names],
        hovertemplate="%{y}: %{x} trials<extra></extra>"))
    fig.update_layout(xaxis_title="trials", height=max(220, 36 * len(names) + 110))
    fig.update_xaxes(**integer_axis(int(counts.max())))
    return fig


def _lanes(spans: list[tuple[float, float, int]]) -> dict[int, int]:
    """Greedy interval colouring: trials that overlap in time get different lanes."""
    ends: list[float] = []
    lane_of: dict[int, int] = {}
    for start, end, number in sorted(spans):
        for lane, busy_until in enumerate(ends):
            if busy_until <= start:
                ends[lane] = end
                lane_of[number] = lane
                break
        else:
            ends.append(end)
            lane_of[number] = len(ends) - 1
    return lane_of


def timeline(study: optuna.Study, frame: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    reasons = dict(zip(frame["trial"], frame["stop_reason"], strict=True))
    # One row per worker process on each device; several controllers sharing a study
    # (automl worker) may each have a worker 1 on "cpu", so overlapping trials in a row
    # are split further into lanes. A trial with no record yet is still running.
    groups: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
    now = pd.Timestamp.now().to_pydatetime()
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is None or t.state == TrialState.WAITING:  # given back, queued
            continue
        res = t.user_attrs.get(TRIAL_RESULT, {})
        end = t.datetime_complete or now
        device = str(res.get("device") or "?")
        worker = res.get("worker")
        key = (device, int(worker) + 1 if isinstance(worker, int) else 0)
        groups.setdefault(key, []).append(
            (t.datetime_start.timestamp(), end.timestamp(), t.number))
    if not groups:
        return "no trial has started"
    starts = {t.number: t.datetime_start for t in study.get_trials(deepcopy=False)}
    fig = go.Figure()
    seen: set[str] = set()
    for (device, worker), spans in sorted(groups.items()):
        lanes = _lanes(spans)
        many = len(set(lanes.values())) > 1
        for start, end, number in sorted(spans):
            reason = str(reasons.get(number, "running"))
            row = f"{device} · worker {worker}" if worker else f"{device} · slot"
            if many or not worker:
                row += f" {lanes[number] + 1}" if not worker else f" ({lanes[number] + 1})"
            fig.add_bar(
                y=[escape_text(row)], x=[(end - start) * 1000.0],
                base=[starts[number].isoformat()],
                orientation="h", name=escape_text(reason), legendgroup=reason,
                showlegend=reason not in seen,
                marker_color=REASON_COLORS.get(reason, "#555"),
                text=[f"#{number}"], textposition="inside", insidetextanchor="middle",
                hovertemplate=f"trial {number} ({escape_text(reason)}): "
                              f"{end - start:.1f}s<extra></extra>")
            seen.add(reason)
    n_lanes = len({d for trace in fig.data for d in trace.y})
    fig.update_layout(barmode="overlay", xaxis={"type": "date", "title": "time"},
                      yaxis={"autorange": "reversed"}, height=max(220, 40 * n_lanes + 140))
    return fig


def best_over_time(study: optuna.Study) -> Any:
    """The best value of the objective found so far against the search's wall time: every
    epoch a trial reported counts at the moment it was reported, so the curve shows when a
    model of a given quality was first there (time to a target), pruned trials included."""
    import plotly.graph_objects as go

    if len(study.directions) > 1:
        return "several objectives: see the Pareto front"
    record = study.user_attrs.get(STUDY_RECORD, {})
    objective = (record.get("objectives") or [{}])[0].get("metric")
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start is not None]
    points: list[tuple[float, float, int]] = []
    for t in trials:
        assert t.datetime_start is not None
        begun = t.datetime_start.timestamp()
        for row in _history_of(t):
            value = _finite(row.get(objective)) if objective else None
            if value is not None and "t" in row:
                points.append((begun + float(row["t"]), value, t.number))
    if not points:
        return "no trial reported the objective per epoch yet"
    points.sort()
    start = min(t.datetime_start.timestamp() for t in trials)  # type: ignore[union-attr]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    xs, ys, labels, best = [], [], [], None
    for at, value, number in points:
        if best is None or (value > best if maximize else value < best):
            best = value
            xs.append(at - start)
            ys.append(value)
            labels.append(f"trial {number}")
    xs.append(points[-1][0] - start)
    ys.append(ys[-1])
    labels.append(labels[-1])
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", line={"shape": "hv"},
                               text=labels, name=f"best {escape_text(objective)}",
                               hovertemplate="%{x:.1f}s: %{y:.4g} (%{text})<extra></extra>"))
    return fig.update_layout(xaxis_title="seconds since the first trial started",
                             yaxis_title=f"best {escape_text(objective)} so far",
                             showlegend=False)
