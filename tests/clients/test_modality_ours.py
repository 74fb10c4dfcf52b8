"""``aiodicom-modality`` against our own ``aiodicom-worklist`` (a real process, MWL and
MPPS on one port): the JSON report agrees with the MPPS instances the server stored
(``GET /api/mpps``), and a failure status of our server reaches the report with its
status and Error Comment and a non-zero exit status."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiodicom
from tests.interop.day_peers import AE, WorklistProcess, start_modality, step_states
from tests.worklist.mpps_support import MPPS_SOP_CLASS, final_attributes

from .mpps_peer import scheduled_item, write_items

pytestmark = [pytest.mark.slow]
STATIONS = ("CT01", "CT02")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WorklistProcess]:
    running = WorklistProcess(tmp_path)
    items = [scheduled_item(index, STATIONS[index % 2], time=f"{8 + index:02d}0000")
             for index in range(6)]  # fmt: skip
    write_items(running.data / AE, items)
    running.start()
    try:
        yield running
    finally:
        running.close()


async def test_report_and_stored_mpps_agree(server: WorklistProcess, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    options = ["--exam-time", "100ms", "--discontinue-rate", "0.5", "--seed", "3",
               "--until-empty", "--modality", "CT", "--images", "2"]  # fmt: skip
    run = await start_modality(server, STATIONS[0], report, "--station-ae", STATIONS[1], *options)
    result = await run.finish(seconds=60)
    assert result.returncode == 0, result.output
    assert result.report["failures"] == []
    steps = result.report["steps"]
    assert len(steps) == 6 and result.totals["steps"] == 6
    assert {step["outcome"] for step in steps} == {"COMPLETED", "DISCONTINUED"}
    for operation in ("C-FIND", "N-CREATE", "N-SET"):
        assert result.report["operations"][operation]["latency_ms"]["p99"] > 0
    stored = {row["sop_instance_uid"]: row for row in await server.mpps()}
    assert stored.keys() == {step["mpps_sop_instance_uid"] for step in steps}
    for step in steps:
        row = stored[step["mpps_sop_instance_uid"]]
        assert row["status"] == step["outcome"]
        assert row["performed_station_ae"] == step["station_ae"] == row["calling_ae"]
        assert row["patient_id"] == step["patient_id"]
        assert [s["series_instance_uid"] for s in row["series"]] == step["series_instance_uids"]
        assert [s["images"] for s in row["series"]] == [2]
        (link,) = row["worklist_steps"]
        assert link["sps_id"] == step["scheduled_procedure_step_id"]
        detail = await server.get(f"/api/mpps/{row['sop_instance_uid']}")
        assert detail["dicom"]["00400252"]["Value"] == [step["outcome"]]
    # each station took its own steps, earliest first; the worklist is empty after
    for station in STATIONS:
        taken = [s["scheduled_procedure_step_id"] for s in steps if s["station_ae"] == station]
        assert taken == sorted(taken) and len(taken) == 3
    assert step_states(await server.findscu(tmp_path / "find")) == {}


async def _first_in_progress(server: WorklistProcess, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = [row for row in await server.mpps() if row["status"] == "IN PROGRESS"]
        if rows:
            return str(rows[0]["sop_instance_uid"])
        await asyncio.sleep(0.1)
    raise AssertionError("no MPPS IN PROGRESS")


async def test_n_set_after_completed_is_reported_with_status_and_comment(
    server: WorklistProcess, tmp_path: Path
) -> None:
    """Another system completes the step during the exam: the modality's own N-SET then
    gets 0110 "may no longer be updated" (PS3.4 F.7.2.2), reported, exit status 1."""
    report = tmp_path / "report.json"
    options = ["--exam-time", "60s", "--duration", "90s", "--steps", "1"]
    run = await start_modality(server, STATIONS[0], report, *options)
    uid = await _first_in_progress(server)
    async with aiodicom.connect(
        "127.0.0.1", server.dicom_port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
    ) as assoc:
        await assoc.n_set(MPPS_SOP_CLASS, uid, final_attributes())
    result = await run.finish(signal.SIGTERM)
    assert result.returncode == 1, result.output
    (failure,) = result.report["failures"]
    assert failure["operation"] == "N-SET" and failure["station_ae"] == STATIONS[0]
    assert (failure["status"], failure["status_hex"]) == (0x0110, "0x0110")
    comment = "Performed Procedure Step Object may no longer be updated"
    assert failure["error_comment"] == comment
    assert result.report["steps"][0]["outcome"] == "FAILED"
    assert f"FAILED {STATIONS[0]} N-SET" in result.output and comment in result.output
    (row,) = await server.mpps()
    assert row["status"] == "COMPLETED" and row["sop_instance_uid"] == uid


async def test_a_worklist_without_mpps_fails_every_step(tmp_path: Path) -> None:
    """``mpps.enabled: false``: the worklist answers, the N-CREATE cannot be sent (the
    MPPS SOP Class is refused at association); the report names it, exit status 1."""
    config = tmp_path / "worklist.yaml"
    config.write_text("mpps: {enabled: false}\n")
    server = WorklistProcess(tmp_path, "--config", str(config))
    write_items(server.data / AE, [scheduled_item(1, STATIONS[0])])
    server.start()
    try:
        run = await start_modality(server, STATIONS[0], tmp_path / "report.json", "--steps", "1",
                                   "--exam-time", "0s", "--duration", "30s")  # fmt: skip
        result = await run.finish()
    finally:
        server.close()
    assert result.returncode == 1, result.output
    (failure,) = result.report["failures"]
    assert failure["operation"] == "N-CREATE" and failure["status"] is None
    assert "NegotiationError" in failure["error"], failure
    assert result.report["steps"][0]["outcome"] == "FAILED"
