"""The figures of ``report.html``, as plotly figures built from what the study stores.

Optuna's own plotly functions draw what they already draw well (history, importances,
parallel coordinates, slice, contour, Pareto front); the plots that need automl's per-trial
record (learning curves with the stop epoch, stop reasons, the timeline per worker) are
built here. Each builder returns a :class:`Plot`: a figure, or the reason there is none, so
the report says why a plot is missing instead of leaving a hole.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.reports.leaderboard import objectives, top_numbers
from automl.studies import RESULT

logger = logging.getLogger(__name__)

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
# The theme (plotly_white) is applied in the page, once for all figures: setting a template
# on each figure in Python deep-copies it and costs most of the report's build time.
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "font": {"size": 12},
}
# Optuna's importance evaluator costs seconds on thousands of trials: beyond this many,
# importances are computed on the most recent trials only (and the plot says so).
MAX_IMPORTANCE_TRIALS = 500
MAX_PARALLEL_AXES = 8


@dataclass
class Plot:
    """One figure of the report: ``key`` names its element, ``why`` says what it shows."""

    key: str
    title: str
    why: str
    figure: Any = None  # a plotly Figure, or None
    missing: str = ""  # why there is no figure (too few trials, a single objective, ...)


def escape_text(value: object) -> str:
    """``value`` as text that plotly shows verbatim.

    Plotly reads a small HTML subset in labels (``<b>``, ``<br>``, entities) and drops the
    tags it does not know, so a user's ``<script>`` would silently vanish from a tick
    label; as entities it is shown as typed, and never as markup.
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Data:
    """What the builders share: the study, its leaderboard, an escaped copy of its complete
    trials for Optuna's plots, and importances computed at most once per report."""

    def __init__(self, study: optuna.Study, frame: pd.DataFrame) -> None:
        self.study, self.frame = study, frame
        trials = _complete(study)
        self.escaped: optuna.Study | str = (
            f"needs 2 complete trials ({len(trials)} so far)" if len(trials) < 2
            else _escaped_study(study, study.get_trials(deepcopy=False)))
        self._importances: dict[str, float] | Exception | None = None

    def importances(self) -> dict[str, float]:
        """fANOVA importances for the first objective (raises when not computable)."""
        if self._importances is None:
            try:
                self._importances = _importances(self.study, self.escaped)
            except Exception as exc:  # noqa: BLE001 - kept, and raised to each caller
                self._importances = exc
        if isinstance(self._importances, Exception):
            raise self._importances
        return self._importances


def build_plots(study: optuna.Study, frame: pd.DataFrame, top_k: int) -> list[Plot]:
    """Every figure of the report, in the order the report shows them."""
    d = _Data(study, frame)
    builders: list[tuple[str, str, str, Callable[[], Any]]] = [
        ("history", "Optimization history",
         "The objective of each complete trial and the best so far.",
         lambda: _history(d)),
        ("pareto", "Pareto front",
         "Trade-off between the objectives; the front is the set no trial beats on all.",
         lambda: _pareto(d)),
        ("importance", "Parameter importances",
         "How much of the objective's variance each param explains (Optuna's fANOVA).",
         lambda: _importance(d)),
        ("parallel", "Parallel coordinates",
         "Each line is a complete trial through its param values, coloured by objective; "
         f"the {MAX_PARALLEL_AXES} most important params at most.",
         lambda: _parallel(d)),
        ("slice", "Slice of the two most important params",
         "The objective against each param alone.",
         lambda: _slice(d)),
        ("contour", "Contour of the two most important params",
         "The objective over the two params together (interpolated between trials).",
         lambda: _contour(d)),
        ("curves", f"Learning curves of the top {top_k}",
         "Train (dashed) and val (solid) loss per epoch; the star is the best epoch "
         "(the weights kept), the dotted line the epoch the trial stopped at.",
         lambda: _curves(study, frame, top_k)),
        ("reasons", "Why trials stopped",
         "Trials per stop reason.",
         lambda: _reasons(frame)),
        ("timeline", "Timeline",
         "When each trial ran, one row per worker process on each device.",
         lambda: _timeline(study, frame)),
    ]
    plots = []
    for key, title, why, build in builders:
        plot = Plot(key, title, why)
        try:
            result = build()
        except Exception as exc:  # noqa: BLE001 - one broken plot must not cost the report
            logger.warning("report plot %s failed: %s", key, exc)
            result = f"could not be drawn: {type(exc).__name__}: {exc}"
        if isinstance(result, str):
            plot.missing = result
        else:
            # The section heading names the plot: Optuna's own titles would repeat it.
            result.update_layout(title=None, font=_LAYOUT["font"])
            if result.layout.margin.t is None:  # a builder's own margins win
                result.update_layout(margin=_LAYOUT["margin"])
            plot.figure = result
        plots.append(plot)
    return plots


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _target(study: optuna.Study) -> dict[str, Any]:
    """Arguments naming the first objective for Optuna's plots of a multi-objective study."""
    objs = objectives(study)
    if len(objs) == 1:
        return {"target_name": objs[0]["metric"]}
    return {"target": lambda t: t.values[0], "target_name": objs[0]["metric"]}


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _escaped_study(study: optuna.Study, trials: list[FrozenTrial]) -> optuna.Study:
    """An in-memory copy of ``trials`` whose categorical choices are escaped for plotly.

    Every trial is copied, so the copy's trial numbers are the study's (Optuna's plots
    label points by number); unfinished ones become FAIL, which the plots leave out.
    """
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" lines
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    for t in trials:
        params, dists = {}, {}
        for name, value in t.params.items():
            dist = t.distributions[name]
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                choices = tuple(escape_text(c) if isinstance(c, str) else c
                                for c in dist.choices)
                dist = optuna.distributions.CategoricalDistribution(choices)
                value = escape_text(value) if isinstance(value, str) else value
            params[name], dists[name] = value, dist
        state = t.state if t.state.is_finished() else TrialState.FAIL
        copy.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists,
            values=t.values if state == TrialState.COMPLETE else None, state=state,
            user_attrs={}, system_attrs={}, intermediate_values={}))
    return copy


