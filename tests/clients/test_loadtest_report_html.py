"""``--report-html`` (#19.5): a self-contained page whose plots render in a real browser.

A short parameterised run against the README's own server writes the page; headless
Chromium (selenium, as tests/webapi/test_browser.py) opens it from a ``file://`` URL
with the network switched off, and each of the three plots must have drawn its traces
(SVG paths with data), the per-query table must list the query, and the console must
hold no error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.loadtest.__main__ import main
from tests.clients.bundled_worklist import AE, REPO, bundled_worklist
from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, headless_chromium

OFFLINE = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]  # no network
PLOTS = ("latency-over-time", "throughput-over-time", "latency-histogram")

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402

pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="chromium or chromium-driver not installed",
    ),
]


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium(OFFLINE, console_log=True, page_load_timeout=30) as driver:
        yield driver


def _run(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    page, report = tmp_path / "report.html", tmp_path / "report.json"
    with bundled_worklist(tmp_path) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID={patient_id}",
                     "-k", "PatientName=", "--values", str(REPO / "config/loadtest-patients.csv"),
                     "--mode", "open", "--stage", "1s:50", "--stage", "1s:150",
                     "--threshold", "p99<5s", "--no-progress",
                     "--json", str(report), "--report-html", str(page)])  # fmt: skip
    assert code == 0
    return page, json.loads(report.read_text())


def test_the_page_needs_no_network(tmp_path: Path) -> None:
    page, _ = _run(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "<script src=" not in text.replace(" ", "")  # plotly's JS is inline
    assert "cdn.plot.ly" not in text.split("</script>")[0][-2000:]
    for plot in PLOTS:
        assert f'id="{plot}"' in text


def test_the_plots_render_in_chromium(tmp_path: Path, browser: WebDriver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page, report = _run(tmp_path)
    browser.get(page.as_uri())
    for plot in PLOTS:

        def drawn(driver: WebDriver, plot: str = plot) -> bool:
            return bool(
                driver.execute_script(
                    "const d = document.getElementById(arguments[0]);"
                    "return d && d.querySelectorAll('svg.main-svg').length > 0"
                    " && d.querySelectorAll('g.trace').length > 0",
                    plot,
                )
            )

        WebDriverWait(browser, 15, poll_frequency=0.1).until(drawn)
        traces = browser.execute_script(
            "return Array.from(document.getElementById(arguments[0])"
            ".querySelectorAll('g.trace path, g.trace .point path, g.points path'))"
            ".filter(p => (p.getAttribute('d') || '').length > 4).length",
            plot,
        )
        assert traces > 0, f"{plot} drew no data"
        box = browser.find_element(By.ID, plot).rect
        assert box["width"] > 300 and box["height"] > 200, (plot, box)
    bars = browser.execute_script(
        "return document.querySelectorAll('#latency-histogram g.points path').length"
    )
    assert bars >= 3, "the histogram has several latency buckets"
    rows = browser.find_elements(By.CSS_SELECTOR, "#per-query tr")
    assert [row.find_elements(By.TAG_NAME, "td")[0].text for row in rows[1:]] == ["cli", "(all)"]
    assert "PASS p99<5s" in browser.find_element(By.ID, "verdicts").text
    log: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    errors = [entry for entry in log if entry["level"] == "SEVERE"]
    assert errors == [], errors
    assert report["queries"] == 125  # 0 -> 50 q/s over 1 s, then 50 -> 150 over 1 s
