"""report.html in a real browser: Debian's headless chromium, driven by Playwright, with
networking off. Every plot must draw, no request may leave the page, and a param value
that is markup must show as text. Skipped when chromium is absent, except in CI (CI=true),
where scripts/install-chromium.sh has installed it and a skip would hide a broken report.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from automl.plugin.host import PluginHost
from automl.engine.controller import search
from automl.spec import load_spec
from tests.helpers import MULTI_SPEC, REPO, XSS, XSS_SPEC, search_reports
from tests.helpers import WriteSpec as Spec

pytestmark = pytest.mark.slow  # a real browser, and a real search per page

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing in CI: scripts/install-chromium.sh must install it")
    pytest.skip("chromium is not installed (scripts/install-chromium.sh installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    if os.environ.get("CI") == "true":
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        # Debian's chromium, never a browser Playwright would download.
        b = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        yield b
        b.close()


class Visit:
    """What a page load did: requests, script errors, dialogs, and the page itself."""

    def __init__(self, browser: Any, report: Path, screenshot: Path | None = None) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        # A fresh context: no cache, no cookies; offline, so any request would fail too.
        self.context = browser.new_context(viewport={"width": 1400, "height": 900},
                                           offline=True)
        page = self.context.new_page()
        self.page = page
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "document.querySelectorAll('div.plot').length > 0 && "
            "document.querySelectorAll('div.plot').length === "
            "document.querySelectorAll('div.plot[data-drawn]').length", timeout=30_000)
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)

    def drawn(self) -> dict[str, int]:
        """Per plot element: how many SVG marks plotly drew into it."""
        return dict(self.page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('div.plot')).map(d => "
            "[d.id, d.querySelectorAll('.main-svg path, .main-svg rect, .main-svg text')"
            ".length]))"))

    def close(self) -> None:
        self.context.close()


def _offline(visit: Visit, report: Path) -> None:
    assert visit.requests == [report.resolve().as_uri()], visit.requests
    assert visit.errors == [] and visit.dialogs == []


def test_report_draws_every_plot_offline_and_shows_markup_as_text(
        browser: Any, in_tmp: Path, write_spec: Spec, host: PluginHost) -> None:
    report = search_reports(write_spec, host, XSS_SPEC.replace("<b>xss</b>-study", "xss-study"),
                            "xss.yaml") / "report.html"
    visit = Visit(browser, report)
    try:
        _offline(visit, report)
        drawn = visit.drawn()
        assert set(drawn) == {f"plot-{k}" for k in ("history", "time", "importance",
                                                    "parallel", "slice", "contour", "curves",
                                                    "reasons", "timeline")}
        assert all(n > 10 for n in drawn.values()), drawn
        # The markup is text in the table, and no <script> element came from it.
        cells = visit.page.locator("table.lb td", has_text=XSS)
        assert cells.count() >= 1 and cells.first.inner_text() == XSS
        assert visit.page.evaluate("document.querySelectorAll('script:not([type])').length") == 2
        # Plotly shows the value as typed too (it drops unknown tags of raw strings).
        labels = visit.page.evaluate(
            "Array.from(document.querySelectorAll('#plot-parallel svg text'))"
            ".map(t => t.textContent)")
        assert XSS in labels, labels
        # The leaderboard sorts on a click: trial numbers ascending.
        visit.page.locator("table.lb th", has_text="trial").first.click()
        trials = [int(t) for t in visit.page.locator("table.lb tbody tr td:nth-child(2)")
                  .all_inner_texts()]
        assert trials == sorted(trials)
    finally:
        visit.close()


def test_pareto_front_draws_for_two_objectives(browser: Any, in_tmp: Path, write_spec: Spec,
                                               host: PluginHost) -> None:
    report = search_reports(write_spec, host, MULTI_SPEC, "multi.yaml") / "report.html"
    visit = Visit(browser, report)
    try:
        _offline(visit, report)
        assert visit.drawn().get("plot-pareto", 0) > 10
    finally:
        visit.close()


def test_digits_cnn_report_screenshot(browser: Any, in_tmp: Path, write_spec: Spec,
                                      host: PluginHost) -> None:
    """A real (small) digits CNN study; the screenshot is left in the test's temp folder."""
    text = (REPO / "search_spaces/cnn.yaml").read_text()
    text = text.replace("budget: {trials: 30, max_epochs: 30}",
                        "budget: {trials: 3, max_epochs: 4}")
    assert "trials: 3" in text
    spec = load_spec(write_spec(text, "cnn.yaml"), {"execution.workers": "0"})
    search(spec, host)
    report = Path("reports") / spec.study / "report.html"
    shot = in_tmp / "digits-cnn-report.png"
    visit = Visit(browser, report, screenshot=shot)
    try:
        _offline(visit, report)
        assert all(n > 10 for n in visit.drawn().values())
        assert shot.stat().st_size > 50_000
        print(f"screenshot: {shot}")
    finally:
        visit.close()
