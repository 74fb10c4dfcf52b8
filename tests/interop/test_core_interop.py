"""Interop of the core (association, C-ECHO, C-FIND, C-CANCEL) with DCMTK and pynetdicom.

Every peer is a real program started by the test: DCMTK's echoscu, findscu and wlmscpfs
from /usr/bin, and pynetdicom application entities running in a thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.proto.status import CANCEL, SUCCESS
from tests.clients.peers import free_port, pynetdicom_worklist_scp, stop_process
from tests.net.helpers import Recorder, counting_handler, query

pytestmark = pytest.mark.interop

WORKLIST_UID = "1.2.840.10008.5.1.4.31"
VERIFICATION_UID = "1.2.840.10008.1.1"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


async def run_tool(*args: str, limit: float = 60.0) -> tuple[int, str]:
    """Run a DCMTK tool (absolute path) and return (exit code, stdout+stderr)."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=DCMTK_ENV,
    )
    try:
        async with asyncio.timeout(limit):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, output.decode(errors="replace")


def big_item(index: int) -> Dataset:
    """An identifier over 4 KB, so one response needs several 4096-byte PDUs."""
    ds = Dataset()
    ds.PatientName = f"DOE^BIG{index}"
    ds.PatientID = f"BIG{index:04d}"
    ds.PatientComments = "c" * 5000
    return ds


async def big_handler(request: FindRequest) -> AsyncIterator[Dataset]:
    for index in range(3):
        yield big_item(index)


# -- DCMTK SCUs against our SCP ---------------------------------------------------------


async def test_dcmtk_echoscu_against_our_scp() -> None:
    async with aiodicom.serve(ServerConfig(), {}) as server:
        code, output = await run_tool("/usr/bin/echoscu", "-v", "127.0.0.1", str(server.port))
    assert code == 0, output
    assert "Received Echo Response (Success)" in output


@pytest.mark.parametrize("ts_option", ["-xi", "-xe", "-xb"])
async def test_dcmtk_findscu_worklist_each_transfer_syntax(ts_option: str) -> None:
    recorder = Recorder()
    handler = counting_handler(25, recorder, as_bytes=False)
    async with aiodicom.serve(ServerConfig(), {"worklist": handler}) as server:
        code, output = await run_tool(
            "/usr/bin/findscu", "-v", "-W", ts_option, "-k", "PatientName=DOE*",
            "-k", "PatientID", "127.0.0.1", str(server.port),
        )  # fmt: skip
    assert code == 0, output
    assert len(re.findall(r"Find Response: \d+ \(Pending\)", output)) == 25, output
    assert "Received Final Find Response (Success)" in output
    assert "ID000024" in output
    assert str(recorder.requests[0].identifier.PatientName) == "DOE*"


async def test_dcmtk_findscu_small_pdu_forces_fragmentation(tmp_path: Path) -> None:
    async with aiodicom.serve(ServerConfig(), {"worklist": big_handler}) as server:
        code, output = await run_tool(
            "/usr/bin/findscu", "-v", "-W", "-pdu", "4096", "-X", "-od", str(tmp_path),
            "-k", "PatientName", "-k", "PatientComments", "127.0.0.1", str(server.port),
        )  # fmt: skip
    assert code == 0, output
    assert "Received Final Find Response (Success)" in output
    files = sorted(await asyncio.to_thread(lambda: list(tmp_path.glob("rsp*.dcm"))))
    assert len(files) == 3, output
    from pydicom import dcmread

    for index, path in enumerate(files):
        ds = dcmread(path)
        assert ds.PatientID == f"BIG{index:04d}"
        assert len(ds.PatientComments) == 5000


async def test_dcmtk_findscu_cancel_after_two() -> None:
    recorder = Recorder()
    handler = counting_handler(10_000, recorder, delay=0.001)
    async with aiodicom.serve(ServerConfig(), {"worklist": handler}) as server:
        code, output = await run_tool(
            "/usr/bin/findscu", "-v", "-W", "--cancel", "2", "-k", "PatientName",
            "127.0.0.1", str(server.port),
        )  # fmt: skip
    assert code == 0, output
    assert "Sending Cancel Request" in output, output
    assert "Received Final Find Response (Cancel: MatchingTerminatedDueToCancelRequest)" in output
    assert 2 <= len(re.findall(r"Find Response: \d+ \(Pending\)", output)) < 10_000, output
    assert recorder.requests[0].cancelled
    assert recorder.closed == 1
    assert recorder.produced < 10_000


# -- our SCU against DCMTK wlmscpfs -------------------------------------------------------


