"""report.html as text: sections, escaping, offline-ness, plots, and the reproduce spec."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from automl.plugin.host import PluginHost
from automl.reports import leaderboard_frame, write_reports
from automl.reports.html import render_html, reproduce_spec
from automl.reports.plots import build_plots
from automl.engine.controller import search
from automl.engine.studies import load_study
from automl.spec import load_spec
from tests.helpers import CURVE_SPEC, MULTI_SPEC, XSS, XSS_SPEC, search_reports
from tests.helpers import WriteSpec as Spec

@pytest.fixture
def xss_report(in_tmp: Path, write_spec: Spec, host: PluginHost) -> Path:
    # The study name must be a safe file name, so the markup rides in the param only.
    return search_reports(write_spec, host, XSS_SPEC.replace("<b>xss</b>-study", "xss-study"))


def test_search_writes_report_html_with_every_section(xss_report: Path) -> None:
    page = (xss_report / "report.html").read_text()
    for section in ("summary", "leaderboard", "history", "time", "importance", "parallel",
                    "slice", "contour", "curves", "reasons", "timeline", "reproduce"):
        assert f'id={section}' in page or f'id="{section}"' in page, section
    for key in ("history", "time", "importance", "parallel", "slice", "contour", "curves",
                "reasons", "timeline"):
        assert f'id="fig-{key}"' in page, f"{key} has no figure"
    assert "Not drawn: one objective" in page  # the Pareto front says why it is absent
    assert "<div class=label>why it stopped</div><div class=value>budget</div>" in page


def test_user_strings_never_appear_as_markup(xss_report: Path) -> None:
    page = (xss_report / "report.html").read_text()
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the table cell, as text
    # Inside the figure JSON, '<' is \u003c: nothing can close the <script> element.
    blobs = re.findall(r'<script type="application/json" id="fig-\w+">(.*?)</script>', page,
                       flags=re.S)
    assert blobs  # the figures are there to check
    for blob in blobs:
        assert "<" not in blob


def test_the_page_loads_nothing_from_elsewhere(xss_report: Path) -> None:
    page = (xss_report / "report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"<(script|img|iframe|link)[^>]*\s(src|href)=", page)
    assert page.count("<script>") == 2  # plotly.js once, the page's own script once
    assert "Plotly.newPlot" in page


def test_multi_objective_report_draws_the_pareto_front(in_tmp: Path, write_spec: Spec,
                                                       host: PluginHost) -> None:
    folder = search_reports(write_spec, host, MULTI_SPEC)
    page = (folder / "report.html").read_text()
    assert 'id="fig-pareto"' in page
    assert "pareto_rank" in page


def test_too_few_trials_say_why_instead_of_plotting(in_tmp: Path, write_spec: Spec,
                                                    host: PluginHost) -> None:
    folder = search_reports(write_spec, host, CURVE_SPEC.replace("trials: 6", "trials: 1"))
    study = load_study("curve-study")
    plots = {p.key: p for p in build_plots(study, leaderboard_frame(study), 10)}
    assert plots["history"].figure is None
    assert plots["history"].missing == "needs 2 complete trials (1 so far)"
    assert plots["curves"].figure is not None  # one trial still has a learning curve
    assert "Not drawn: needs 2 complete trials (1 so far)" in (folder / "report.html").read_text()


def test_a_broken_html_never_costs_the_leaderboards(in_tmp: Path, write_spec: Spec,
                                                    host: PluginHost,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    search_reports(write_spec, host, CURVE_SPEC.replace("trials: 6", "trials: 2"))
    study = load_study("curve-study")

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr("automl.reports.html.render_html", broken)
    out = in_tmp / "again"
    write_reports(study, out, 10)
    assert (out / "leaderboard.csv").exists() and (out / "leaderboard.md").exists()
    assert not (out / "report.html").exists()
    assert not list(out.glob(".*.tmp"))  # no half-written leftovers


@pytest.mark.slow
def test_reproduce_spec_retrains_the_best_trial_to_the_same_result(
        in_tmp: Path, write_spec: Spec, host: PluginHost) -> None:
    search_reports(write_spec, host, XSS_SPEC.replace("<b>xss</b>-study", "xss-study"))
    study = load_study("xss-study")
    frame = leaderboard_frame(study)
    best = frame.iloc[0]
    spec = reproduce_spec(study, int(best["trial"]))
    assert spec is not None and spec["budget"]["trials"] == 1
    page = (Path("reports/xss-study") / "report.html").read_text()
    assert f"automl search --space reproduce-trial{int(best['trial'])}.yaml" in page
    path = in_tmp / "reproduce.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    again = load_spec(path)
    search(again, host)
    redo = leaderboard_frame(load_study(again.study))
    assert len(redo) == 1
    assert redo.iloc[0]["x"] == best["x"] and redo.iloc[0]["tag"] == best["tag"]
    assert redo.iloc[0]["val_accuracy"] == pytest.approx(best["val_accuracy"])


def test_numbers_are_shown_to_four_digits_and_missing_as_blank(xss_report: Path) -> None:
    study = load_study("xss-study")
    frame = leaderboard_frame(study)
    page = render_html(study, frame, 3)
    x = float(frame.iloc[0]["x"])
    assert f">{x:.4g}</td>" in page
    assert f'data-v="{float(x)!r}"' in page  # sorting compares the full value
    assert ">nan<" not in page and ">None<" not in page and "<NA>" not in page


@pytest.mark.slow
def test_reproduce_spec_gives_a_later_trial_its_own_training_seed_and_its_weights(
        in_tmp: Path, write_spec: Spec, global_host: PluginHost) -> None:
    # A real torch trainer: weight init and batch order come from the trial's seed, and
    # trial 2's derived seed is not the one a fresh study's trial 0 would get.
    spec = load_spec(write_spec("""
