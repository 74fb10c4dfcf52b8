"""What aiodicom-findscu tells the user about failures, FF01 and an ignored cancel
(#14.1, #14.2, #14.7): real SCPs (ours, pynetdicom) and the console script."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import FindRequest, FindResponse, ServerConfig
from aiodicom.proto.status import PENDING_WARNING
from tests.clients.findscu_run import run_findscu
from tests.interop.worklist_peers import our_scp
from tests.net.deaf_scp import DEAF_AE, deaf_scp
from tests.qr.helpers import make_folder, running_app

WORKLIST_DATA = Path(__file__).resolve().parents[2] / "config" / "worklist-data"


def _failure_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("E: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def _assert_reported(stderr: str, code: str) -> str:
    line = _failure_line(stderr)
    assert line.count(code) == 1, line  # the code once, with its meaning
    assert "Error Comment" in line
    return line


@pytest.mark.parametrize(
    "keys",
    [
        ["QueryRetrieveLevel=STUDY", "PatientName"],
        ["ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261231-20260101"],
    ],
    ids=["level-in-worklist", "inverted-date-range"],
)
async def test_worklist_failure_is_reported_without_verbose(keys: list[str]) -> None:
    async with our_scp(WORKLIST_DATA) as server:
        args = ["-aec", "WLMSCP", *(arg for key in keys for arg in ("-k", key))]
        run = await run_findscu(server.port, *args)
    assert run.code == 1
    line = _assert_reported(run.stderr, "0xA900")
    assert "Identifier does not match SOP Class" in line


async def test_series_query_without_study_uid_is_reported(tmp_path: Path) -> None:
    async with running_app(make_folder(tmp_path), tmp_path / "index.sqlite") as app:
        args = ["-S", "-aec", "QRSCP", "-k", "QueryRetrieveLevel=SERIES", "-k", "Modality"]
        run = await run_findscu(app.port, *args)
    assert run.code == 1
    line = _failure_line(run.stderr)
    assert re.search(r"0x[AC][0-9A-F]{3}", line), line
    assert len(re.findall(r"0x[0-9A-F]{4}", line)) == 1, line
    assert "Error Comment" in line


async def test_pending_ff01_is_shown_as_dcmtk_does() -> None:
    async def handler(request: FindRequest) -> AsyncIterator[FindResponse]:
        ds = Dataset()
        ds.PatientName = "WARN^ONE"
        yield FindResponse(ds, status=PENDING_WARNING)

    async with aiodicom.serve(ServerConfig(), {"worklist": handler}, "127.0.0.1", 0) as server:
        run = await run_findscu(server.port, "-k", "PatientName")
    assert run.code == 0, run.stderr
    assert "I: Find Response: 1 (Pending: WarningUnsupportedOptionalKeys)" in run.stderr


async def test_cancel_ignored_by_the_peer_is_reported() -> None:
    with deaf_scp(matches=10, delay=0.05) as port:
        run = await run_findscu(port, "-aec", DEAF_AE, "--cancel", "2", "-k", "PatientName")
    assert run.code == 0, run.stderr
    assert run.stderr.count("Find Response: ") == 2
    warning = [line for line in run.stderr.splitlines() if line.startswith("W: ")]
    assert len(warning) == 1, run.stderr
    assert "8 more" in warning[0]
    assert "0x0000 Success" in warning[0]


async def test_cancel_honoured_gives_no_warning() -> None:
    async def handler(request: FindRequest) -> AsyncIterator[Dataset]:
        for index in range(50):
            ds = Dataset()
            ds.PatientID = f"P{index}"
            yield ds
            await asyncio.sleep(0.02)

    async with aiodicom.serve(ServerConfig(), {"worklist": handler}, "127.0.0.1", 0) as server:
        run = await run_findscu(server.port, "--cancel", "1", "-k", "PatientID")
    assert run.code == 0, run.stderr
    assert "W: " not in run.stderr
