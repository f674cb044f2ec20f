"""The reports of a running search are rebuilt when a trial finished, at most once a
second and never for more than a twentieth of the search's time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from automl.engine import live_reports
from automl.engine.live_reports import LiveReports


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(live_reports, "time", clock)
    return clock


def _count_writes(monkeypatch: pytest.MonkeyPatch, clock: Clock, cost: float) -> list[float]:
    writes: list[float] = []

    def write(study: Any, folder: Path, top_k: int) -> pd.DataFrame:
        writes.append(clock.now)
        clock.now += cost  # what a rewrite costs
        return pd.DataFrame({"state": [], "trial": []})

    monkeypatch.setattr(live_reports, "write_reports", write)
    monkeypatch.setattr(live_reports.artifacts, "retain", lambda folder, keep: None)
    return writes


@pytest.mark.parametrize(("cost", "finished_every", "span", "expected"), [
    # cheap rewrites, a trial every 0.1 s for 5 s: once a second, the first a second in
    (0.01, 0.1, 5.0, 4),
    # a rewrite costing 0.2 s may take 5 % of the time: one every 4 s
    (0.2, 0.1, 10.0, 3),
    # trials rarer than the interval: a rewrite after each but the one at the start
    (0.01, 2.0, 10.0, 4),
])
def test_rewrites_are_rationed(monkeypatch: pytest.MonkeyPatch, clock: Clock, cost: float,
                               finished_every: float, span: float, expected: int) -> None:
    writes = _count_writes(monkeypatch, clock, cost)
    start = clock.now
    reports = LiveReports(Path("reports/x"), top_k=3, budget_trials=100)
    end = clock.now + span
    while clock.now < end:
        reports.due = True  # a trial finished
        reports.write_due(object())  # type: ignore[arg-type]
        clock.now += finished_every
    assert len(writes) == expected
    assert writes[0] >= start + live_reports.MIN_INTERVAL_S  # not the first trial's moment
    gaps = [b - a for a, b in zip(writes, writes[1:], strict=False)]
    assert all(g >= max(live_reports.MIN_INTERVAL_S, cost / live_reports.TIME_SHARE) - 1e-9
               for g in gaps)


def test_nothing_is_rewritten_when_no_trial_finished(monkeypatch: pytest.MonkeyPatch,
                                                     clock: Clock) -> None:
    writes = _count_writes(monkeypatch, clock, 0.01)
    reports = LiveReports(Path("reports/x"), top_k=3, budget_trials=100)
    for _ in range(50):
        reports.write_due(object())  # type: ignore[arg-type]
        clock.now += 1.0
    assert writes == []