study: seeded
trainer: mlp
dataset: {name: iris}
budget: {trials: 3, max_epochs: 6}
sampler: {name: random, seed: 5}
pruner: {name: none}
execution: {workers: 0}
params:
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
  n_layers: 1
  layers: {repeat: n_layers, params: {units: 16}}
  dropout: 0.2
"""))
    search(spec, global_host)
    study = load_study("seeded")
    trial = study.trials[2]
    redo_spec = reproduce_spec(study, 2)
    assert redo_spec is not None
    assert redo_spec["execution"]["trial_seed"] == trial.user_attrs["automl"]["seed"] == \
        5 * 100_003 + 2
    path = in_tmp / "reproduce.yaml"
    path.write_text(yaml.safe_dump(redo_spec, sort_keys=False))
    again = load_spec(path)
    search(again, global_host)
    redo = load_study(again.study).trials[0].user_attrs["automl"]
    before = trial.user_attrs["automl"]

    def curve(result: dict) -> list[dict]:
        return [{k: v for k, v in h.items() if k != "t"} for h in result["history"]]

    assert redo["params"] == before["params"]
    assert curve(redo) == curve(before)  # every epoch's metrics, to the last digit

    del redo_spec["execution"]["trial_seed"]  # and without the pin, trial 0's seed
    path.write_text(yaml.safe_dump({**redo_spec, "study": "unpinned"}, sort_keys=False))
    search(load_spec(path), global_host)
    assert curve(load_study("unpinned").trials[0].user_attrs["automl"]) != curve(before)


def test_timeline_has_a_row_per_worker_and_splits_workers_that_overlap() -> None:
    import datetime as dt

    import optuna
    from optuna.distributions import FloatDistribution

    from automl.reports.trial_plots import timeline as _timeline

    t0 = dt.datetime(2026, 1, 1, 12, 0, 0)
    study = optuna.create_study(direction="maximize")

    def add(start: int, end: int, worker: int | None) -> None:
        study.add_trial(optuna.trial.FrozenTrial(
            number=0, trial_id=0, state=optuna.trial.TrialState.COMPLETE, value=0.5,
            params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
            datetime_start=t0 + dt.timedelta(seconds=start),
            datetime_complete=t0 + dt.timedelta(seconds=end),
            user_attrs={"automl": {"stop_reason": "completed", "device": "cpu",
                                   "worker": worker, "metrics": {}, "params": {"x": 0.5}}},
            system_attrs={}, intermediate_values={}))

    add(0, 10, 0)
    add(0, 5, 1)
    add(5, 12, 1)  # worker 2 again, after its first trial
    add(2, 8, 0)   # another controller's worker 1, at the same time as trial 0
    add(20, 30, None)  # a record without a worker index
    fig = _timeline(study, leaderboard_frame(study))
    rows = {t.text[0]: t.y[0] for t in fig.data}
    assert rows == {"#0": "cpu · worker 1 (1)", "#3": "cpu · worker 1 (2)",
                    "#1": "cpu · worker 2", "#2": "cpu · worker 2", "#4": "cpu · slot 1"}
