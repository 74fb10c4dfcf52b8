"""A real browser (headless Debian chromium via selenium) on the worklist page.

Adds a procedure through the form, checks the table and DCMTK findscu -W, checks inline
validation messages, watches a findscu query appear in the live panel (with the near-miss
reason of a zero-match query), deletes with confirmation and saves a screenshot to
test-artifacts/; and the layout with a long three-group person name at 1280, 1400 and
1920 px. Selenium is blocking, so every browser step runs in a worker thread
while the event loop keeps serving DICOM and HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, headless_chromium
from tests.interop.worklist_peers import FINDSCU, findscu
from tests.webapi.helpers import TODAY, WRITE, flat_item, make_data
from tests.webapi.stack import worklist_stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402

T = TypeVar("T")
pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists())
        or shutil.which(FINDSCU) is None,
        reason="chromium, chromium-driver or DCMTK findscu not installed",
    ),
]


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def _wait(driver: WebDriver, condition: Callable[[WebDriver], T], seconds: float = 8.0) -> T:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _fill_form(driver: WebDriver, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        element = driver.find_element(By.ID, f"f-{name}")
        if name == "start":  # datetime-local typing is locale dependent: set the value
            driver.execute_script("arguments[0].value = arguments[1]", element, value)
        else:
            element.clear()
            element.send_keys(value)
    driver.find_element(By.ID, "save").click()


def _text_of(driver: WebDriver, css: str) -> str:
    """Text of every match, read in one script call (the table is re-rendered live)."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(e => e.innerText).join('\\n');"
    )
    return str(driver.execute_script(script, css))


async def test_page_add_find_live_panel_delete(tmp_path: Path, browser: WebDriver) -> None:
    make_data(tmp_path, 6)
    start = f"{TODAY.isoformat()}T10:30"
    async with worklist_stack(tmp_path) as stack:

        def open_and_submit_bad() -> str:
            browser.get(stack.base + "/")
            _wait(browser, lambda d: "procedures" in _text_of(d, "#worklist caption"))
            _fill_form(browser, {"patient_name": "Browser^Bella", "patient_id": "BRW0001",
                                 "modality": "ct!", "start": start})  # fmt: skip
            _wait(browser, lambda d: _text_of(d, "#err-modality") != "")
            return _text_of(browser, "#err-modality")

        assert "CS" in await asyncio.to_thread(open_and_submit_bad)

        def submit_good() -> None:
            _fill_form(browser, {"modality": "CT", "station_ae": "CT01"})
            _wait(browser, lambda d: "BRW0001" in _text_of(d, "#worklist"))

        await asyncio.to_thread(submit_good)
        responses, log = await findscu(
            stack.dicom_port, ["PatientID=BRW0001", "PatientName"], tmp_path / "f1",
            "-aet", "CT01",
        )  # fmt: skip
        assert [str(ds.PatientName) for ds in responses] == ["Browser^Bella"], log
        await findscu(stack.dicom_port, ["PatientID=NOBODY"], tmp_path / "f2", "-aet", "MR02")

        def live_panel() -> str:
            _wait(browser, lambda d: "PatientID=NOBODY" in _text_of(d, "#queries li.zero"))
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / "webapi-page.png"))
            return _text_of(browser, "#queries")

        panel = await asyncio.to_thread(live_panel)
        assert "MR02" in panel and "PatientID=BRW0001" in panel and "1 match" in panel
        assert "PatientID: 'PID" in panel  # the near-miss reason of the zero-match query

        def delete_row() -> None:
            from selenium.common.exceptions import StaleElementReferenceException
            from selenium.webdriver.common.by import By

            for _attempt in range(10):  # the live table may be replaced between calls
                try:
                    rows = browser.find_elements(By.CSS_SELECTOR, "#worklist tr[data-id]")
                    row = next(r for r in rows if "BRW0001" in r.text)
                    row.find_element(By.CSS_SELECTOR, "button.delete").click()
                    break
                except StaleElementReferenceException:
                    continue
            _wait(browser, lambda d: d.switch_to.alert).accept()
            _wait(browser, lambda d: "BRW0001" not in _text_of(d, "#table-container"))

        await asyncio.to_thread(delete_row)
        assert not list((tmp_path / "WLMSCP").glob("*.yaml"))