def _history(d: _Data) -> Any:
    if isinstance(d.escaped, str):
        return d.escaped
    fig = _quiet(optuna.visualization.plot_optimization_history, d.escaped,
                 **_target(d.study))
    return fig.update_xaxes(**_integer_axis(max(t.number for t in d.escaped.trials)))


def _integer_axis(top: float) -> dict[str, Any]:
    """Ticks at whole numbers (trial numbers, counts): no "trial 2.5"."""
    return {"tickformat": "d", **({"dtick": 1} if top <= 12 else {})}


def _pareto(d: _Data) -> Any:
    objs = objectives(d.study)
    if len(objs) == 1:
        return "one objective, so there is no trade-off to show"
    if len(objs) > 3:
        return f"{len(objs)} objectives; the Pareto front is drawn for 2 or 3"
    if isinstance(d.escaped, str):
        return d.escaped
    return _quiet(optuna.visualization.plot_pareto_front, d.escaped,
                  target_names=[o["metric"] for o in objs])


def _top_params(d: _Data, n: int) -> list[str]:
    """The ``n`` most important params (importance order), falling back to any varying."""
    if isinstance(d.escaped, str):
        return []
    try:
        ranked = list(d.importances())
    except Exception:  # noqa: BLE001 - e.g. a single varying param: no importance model
        ranked = []
    trials = [t for t in d.escaped.trials if t.state == TrialState.COMPLETE]
    varying = [p for p in dict.fromkeys(p for t in trials for p in t.params)
               if len({repr(t.params.get(p)) for t in trials}) > 1]
    return [p for p in dict.fromkeys(ranked + varying) if p in varying][:n]


def _importances(study: optuna.Study, escaped: optuna.Study | str) -> dict[str, float]:
    """fANOVA importances of the first objective, on the latest trials of a long study."""
    if isinstance(escaped, str):
        raise ValueError(escaped)
    st = escaped
    if len(_complete(st)) > MAX_IMPORTANCE_TRIALS:
        st = _escaped_study(study, _complete(study)[-MAX_IMPORTANCE_TRIALS:])
    return dict(_quiet(optuna.importance.get_param_importances, st,
                       evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                       target=_target(study).get("target")))


def _importance(d: _Data) -> Any:
    import plotly.graph_objects as go

    if isinstance(d.escaped, str):
        return d.escaped
    try:
        imp = d.importances()
    except (RuntimeError, ValueError) as exc:
        return f"not computable yet ({exc})"
    if not imp:
        return "no param varies across the complete trials"
    names = list(imp)[::-1]
    fig = go.Figure(go.Bar(x=[imp[n] for n in names], y=names, orientation="h",
                           marker_color="#1565c0",
                           text=[f"{imp[n]:.2f}" for n in names], textposition="outside",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    note = "" if len(_complete(d.escaped)) <= MAX_IMPORTANCE_TRIALS else \
        f" (last {MAX_IMPORTANCE_TRIALS} trials)"
    fig.update_layout(xaxis_title=f"importance for {_target(d.study)['target_name']}{note}"
                      " (share of variance)",
                      height=max(260, 28 * len(names) + 120))
    return fig


def _parallel(d: _Data) -> Any:
    if isinstance(d.escaped, str):
        return d.escaped
    # More than ~8 axes overlap their labels: keep the most important params.
    params = _top_params(d, MAX_PARALLEL_AXES) or None
    fig = _quiet(optuna.visualization.plot_parallel_coordinate, d.escaped, params=params,
                 **_target(d.study))
    fig.update_layout(height=420, margin={"t": 70, "l": 70, "r": 40})
    return fig


def _slice(d: _Data) -> Any:
    params = _top_params(d, 2)
    if not params:
        return "needs 2 complete trials with a param that varies"
    return _quiet(optuna.visualization.plot_slice, d.escaped, params=params,
                  **_target(d.study))


def _contour(d: _Data) -> Any:
    params = _top_params(d, 2)
    if len(params) < 2:
        return "needs two params that vary across complete trials"
    return _quiet(optuna.visualization.plot_contour, d.escaped, params=params,
                  **_target(d.study))


def _history_of(t: FrozenTrial) -> list[dict[str, Any]]:
    return list(t.user_attrs.get(RESULT, {}).get("history") or [])


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _curves(study: optuna.Study, frame: pd.DataFrame, top_k: int) -> Any:
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
        res = trials[n].user_attrs.get(RESULT, {})
        titles.append(f"#{ranks.get(n)} · trial {n} · {res.get('stop_reason', '')}")
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_xaxes=False,
                        horizontal_spacing=0.07, vertical_spacing=0.5 / rows)
    for i, n in enumerate(shown):
        row, col = i // cols + 1, i % cols + 1
        res = trials[n].user_attrs.get(RESULT, {})
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


def _reasons(frame: pd.DataFrame) -> Any:
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
    fig.update_xaxes(**_integer_axis(int(counts.max())))
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


def _timeline(study: optuna.Study, frame: pd.DataFrame) -> Any:
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
        res = t.user_attrs.get(RESULT, {})
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
