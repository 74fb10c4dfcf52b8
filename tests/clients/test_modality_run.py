"""``aiodicom-modality`` run bounds and sharing: many modalities, ``--steps``,
``--duration`` without work, steps never taken twice, the live table; in process against
the pynetdicom MWL + MPPS SCP, and the step choice on worklist answers."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from pathlib import Path
from typing import Any

from pydicom import Dataset
from rich.console import Console

from clients.modality.emulator import Emulator, EmulatorSettings, Peer
from clients.modality.steps import Claims, scheduled_steps
from clients.modality.table import live_table

from .mpps_peer import SCP_AE, pynetdicom_mpps, scheduled_item, today


def _settings(port: int, stations: tuple[str, ...], **overrides: Any) -> EmulatorSettings:
    peer = Peer("127.0.0.1", port, SCP_AE)
    base = EmulatorSettings(stations, peer, peer, today(), exam_time=0.0, timeout=10.0)
    return dataclasses.replace(base, **overrides)


async def test_many_modalities_each_their_own_steps_bounded_by_steps(tmp_path: Path) -> None:
    stations = ("MOD001", "MOD002", "MOD003", "MOD004")  # MOD004: no work, it polls
    items = [scheduled_item(i, stations[i % 3]) for i in range(9)]
    with pynetdicom_mpps(tmp_path, items) as peer:
        settings = _settings(peer.port, stations, steps=5, until_empty=False, poll=0.1)
        emulator = Emulator(settings)
        # no duration: the run ends once 5 steps are done, idle modalities included
        record = await asyncio.wait_for(emulator.run(), 20.0)
        creates = peer.requests("N-CREATE")
    assert len(record.steps) == 5 == emulator.started
    assert [step.outcome for step in record.steps] == ["COMPLETED"] * 5
    accessions = [row["dataset"]["00400270"]["Value"][0]["00080050"]["Value"][0] for row in creates]
    assert len(set(accessions)) == 5
    for row in creates:
        station = row["dataset"]["00400241"]["Value"][0]  # Performed Station AE Title
        assert station == row["calling_ae"]
        index = int(row["dataset"]["00100020"]["Value"][0][3:])  # PID000n
        assert stations[index % 3] == station
    assert {state.state for state in emulator.modalities} == {"done"}
    assert emulator.modalities[3].completed == 0
    assert sum(state.completed for state in emulator.modalities) == 5


async def test_duration_bounds_a_run_without_work(tmp_path: Path) -> None:
    with pynetdicom_mpps(tmp_path, []) as peer:
        settings = _settings(peer.port, ("CT01",), duration=0.6, poll=0.1, until_empty=False)
        begin = time.monotonic()
        record = await Emulator(settings).run()
        elapsed = time.monotonic() - begin
    assert 0.6 <= elapsed < 5.0
    assert record.steps == [] and record.failures == []
    assert record.histograms["C-FIND"].get_total_count() >= 3  # polled while idle


async def test_duration_ends_a_running_exam_with_its_n_set(tmp_path: Path) -> None:
    with pynetdicom_mpps(tmp_path, [scheduled_item(1, "CT01")]) as peer:
        settings = _settings(peer.port, ("CT01",), exam_time=60.0, duration=0.5)
        begin = time.monotonic()
        record = await Emulator(settings).run()
        elapsed = time.monotonic() - begin
        sets = peer.requests("N-SET")
    assert elapsed < 10.0
    assert [step.outcome for step in record.steps] == ["COMPLETED"]
    assert len(sets) == 1


async def test_live_table_shows_each_modality_to_the_end(tmp_path: Path) -> None:
    items = [scheduled_item(1, "CT01"), scheduled_item(2, "CT02")]
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    with pynetdicom_mpps(tmp_path, items, "--set-status", "0x0110") as peer:
        emulator = Emulator(_settings(peer.port, ("CT01", "CT02", "CT03")))
        table = asyncio.create_task(live_table(emulator, console))
        await emulator.run()
        table.cancel()
        await asyncio.gather(table, return_exceptions=True)
    last_frame = out.getvalue().rsplit("aiodicom-modality", 1)[1]
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in last_frame.splitlines()]
    rows = {row[0]: row[1:] for row in cells if row and row[0].startswith("CT0")}
    assert rows["CT01"] == ["no work left", "", "0", "0", "1"]
    assert rows["CT02"] == ["no work left", "", "0", "0", "1"]
    assert rows["CT03"] == ["no work left", "", "0", "0", "0"]
    assert "2 steps, 0 completed, 0 discontinued, 2 failures" in last_frame


def _answer(station: str, step_id: str, time: str, status: str = "") -> Dataset:
    sps = Dataset()
    sps.ScheduledStationAETitle = station
    sps.ScheduledProcedureStepStartTime = time
    sps.ScheduledProcedureStepID = step_id
    sps.ScheduledProcedureStepStatus = status
    item = Dataset()
    item.StudyInstanceUID = "1.2.3"
    item.ScheduledProcedureStepSequence = [sps]
    return item


def test_next_step_is_the_earliest_untaken_one_of_this_station() -> None:
    answers = [
        _answer("CT01", "LATE", "1000"),
        _answer("CT02", "OTHER", "0700"),  # another station: an SCP ignoring the key
        _answer("CT01", "EARLY", "0800"),
        _answer("CT01", "RUNNING", "0600", status="STARTED"),
        _answer("", "ANY", "0900"),
    ]
    claims = Claims()
    taken = [claims.take_next(scheduled_steps(answers, "CT01")) for _ in range(4)]
    ids = [None if step is None else step.sps.ScheduledProcedureStepID for step in taken]
    assert ids == ["EARLY", "ANY", "LATE", None]
    other = claims.take_next(scheduled_steps(answers, "CT02"))
    assert other is not None and other.sps.ScheduledProcedureStepID == "OTHER"