LONG_NAME = (  # alphabetic=ideographic=phonetic, each group close to the 64-character limit
    "Wolfeschlegelsteinhausenbergerdorffvandersteenhoven^Maximiliano"
    "=ヴォルフェシュレーゲルシュタインハウゼンベルガードルフ^マクシミリアーノ"
    "=ゔぉるふぇしゅれーげるしゅたいんはうぜんべるがーどるふ^まくしみりあーの"
)
LAYOUT_SCRIPT = """
const box = (e) => { const r = e.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
const aside = document.querySelector("aside");
const rows = Array.from(document.querySelectorAll("#worklist tr[data-id]")).map((tr) => ({
  id: tr.dataset.id,
  cells: Array.from(tr.cells).map(box),
  controls: Array.from(tr.querySelectorAll("button.edit, button.delete, select.status-select"))
    .map((e) => ({kind: e.className, box: box(e), cell: e.closest("td").cellIndex})),
}));
const container = document.getElementById("table-container");
return {viewport: document.documentElement.clientWidth, aside: box(aside), rows: rows,
        scroll: [container.scrollWidth, container.clientWidth]};
"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and (
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    )


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["left"] >= outer["left"] - 0.5
        and inner["top"] >= outer["top"] - 0.5
        and inner["right"] <= outer["right"] + 0.5
        and inner["bottom"] <= outer["bottom"] + 0.5
    )


def _layout_problems(layout: dict[str, Any]) -> list[str]:
    """Actions controls outside the viewport, their cell, or over the sidebar/neighbours."""
    problems = []
    scroll_width, client_width = layout["scroll"]
    if scroll_width > client_width:
        problems.append(f"the table scrolls sideways ({scroll_width} > {client_width} px)")
    viewport, aside = float(layout["viewport"]), layout["aside"]
    for row in layout["rows"]:
        for control in row["controls"]:
            name, rect, index = f"{row['id']} {control['kind']}", control["box"], control["cell"]
            cell = row["cells"][index]
            if rect["left"] < 0 or rect["right"] > viewport:
                problems.append(f"{name} outside the viewport ({rect}, width {viewport})")
            if not _inside(rect, cell):
                problems.append(f"{name} outside its cell ({rect} in {cell})")
            if _overlap(rect, aside):
                problems.append(f"{name} overlaps the sidebar ({rect} / {aside})")
            for other, neighbour in enumerate(row["cells"]):
                if other != index and _overlap(rect, neighbour):
                    problems.append(f"{name} overlaps cell {other} ({rect} / {neighbour})")
    return problems


async def test_actions_column_fits_with_a_long_multi_group_name(
    tmp_path: Path, browser: WebDriver
) -> None:
    """#14.16: a long PN (three component groups) must not push Actions under the sidebar.

    At 1280, 1400 and 1920 px: Edit, Delete and the status dropdown lie inside the
    viewport and their own cell, overlap neither the sidebar nor another cell, and the
    table needs no sideways scrolling. Screenshots go to test-artifacts/.
    """
    make_data(tmp_path, 4)
    async with worklist_stack(tmp_path) as stack:
        async with aiohttp.ClientSession() as session:
            body = flat_item(patient_name=LONG_NAME, patient_id="LONG0001", id="long-name")
            async with session.post(f"{stack.base}/api/items", json=body, headers=WRITE) as r:
                assert r.status == 201, await r.text()

        def measure(width: int) -> list[str]:
            browser.set_window_size(width, 900)
            browser.get(stack.base + "/")
            _wait(browser, lambda d: "LONG0001" in _text_of(d, "#worklist"))
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / f"webapi-page-long-name-{width}.png"))
            layout = browser.execute_script(LAYOUT_SCRIPT)
            assert len(layout["rows"]) == 5 and all(len(r["controls"]) == 3 for r in layout["rows"])
            return _layout_problems(layout)

        for width in (1280, 1400, 1920):
            problems = await asyncio.to_thread(measure, width)
            assert not problems, f"at {width} px: " + "; ".join(problems[:6])