@pytest.fixture
def wlmscpfs(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """wlmscpfs serving a 3-item worklist in AE folder WLMTEST on a free port."""
    import subprocess

    ae_dir = tmp_path / "WLMTEST"
    ae_dir.mkdir()
    (ae_dir / "lockfile").write_bytes(b"")
    for index, name in enumerate(["DOE^JOHN", "DOE^JANE", "ROE^RICHARD"]):
        ds = Dataset()
        ds.PatientName = name
        ds.PatientID = f"WL{index}"
        ds.AccessionNumber = f"A{index}"
        step = Dataset()
        step.Modality = "CT"
        step.ScheduledStationAETitle = "CT1"
        step.ScheduledProcedureStepStartDate = "20261125"
        ds.ScheduledProcedureStepSequence = [step]
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(ae_dir / f"item{index}.wl", implicit_vr=True, little_endian=True)
    port = free_port()
    process = subprocess.Popen(
        ["/usr/bin/wlmscpfs", "-s", "-dfp", str(tmp_path), "-dfr", str(port)],
        env=DCMTK_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, 10.0)
        yield port, "WLMTEST"
    finally:
        stop_process(process)


def _wait_listening(port: int, limit: float) -> None:
    import time

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


async def test_our_scu_against_wlmscpfs(wlmscpfs: tuple[int, str]) -> None:
    port, ae = wlmscpfs
    q = Dataset()
    q.PatientName = "DOE*"
    q.PatientID = ""
    step = Dataset()
    step.Modality = ""
    q.ScheduledProcedureStepSequence = [step]
    async with aiodicom.connect("127.0.0.1", port, called_ae=ae, models=("worklist",)) as assoc:
        assert await assoc.echo() == SUCCESS
        stream = assoc.find(q)
        names = sorted([str(ds.PatientName) async for ds in stream])
        assert stream.status == SUCCESS
        assert names == ["DOE^JANE", "DOE^JOHN"]
        # and a second query on the same association
        q.PatientName = "ROE*"
        assert [str(ds.PatientID) async for ds in assoc.find(q)] == ["WL2"]


# -- pynetdicom ---------------------------------------------------------------------------


async def test_pynetdicom_scu_against_our_scp() -> None:
    from pynetdicom import AE

    recorder = Recorder()
    handler = counting_handler(40, recorder, as_bytes=False)

    def scu(port: int) -> tuple[int, list[int], list[str]]:
        ae = AE(ae_title="PYNETDICOM")
        ae.add_requested_context(VERIFICATION_UID)
        ae.add_requested_context(WORKLIST_UID)
        assoc = ae.associate("127.0.0.1", port, ae_title="AIODICOM")
        assert assoc.is_established
        try:
            echo = assoc.send_c_echo()
            statuses, ids = [], []
            for status, identifier in assoc.send_c_find(query(), WORKLIST_UID):
                statuses.append(int(status.Status))
                if identifier is not None:
                    ids.append(str(identifier.PatientID))
            return int(echo.Status), statuses, ids
        finally:
            assoc.release()

    async with aiodicom.serve(ServerConfig(), {"worklist": handler}) as server:
        echo_status, statuses, ids = await asyncio.to_thread(scu, server.port)
    assert echo_status == SUCCESS
    assert statuses[-1] == SUCCESS
    assert statuses.count(0xFF00) == 40
    assert ids == [f"ID{i:06d}" for i in range(40)]


@pytest.fixture
def pynetdicom_scp() -> Iterator[tuple[int, list[Any]]]:
    """A pynetdicom worklist SCP (thread) yielding 500 matches; records C-CANCELs.

    Each match takes at least 5 ms, so the whole answer lasts 2.5 s and a C-CANCEL sent
    after the first match always arrives while the SCP is still sending.
    """
    cancels: list[Any] = []

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        for index in range(500):
            if event.is_cancelled:
                cancels.append(index)
                yield 0xFE00, None
                return
            time.sleep(0.005)
            ds = Dataset()
            ds.PatientName = f"PY^{index}"
            ds.PatientID = f"PY{index:04d}"
            yield 0xFF00, ds

    with pynetdicom_worklist_scp("PYSCP", on_find) as port:
        yield port, cancels


async def test_our_scu_against_pynetdicom_scp(pynetdicom_scp: tuple[int, list[Any]]) -> None:
    port, cancels = pynetdicom_scp
    async with aiodicom.connect("127.0.0.1", port, called_ae="PYSCP") as assoc:
        assert await assoc.echo() == SUCCESS
        ids = [str(ds.PatientID) async for ds in assoc.find(query())]
        assert ids == [f"PY{i:04d}" for i in range(500)]
        async with assoc.find_responses(query()) as stream:
            async for _ in stream:
                break
        assert stream.status == CANCEL
        assert cancels
        assert await assoc.echo() == SUCCESS
