"""Issue 17's scripted day, with real processes only: a RIS sends 20 orders for 5 stations
(the ``hl7`` package's ``mllp_send``, each ACKed AA), five emulated modalities
(``aiodicom-modality``, one process per station AE) work through them with MPPS, DCMTK
``findscu`` sees the worklist shrink, headless Chromium sees each state on the page, and
two restarts of ``aiodicom-worklist`` (SIGTERM, then kill -9) lose nothing.

The day runs in three phases, each a bounded emulator run per station:

1. two steps each, short exams, a share DISCONTINUED; then SIGTERM and a restart;
2. one step each with a long exam: once all five are IN PROGRESS the server is killed
   with SIGKILL and started again on the same data. The modalities hold no association
   during an exam, so the restart falls between their N-CREATE and their N-SET; SIGTERM
   then ends their exams and the N-SETs go to the restarted server. No retry is needed
   and the reports show no failure at all;
3. the last step of each station, until the worklist is empty.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, headless_chromium
from tests.hl7.messages import omi, today_dtm
from tests.interop.day_peers import (
    ModalityResult,
    WorklistProcess,
    start_modality,
    step_states,
)
from tests.interop.worklist_peers import FINDSCU

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402

pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(FINDSCU) is None, reason="DCMTK findscu not installed"),
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="chromium or chromium-driver not installed",
    ),
]
STATIONS = {"CT01": "CT", "CT02": "CT", "MR01": "MR", "MR02": "MR", "US01": "US"}
ORDERS = 20
FINAL = {"COMPLETED", "DISCONTINUED"}
SHORT_EXAM = ["--exam-time", "200ms", "--discontinue-rate", "0.4", "--duration", "60s"]
ROWS_JS = """return Array.from(document.querySelectorAll('#worklist tr[data-id]')).map(r => {
  const select = r.querySelector('select.status-select');
  const mpps = r.querySelector('td.mpps');
  return [r.cells[4].innerText.trim(), select ? select.value : r.cells[7].innerText.trim(),
          mpps ? mpps.innerText.trim() : ''];
});"""
MPPS_JS = """return Array.from(document.querySelectorAll('#mpps tbody tr'))
  .map(r => Array.from(r.cells).map(c => c.innerText.trim()));"""


def orders() -> list[str]:
    """20 OMI^O23 orders (IHE RAD-4), four for each station, one step each."""
    stations = list(STATIONS)
    messages = []
    for index in range(1, ORDERS + 1):
        station = stations[index % len(stations)]
        messages.append(
            omi(
                placer=f"PL{index:04d}",
                filler=f"FL{index:04d}",
                accession=f"ACC{index:04d}",
                procedure_id=f"RP{index:04d}",
                steps=((f"SPS{index:04d}", STATIONS[station], station),),
                patient_id=f"PAT{index:04d}",
                name=f"Day^Patient^{index}",
                start=today_dtm(8 + index // 5, index % 5 * 10),
                study_uid=f"1.2.826.0.1.3680043.10.1234.17.{index}",
            )
        )
    return messages


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WorklistProcess]:
    running = WorklistProcess(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.close()


async def page(driver: WebDriver, server: WorklistProcess) -> tuple[list[Any], list[Any]]:
    """The page as loaded now: worklist rows (station, status, MPPS cell) and the rows
    of the "Performed procedure steps" table."""

    def load() -> tuple[list[Any], list[Any]]:
        driver.get(server.base + "/")
        return list(driver.execute_script(ROWS_JS)), list(driver.execute_script(MPPS_JS))

    return await asyncio.to_thread(load)


async def phase(
    server: WorklistProcess, tmp: Path, name: str, options: Sequence[str], stop_when: Any = None
) -> list[ModalityResult]:
    """One emulator process per station with ``options``; ``stop_when`` (a coroutine
    function) runs while they work, and they are then ended with SIGTERM."""
    runs = []
    for seed, (station, modality) in enumerate(STATIONS.items(), start=17):
        own = ["--modality", modality, "--seed", str(seed), *options]
        runs.append(await start_modality(server, station, tmp / f"{name}-{station}.json", *own))
    signum = None
    if stop_when is not None:
        await stop_when()
        signum = signal.SIGTERM
    results = [await run.finish(signum) for run in runs]
    for result in results:
        assert result.returncode == 0 and result.report["failures"] == [], result.output
    return results


async def all_in_progress(server: WorklistProcess, count: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = await server.mpps()
        if sum(row["status"] == "IN PROGRESS" for row in rows) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {count} MPPS IN PROGRESS within {seconds} s: {rows}")


def outcomes(results: Sequence[ModalityResult]) -> dict[str, str]:
    """Scheduled Procedure Step ID -> how the emulators ended it."""
    return {
        step["scheduled_procedure_step_id"]: step["outcome"]
        for result in results
        for step in result.report["steps"]
    }


async def test_a_day_of_orders_modalities_mpps_and_restarts(
    server: WorklistProcess, browser: WebDriver, tmp_path: Path
) -> None:
    begin = time.monotonic()
    # the RIS: 20 orders, each acknowledged
    acks = await server.mllp_send(orders())
    assert [ack.split("MSA|")[1][:2] for ack in acks] == ["AA"] * ORDERS, acks
    ordered = {f"SPS{index:04d}" for index in range(1, ORDERS + 1)}
    states = step_states(await server.findscu(tmp_path / "f0"))
    assert states == dict.fromkeys(ordered, "SCHEDULED")
    rows, mpps_rows = await page(browser, server)
    assert sorted(station for station, _, _ in rows) == sorted(list(STATIONS) * 4)
    assert {(status, cell) for _, status, cell in rows} == {("SCHEDULED", "-")}
    assert mpps_rows == []

    # phase 1: two short exams per station, then a graceful restart
    first = outcomes(await phase(server, tmp_path, "p1", ["--steps", "2", *SHORT_EXAM]))
    assert len(first) == 10
    states = step_states(await server.findscu(tmp_path / "f1"))
    assert states == dict.fromkeys(ordered - first.keys(), "SCHEDULED")
    before = await server.mpps()
    assert {row["status"] for row in before} <= FINAL and len(before) == 10
    assert server.stop(signal.SIGTERM) == 0
    server.start()
    assert await server.mpps() == before
    assert step_states(await server.findscu(tmp_path / "f2")) == states

    # phase 2: one long exam per station; kill -9 of the server while they run
    async def kill_and_restart() -> None:
        await all_in_progress(server, len(STATIONS))
        started = step_states(await server.findscu(tmp_path / "f3"))
        assert sorted(started.values()).count("STARTED") == len(STATIONS)
        held = await server.mpps()
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        server.start()
        assert await server.mpps() == held
        assert step_states(await server.findscu(tmp_path / "f4")) == started
        rows, mpps_rows = await page(browser, server)  # the restarted server's page
        running = [(station, cell) for station, status, cell in rows if status == "STARTED"]
        assert sorted(station for station, _ in running) == sorted(STATIONS)
        assert all(cell.startswith(f"IN PROGRESS {station}") for station, cell in running)
        assert sum(status == "SCHEDULED" for _, status, _ in rows) == 5
        assert sorted(row[0] for row in mpps_rows).count("IN PROGRESS") == len(STATIONS)

    long_exam = ["--steps", "1", "--exam-time", "60s", "--duration", "90s"]
    second = outcomes(await phase(server, tmp_path, "p2", long_exam, kill_and_restart))
    assert len(second) == len(STATIONS) and not second.keys() & first.keys()
    states = step_states(await server.findscu(tmp_path / "f5"))
    assert states == dict.fromkeys(ordered - first.keys() - second.keys(), "SCHEDULED")

    # phase 3: the rest, until every station finds its worklist empty
    third = outcomes(await phase(server, tmp_path, "p3", ["--until-empty", *SHORT_EXAM]))
    assert len(third) == len(STATIONS)
    assert await server.findscu(tmp_path / "f6") == []
    performed = {**first, **second, **third}
    assert performed.keys() == ordered and set(performed.values()) == FINAL  # both outcomes

    # every acknowledged order ended in exactly one acknowledged MPPS, as the modality said
    rows = await server.mpps()
    linked = {link["sps_id"]: row["status"] for row in rows for link in row["worklist_steps"]}
    assert len(rows) == ORDERS and linked == performed
    page_rows, mpps_rows = await page(browser, server)
    assert page_rows == [] and len(mpps_rows) == ORDERS
    for state, _patient, station, start, end, series, steps in mpps_rows:
        assert state in FINAL and station.split()[0] in STATIONS
        assert start and end and series.endswith("(3 images)")
        assert performed[steps.split("/")[1]] == state
    assert time.monotonic() - begin < 100
