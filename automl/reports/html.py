"""``report.html``: one self-contained page (summary, leaderboard, plots, how to reproduce).

The page makes no network request: the CSS, the table-sorting script and plotly.js are
inlined once, and each figure is embedded as JSON. Every string that came from a user or a
plugin (study name, param values, errors, the spec) goes through :func:`html.escape`, and
the figure JSON has ``<``, ``>`` and ``/`` escaped by plotly, so nothing can close the
script element it sits in.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import math
import shlex
from typing import Any

import optuna
import pandas as pd
import yaml

from automl import __version__
from automl.engine.keys import LAST_RUN, STUDY_RECORD, TRIAL_RESULT
from automl.redaction import redact_spec
from automl.reports.by_trainer import trainer_table
from automl.reports.leaderboard import STATES, objectives, test_metrics
from automl.reports.plots import Plot, build_plots
from automl.reports.trial_plots import REASON_COLORS

_esc = functools.partial(html.escape, quote=True)


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (read once per process)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@functools.lru_cache(maxsize=1)
def theme_json() -> str:
    """plotly's ``plotly_white`` template as JSON, applied to every figure by the page."""
    import plotly.io as pio

    return str(pio.json.to_json_plotly(pio.templates["plotly_white"].to_plotly_json()))


def fmt(value: Any) -> str:
    """A cell as text: 4 significant digits for floats, empty for missing."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                         and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def _sort_key(value: Any) -> str:
    """The ``data-v`` attribute the sorting script compares (numbers as numbers)."""
    if isinstance(value, bool) or value is None:
        return fmt(value)
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return repr(float(value))
    return fmt(value)


def render_html(study: optuna.Study, frame: pd.DataFrame, top_k: int,
                now: dt.datetime | None = None) -> str:
    """The whole ``report.html`` for ``study`` and its leaderboard ``frame``."""
    plots = build_plots(study, frame, top_k)
    name = _esc(study.study_name)
    stamp = (now or dt.datetime.now()).strftime("%Y-%m-%d %H:%M:%S")
    nav = "".join(f'<a href="#{p.key}">{_esc(p.title.split(" of ")[0])}</a>' for p in plots
                  if p.figure is not None)
    body = [
        f"<header><h1>{name}</h1><p class=muted>automl {_esc(__version__)} report, "
        f"written {_esc(stamp)}. Self-contained: opens offline.</p>"
        f'<nav><a href="#summary">Summary</a><a href="#leaderboard">Leaderboard</a>{nav}'
        f'<a href="#reproduce">Reproduce</a></nav></header>',
        _summary(study, frame),
        _by_trainer(study, frame),
        _leaderboard(study, frame, top_k),
        *(_plot_section(p) for p in plots),
        _reproduce(study, frame),
        _spec(study),
    ]
    figures = "\n".join(
        f'<script type="application/json" id="fig-{p.key}">{p.figure.to_json()}</script>'
        for p in plots if p.figure is not None)
    figures += f'\n<script type="application/json" id="fig-theme">{theme_json()}</script>'
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        # No request may leave the page, whatever a future edit adds.
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; "
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:\">"
        f"<title>{name} · automl report</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + f"\n{figures}\n<script>{plotly_js()}</script>\n<script>{SCRIPT}</script>"
        "</body></html>\n")


# -- summary ---------------------------------------------------------------------------------

def _card(label: str, value: str, sub: str = "") -> str:
    return (f"<div class=card><div class=label>{_esc(label)}</div>"
            f"<div class=value>{value}</div><div class=sub>{sub}</div></div>")


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 90:
        return f"{seconds:.1f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _summary(study: optuna.Study, frame: pd.DataFrame) -> str:
    record = study.user_attrs.get(STUDY_RECORD, {})
    spec = record.get("spec", {})
    objs = objectives(study)
    frame = frame[frame["state"] != "ensemble"]  # the trials; the ensemble has its own row
    counts = frame["state"].value_counts().to_dict() if len(frame) else {}
    states = ", ".join(f"{counts[s]} {s}" for s in ("complete", "pruned", "failed", "running")
                       if counts.get(s))
    trials = study.get_trials(deepcopy=False, states=tuple(STATES))
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    busy = pd.to_numeric(frame.get("duration_s"), errors="coerce").sum() if len(frame) else 0
    epochs = pd.to_numeric(frame.get("epochs"), errors="coerce").sum() if len(frame) else 0
    budget = spec.get("budget", {})
    limits = [f"{budget['trials']} trials" if budget.get("trials") else "",
              f"timeout {budget['timeout']}" if budget.get("timeout") else "",
              f"{budget['max_epochs']} epochs per trial" if budget.get("max_epochs") else ""]
    why, when = _why_stopped(study, budget, counts, ends)
    cards = [
        _card("trials", str(len(frame)), _esc(states or "none finished")),
        _card("budget spent", _esc(_duration(wall)),
              _esc(f"{int(epochs)} epochs, {_duration(float(busy))} of training; budget: "
                   + (", ".join(x for x in limits if x) or "none"))),
        _card("why it stopped", _esc(why), _esc(when)),
    ]
    best = frame[frame["state"] == "complete"].head(1)
    best_html = "<p>No trial has completed yet.</p>"
    if len(best):
        row = best.iloc[0]
        obj_text = ", ".join(f"{o['metric']} {fmt(row[o['metric']])}" for o in objs)
        tests = [f"{c} {fmt(row[c])}" for c in row.index if c.startswith("test_")
                 and c.removeprefix("test_") in {o["metric"].removeprefix("val_") for o in objs}
                 and pd.notna(row[c])]
        obj_text = "; ".join([obj_text, *tests])
        cards.insert(0, _card("best trial", f"#{int(row['trial'])}", _esc(obj_text)))
        best_html = _best(study, row)
    info = [("objective", ", ".join(f"{o['metric']} ({o['direction']})" for o in objs)),
            ("trainer", record.get("trainer") or spec.get("trainer")),
            ("dataset", _inline(spec.get("dataset"))),
            ("data", _inline(record.get("data"))),
            ("sampler", _inline(spec.get("sampler"))), ("pruner", _inline(spec.get("pruner"))),
            ("early stopping", _inline(spec.get("early_stopping"))),
            ("seed", record.get("seed"))]
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(fmt(v))}</td></tr>" for k, v in info
                   if v not in (None, ""))
    return (f'<section id=summary><h2>Summary</h2><div class=cards>{"".join(cards)}</div>'
            f"<div class=cols><div><h3>Study</h3><table class=kv>{rows}</table></div>"
            f"{best_html}</div></section>")


def _why_stopped(study: optuna.Study, budget: dict[str, Any], counts: dict[str, int],
                 ends: list[dt.datetime]) -> tuple[str, str]:
    """Why the last run stopped, and when: the controller's record when it is newer than
    the last trial (a record from an earlier run of a resumed study is not), else what the
    counts say."""
    last = study.user_attrs.get(LAST_RUN, {})
    finished = last.get("finished_at")
    newest = max(ends).timestamp() if ends else 0.0
    if last.get("stop_reason") and finished and finished >= newest:
        return str(last["stop_reason"]), "last run ended " + \
            dt.datetime.fromtimestamp(finished).strftime("%Y-%m-%d %H:%M")
    if counts.get("running"):
        return "still running", f"{counts['running']} trial(s) running"
    done = sum(counts.get(s, 0) for s in ("complete", "pruned", "failed"))
    if budget.get("trials") and done >= int(budget["trials"]):
        return "budget", f"{done} of {budget['trials']} trials finished"
    return "stopped", "before its budget (interrupted, a timeout or a limit)"


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items() if v is not None)
    return fmt(value)


def _best(study: optuna.Study, row: pd.Series) -> str:
    t = study.get_trials(deepcopy=False)[int(row["trial"])]
    test = test_metrics(study).get(str(t.number), {})
    metrics = t.user_attrs.get(TRIAL_RESULT, {}).get("metrics", {})
    params = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(fmt(v))}</td></tr>"
                     for k, v in t.params.items())
    shown = [(k, v) for k, v in metrics.items() if k.startswith(("val_", "train_"))]
    both = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(fmt(v))}</td></tr>" for k, v in shown)
    tests = "".join(f"<tr><th>test_{_esc(k)}</th><td>{_esc(fmt(v))}</td></tr>"
                    for k, v in test.items())
    where = (f"epoch {fmt(row.get('best_epoch'))} of {fmt(row.get('epochs'))}, "
             f"{fmt(row.get('stop_reason'))}")
    note = "" if tests else "<tr><td colspan=2 class=muted>no test metrics yet (the top K " \
                            "are scored on the test split when the search ends)</td></tr>"
    return (f"<div><h3>Best trial #{t.number} <span class=muted>({_esc(where)})</span></h3>"
            f"<table class=kv>{tests}{note}{both}</table></div>"
            f"<div><h3>Its params</h3><table class=kv>{params}</table></div>")


# -- leaderboard -----------------------------------------------------------------------------

def _by_trainer(study: optuna.Study, frame: pd.DataFrame) -> str:
    """The per-trainer table of a search over several trainers ("" for one trainer)."""
    table = trainer_table(frame, objectives(study)[0]["metric"]) if len(frame) else None
    if table is None:
        return ""
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_esc(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return ("<section id=trainers><h2>By trainer</h2><p class=muted>Each trainer's best "
            "trial and what its trials cost (the sum of their training times); trials are "
            "pruned only against trials of their own trainer.</p>"
            f"<div class=scroll><table class=lb><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table></div></section>")


def _leaderboard(study: optuna.Study, frame: pd.DataFrame, top_k: int) -> str:
    objs = {o["metric"] for o in objectives(study)}
    params = {p for t in study.get_trials(deepcopy=False) for p in t.params}
    head = "".join(
        f'<th class="{"obj" if c in objs else "param" if c in params else ""}" '
        f'title="click to sort">{_esc(c)}</th>' for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = row[c]
            text = _esc(fmt(v))
            if c == "stop_reason" and text:
                color = REASON_COLORS.get(str(v), "#555")
                text = f'<span class=badge style="background:{color}">{text}</span>'
            elif c == "error" and text:
                text = f'<span class=err title="{text}">{text}</span>'
            cells.append(f'<td data-v="{_esc(_sort_key(v))}">{text}</td>')
        top = ' class="top"' if pd.notna(row["rank"]) and int(row["rank"]) <= top_k else ""
        rows.append(f"<tr{top}>{''.join(cells)}</tr>")
    trials = int((frame["state"] != "ensemble").sum())
    return (f"<section id=leaderboard><h2>Leaderboard</h2><p class=muted>{trials} trials, "
            "best first; click a column to sort. Objective columns are bold, params are "
            f"tinted; the top {top_k} (scored on the test split) are marked on the left. "
            "The same columns as <code>leaderboard.csv</code>.</p>"
            f"<div class=scroll><table class=lb><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div></section>")


# -- plots -----------------------------------------------------------------------------------

def _plot_section(p: Plot) -> str:
    inner = (f'<div class=plot id="plot-{p.key}" data-fig="fig-{p.key}"></div>'
             if p.figure is not None else
             f'<p class="missing">Not drawn: {_esc(p.missing)}.</p>')
    return (f'<section id="{p.key}" class=fig><h2>{_esc(p.title)}</h2>'
            f"<p class=muted>{_esc(p.why)}</p>{inner}</section>")


# -- reproduce -------------------------------------------------------------------------------

def reproduce_spec(study: optuna.Study, number: int) -> dict[str, Any] | None:
    """A spec that trains trial ``number`` again: the study's spec with those params
    enqueued as the only trial, no pruner, the same data split and the trial's own
    training seed (``execution.trial_seed``)."""
    # Redacted here too: a study stored before automl kept passwords out of its record.
    spec = redact_spec(study.user_attrs.get(STUDY_RECORD, {}).get("spec") or {})
    if not spec:
        return None
    t = study.get_trials(deepcopy=False)[number]
    params = t.user_attrs.get(TRIAL_RESULT, {}).get("params") or {}
    space = spec.get("params", {})
    # Fixed params (a scalar in the spec) are not sampled, so they cannot be enqueued.
    chosen = {k: v for k, v in params.items() if isinstance(space.get(k), dict | list)}
    spec.update(study=f"{study.study_name}-trial{number}", enqueue=[chosen],
                pruner={"name": "none"})
    spec["budget"] = {"trials": 1, "max_epochs": spec.get("budget", {}).get("max_epochs")}
    spec["report"] = {**spec.get("report", {}), "dir": None}
    seed = t.user_attrs.get(TRIAL_RESULT, {}).get("seed")
    if seed is not None:  # the same weight init and batch order as the trial had
        spec["execution"] = {**spec.get("execution", {}), "trial_seed": seed}
    return {k: v for k, v in spec.items() if v is not None}


def _reproduce(study: optuna.Study, frame: pd.DataFrame) -> str:
    best = frame[frame["state"] == "complete"].head(1)
    if not len(best):
        return ("<section id=reproduce><h2>Reproduce</h2><p>No trial has completed yet."
                "</p></section>")
    number = int(best.iloc[0]["trial"])
    spec = reproduce_spec(study, number)
    if spec is None:
        return ("<section id=reproduce><h2>Reproduce</h2><p>This study was not created by "
                "automl: no spec is stored.</p></section>")
    seed = spec.get("execution", {}).get("trial_seed")
    file = f"reproduce-trial{number}.yaml"
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    command = f"automl search --space {shlex.quote(file)}"
    return (
        "<section id=reproduce><h2>Reproduce the best trial</h2>"
        f"<p>Save this spec as <code>{_esc(file)}</code> and run <code>{_esc(command)}</code>: "
        f"it trains trial #{number}'s params once, on the same data split, with the "
        f"trial's own training seed ({_esc(fmt(seed))}) and the same early stopping (no "
        "pruner); on the same device and versions it gives the same weights. They are also "
        "kept as they were in <code>best/</code> beside this report, a model bundle: load "
        "it with <code>automl.load(&quot;reports/&lt;study&gt;&quot;)</code> or predict "
        "with <code>automl predict</code> (README: Use the best model).</p>"
        f"<pre class=code>{_esc(command)}</pre><pre class='code spec'>{_esc(text)}</pre>"
        "</section>")


def _spec(study: optuna.Study) -> str:
    record = study.user_attrs.get(STUDY_RECORD, {})
    if not record:
        return ""
    shown = {k: v for k, v in record.items() if k in ("spec", "versions")}
    if isinstance(shown.get("spec"), dict):
        shown["spec"] = redact_spec(shown["spec"])
    text = yaml.safe_dump(shown,
                          sort_keys=False, allow_unicode=True)
    return ("<section id=spec><details><summary>The resolved spec and versions</summary>"
            f"<pre class=code>{_esc(text)}</pre></details></section>")


CSS = """
:root{--fg:#1d2125;--muted:#5f6b76;--line:#dde2e7;--bg:#f6f8fa;--accent:#1565c0}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
margin:0 auto;padding:0 24px 48px;max-width:1400px}
header{position:sticky;top:0;background:#fff;z-index:5;border-bottom:1px solid var(--line);
padding:12px 0 8px}
h1{margin:0;font-size:22px}h2{font-size:18px;margin:28px 0 4px}h3{font-size:15px;margin:8px 0}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:6px}
nav a{color:var(--accent);text-decoration:none}nav a:hover{text-decoration:underline}
.muted{color:var(--muted);margin:2px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:var(--bg)}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:22px;font-weight:600}.card .sub{color:var(--muted);font-size:12px}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:18px;
margin-top:12px}
table.kv{border-collapse:collapse;width:100%}
table.kv th,table.kv td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;
vertical-align:top;word-break:break-word}
table.kv th{font-weight:500;color:var(--muted);width:40%}
.scroll{overflow:auto;max-height:70vh;border:1px solid var(--line);border-radius:6px}
table.lb{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
table.lb th{position:sticky;top:0;background:#eef1f4;cursor:pointer;white-space:nowrap;
padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;user-select:none}
table.lb th.obj{color:var(--accent)}table.lb th.param{background:#f3eefa}
table.lb th.asc:after{content:" \\25B2"}table.lb th.desc:after{content:" \\25BC"}
table.lb td{padding:4px 8px;border-bottom:1px solid #eef0f2;text-align:right;
white-space:nowrap;max-width:320px;overflow:hidden;text-overflow:ellipsis}
table.lb tr.top td:first-child{box-shadow:inset 3px 0 0 var(--accent)}
table.lb tbody tr:hover{background:#f2f7fd}
.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:11.5px}
.err{color:#c62828}
.plot{width:100%;min-height:220px}
.missing{color:var(--muted);font-style:italic;border:1px dashed var(--line);padding:10px;
border-radius:6px}
pre.code.spec{max-height:420px}
pre.code{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px;
overflow:auto;font-size:12.5px}
code{background:var(--bg);padding:0 4px;border-radius:3px}
details summary{cursor:pointer;color:var(--accent);margin-top:24px}
"""

SCRIPT = r"""
(function(){
  // Sortable leaderboard: numbers compare as numbers, empty cells always sort last.
  document.querySelectorAll('table.lb').forEach(function(table){
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function(th, col){
      th.addEventListener('click', function(){
        var asc = !th.classList.contains('asc');
        Array.prototype.forEach.call(heads, function(h){h.classList.remove('asc','desc');});
        th.classList.add(asc ? 'asc' : 'desc');
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
          if (x === '' || y === '') return (x === '') - (y === '');
          var nx = parseFloat(x), ny = parseFloat(y), c;
          c = (!isNaN(nx) && !isNaN(ny) && String(nx) !== 'NaN') ? nx - ny
              : x.localeCompare(y, undefined, {numeric: true});
          return asc ? c : -c;
        });
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  // Figures: JSON in <script type=application/json>, drawn by the inlined plotly.js.
  var theme = JSON.parse(document.getElementById('fig-theme').textContent);
  document.querySelectorAll('div.plot[data-fig]').forEach(function(div){
    var fig = JSON.parse(document.getElementById(div.dataset.fig).textContent);
    fig.layout.template = theme;
    Plotly.newPlot(div, fig.data, fig.layout,
                   {responsive: true, displaylogo: false, showLink: false})
      .then(function(){div.dataset.drawn = '1';});
  });
})();
"""
