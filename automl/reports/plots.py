"""The figures of ``report.html``, as plotly figures built from what the study stores.

Optuna's own plotly functions draw what they already draw well (history, importances,
parallel coordinates, slice, contour, Pareto front); the plots that need automl's per-trial
record (learning curves with the stop epoch, stop reasons, the timeline per worker) are
built in :mod:`automl.reports.trial_plots`. Each builder returns a :class:`Plot`: a
figure, or the reason there is none, so the report says why a plot is missing instead of
leaving a hole.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.reports.figure_text import escape_text, integer_axis
from automl.reports.leaderboard import objectives
from automl.reports.trial_plots import best_over_time, learning_curves, stop_reasons, timeline

logger = logging.getLogger(__name__)

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
        ("time", "Best value over time",
         "The best objective value reported so far (any epoch of any trial) against the "
         "search's wall time: how long it took to reach a given quality.",
         lambda: best_over_time(study)),
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
         lambda: learning_curves(study, frame, top_k)),
        ("reasons", "Why trials stopped",
         "Trials per stop reason.",
         lambda: stop_reasons(frame)),
        ("timeline", "Timeline",
         "When each trial ran, one row per worker process on each device.",
         lambda: timeline(study, frame)),
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
    return fig.update_xaxes(**integer_axis(max(t.number for t in d.escaped.trials)))


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
