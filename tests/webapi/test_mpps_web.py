"""The MPPS SCP seen over HTTP: ``GET /api/mpps``, ``GET /api/mpps/{uid}``, the page's
MPPS section and MPPS column, and the live panel's N-CREATE / N-SET entries beside the
C-FINDs (the last one in headless Chromium)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from pydicom import Dataset

import aiodicom
from aiodicom.net import Connector
from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, headless_chromium
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    MppsStack,
    create_attributes,
    final_attributes,
    make_worklist,
    mpps_stack,
    scheduled_step,
    unscheduled_step,
)

T = TypeVar("T")


def _connect(stack: MppsStack) -> Connector:
    return aiodicom.connect(
        "127.0.0.1", stack.server.port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
    )


def _query() -> Dataset:
    ds = Dataset()
    ds.PatientID = "MPPS0001"
    ds.PatientName = ""
    return ds


async def test_api_lists_mpps_with_station_times_series_and_steps(tmp_path: Path) -> None:
    make_worklist(tmp_path, 2)
    async with mpps_stack(tmp_path, http=True) as stack, aiohttp.ClientSession(stack.base) as http:
        async with _connect(stack) as assoc:
            await assoc.n_create(MPPS_SOP_CLASS, "1.2.7.1", create_attributes(scheduled_step(1)))
            await assoc.n_create(MPPS_SOP_CLASS, "1.2.7.2", create_attributes(unscheduled_step()))
            await assoc.n_set(MPPS_SOP_CLASS, "1.2.7.2", final_attributes("DISCONTINUED"))
        async with http.get("/api/mpps") as response:
            listed = await response.json()
        assert listed["total"] == 2
        by_uid = {row["sop_instance_uid"]: row for row in listed["mpps"]}
        first, second = by_uid["1.2.7.1"], by_uid["1.2.7.2"]
        assert first["status"] == "IN PROGRESS" and first["end"] == ""
        assert first["performed_station_ae"] == "CT01"
        assert first["worklist_steps"] == [
            {"ae_title": AE, "item_id": "mpps-1", "sps_id": "SPS1-1"}
        ]
        assert first["start"].endswith("T09:15:00")
        assert second["status"] == "DISCONTINUED" and second["scheduled"] is False
        assert second["end"].endswith("T09:30:00")
        assert second["series"][0]["series_instance_uid"] == "1.2.3.4.5.6"
        async with http.get("/api/mpps", params={"status": "IN PROGRESS"}) as response:
            assert [r["sop_instance_uid"] for r in (await response.json())["mpps"]] == ["1.2.7.1"]
        async with http.get("/api/mpps/1.2.7.2") as response:
            detail = await response.json()
        assert detail["dicom"]["00400252"]["Value"] == ["DISCONTINUED"]
        async with http.get("/api/mpps/9.9.9") as response:
            assert response.status == 404
        async with http.get("/") as response:
            page = await response.text()
        assert 'id="mpps"' in page and "Performed procedure steps" in page
        assert "<td>unscheduled</td>" in page
        # the MPPS column (the last one) of item mpps-1's row
        cell = (
            '<td class="mpps"><span class="badge badge-progress" title="1.2.7.1">IN PROGRESS'
            '</span> CT01 09:15 <span class="muted">0 series</span></td></tr>'
        )
        assert cell in page
        assert page.count('<th scope="col">MPPS</th>') == 1
        async with http.get("/api/queries") as response:
            entries = (await response.json())["queries"]
        kinds = [entry.get("kind") for entry in reversed(entries)]
        assert kinds == ["N-CREATE", "N-CREATE", "N-SET"]
        assert entries[0]["keys"]["PerformedProcedureStepStatus"] == "DISCONTINUED"


async def test_refusals_show_in_the_query_log(tmp_path: Path) -> None:
    make_worklist(tmp_path, 1)
    async with mpps_stack(tmp_path, http=True) as stack, aiohttp.ClientSession(stack.base) as http:
        async with _connect(stack) as assoc:
            with pytest.raises(aiodicom.DimseStatusError):
                await assoc.n_set(MPPS_SOP_CLASS, "7.7.7", final_attributes())
        async with http.get("/api/queries") as response:
            (entry,) = (await response.json())["queries"]
        assert entry["kind"] == "N-SET" and entry["status"] == "0x0112"
        assert entry["comment"] == "no MPPS instance 7.7.7"


webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def _wait(driver: WebDriver, condition: Callable[[WebDriver], T], seconds: float = 8.0) -> T:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _text_of(driver: WebDriver, css: str) -> str:
    script = (
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(e => e.innerText).join('\\n');"
    )
    return str(driver.execute_script(script, css))


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="chromium or chromium-driver not installed",
)
async def test_live_panel_shows_n_create_and_n_set_beside_c_find(
    tmp_path: Path, browser: WebDriver
) -> None:
    make_worklist(tmp_path, 2)
    async with mpps_stack(tmp_path, http=True) as stack:
        await asyncio.to_thread(browser.get, stack.base + "/")
        await asyncio.to_thread(
            _wait, browser, lambda d: "procedures" in _text_of(d, "#worklist caption")
        )
        async with _connect(stack) as assoc:
            assert len([ds async for ds in assoc.find(_query())]) == 1
            await assoc.n_create(MPPS_SOP_CLASS, "1.2.8.1", create_attributes(scheduled_step(2)))

            def in_progress() -> str:
                _wait(browser, lambda d: "N-CREATE" in _text_of(d, "#queries li.n-op"))
                _wait(browser, lambda d: "IN PROGRESS" in _text_of(d, "#mpps"))
                _wait(browser, lambda d: "IN PROGRESS" in _text_of(d, "#worklist td.mpps"))
                return _text_of(browser, "#queries")

            panel = await asyncio.to_thread(in_progress)
            assert "PatientID=MPPS0001" in panel  # the C-FIND, listed beside
            assert "SOPInstanceUID=1.2.8.1" in panel
            await assoc.n_set(MPPS_SOP_CLASS, "1.2.8.1", final_attributes())

            def completed() -> str:
                _wait(browser, lambda d: "N-SET" in _text_of(d, "#queries li.n-op"))
                _wait(browser, lambda d: "COMPLETED" in _text_of(d, "#mpps"))
                _wait(browser, lambda d: "MPPS^PATIENT2" not in _text_of(d, "#worklist"))
                return _text_of(browser, "#mpps")

            section = await asyncio.to_thread(completed)
        assert "AXIAL 5MM (0 images)" in section and "CT01 CT01 scanner" in section
        assert "mpps-2/SPS2-1" in section
