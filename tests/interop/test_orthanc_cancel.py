"""C-CANCEL against a real Orthanc (Debian package), whose final 0xFE00 carries a data set.

PS3.7 9.3.2.3: after a C-CANCEL-RQ the SCP ends the C-FIND with a final response, normally
0xFE00, which (PS3.4 C.4.1.1.4) carries no identifier. Orthanc 1.10 (through DCMTK's find
provider) sends one anyway; DCMTK's own findscu then fails its A-RELEASE because the
unread data set arrives instead. The tests check that aiodicom ends such an operation
cleanly with 0xFE00 and that the association stays usable.

To make the cancel land while Orthanc is still answering, the worklist holds a few
hundred items with a 10 KB comment each and the queries return that comment.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset

import aiodicom
from aiodicom.net import Connector
from aiodicom.proto.dimse import MessageAssembler
from aiodicom.proto.messages import CFindRSP
from aiodicom.proto.pdu import PDUDecoder
from aiodicom.proto.pdus import PDataTF
from tests.clients.peers import FINDSCU_SCRIPT
from tests.interop.orthanc_peer import (
    DCMTK_AE,
    ORTHANC_AE,
    OUR_AE,
    OrthancPeer,
    orthanc,
    requires_orthanc,
)

pytestmark = [pytest.mark.interop, requires_orthanc]

BULK_ITEMS = 400
COMMENT_SIZE = 10000  # below the LT limit of 10240 characters (PS3.5 6.2)
ATTEMPTS = 5  # the break-after-one cases race Orthanc's sender: bounded retries
CANCEL = 0xFE00


def bulk_item(index: int) -> Dataset:
    """A worklist item (PS3.4 K.6.1.2) with a large Patient Comments (LT) value."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = f"BULK^P{index:04d}"
    ds.PatientID = f"B{index:04d}"
    ds.PatientComments = "x" * COMMENT_SIZE
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.1450.8.{index}"
    step = Dataset()
    step.Modality = "OT"
    step.ScheduledProcedureStepStartDate = "20261101"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancPeer]:
    with orthanc(tmp_path_factory.mktemp("orthanc-cancel")) as running:
        for index in range(BULK_ITEMS):
            running.add_worklist_item(bulk_item(index), f"bulk{index:04d}")
        yield running


class Finals(list[tuple[int, bool]]):
    """(status, data set present) of every final C-FIND-RSP the client receives: a
    ``trace`` hook (``aiodicom.connect(trace=...)``) decoding the bytes read with the
    sans-IO decoder (PS3.8 9.3.5 P-DATA-TF, PS3.7 Annex E messages)."""

    def __init__(self) -> None:
        super().__init__()
        self.pdus = PDUDecoder(max_pdu_length=0)
        self.messages = MessageAssembler()

    def __call__(self, kind: str, payload: object) -> None:
        if kind != "bytes-in" or not isinstance(payload, bytes):
            return
        for pdu in self.pdus.feed(payload):
            for pdv in pdu.pdvs if isinstance(pdu, PDataTF) else ():
                message = self.messages.add(pdv)
                if not isinstance(message, tuple):  # incomplete (no command streams here)
                    continue
                _, command, data_set = message
                if isinstance(command, CFindRSP) and command.status not in (0xFF00, 0xFF01):
                    self.append((command.status, data_set is not None))


@pytest.fixture
def finals() -> Finals:
    return Finals()


def bulk_query(name: str = "BULK*") -> Dataset:
    """Worklist items by Patient's Name, returning the large comment."""
    query = Dataset()
    query.PatientName = name
    query.PatientID = ""
    query.PatientComments = ""
    return query


def connect(peer: OrthancPeer, finals: Finals | None = None) -> Connector:
    """An association to Orthanc with a short cancel drain limit (``finals`` hears of
    every final response)."""
    return aiodicom.connect(
        "127.0.0.1",
        peer.dicom_port,
        calling_ae=OUR_AE,
        called_ae=ORTHANC_AE,
        cancel_timeout=5,
        trace=finals,
    )


async def assert_usable(assoc: aiodicom.ClientAssociation) -> None:
    """The association answers the next operations correctly after the cancel."""
    assert await assoc.echo() == 0x0000
    stream = assoc.find(bulk_query("BULK^P020*"), model="worklist")
    ids = sorted([ds.PatientID async for ds in stream])
    assert ids == [f"B{index:04d}" for index in range(200, 210)]
    assert stream.status == 0x0000


async def test_break_after_first_response(peer: OrthancPeer, finals: Finals) -> None:
    statuses: list[int | None] = []
    async with connect(peer, finals) as assoc:
        for _ in range(ATTEMPTS):
            async with assoc.find(bulk_query(), model="worklist") as stream:
                async for ds in stream:
                    assert str(ds.PatientName).startswith("BULK^")
                    break
            statuses.append(stream.status)
            assert stream.cancelled
            assert stream.responses < BULK_ITEMS or stream.status == 0x0000
            await assert_usable(assoc)
            if stream.status == CANCEL:
                break
    # Orthanc may finish before the C-CANCEL-RQ arrives: Success is legal then
    assert set(statuses) <= {CANCEL, 0x0000}
    assert statuses[-1] == CANCEL, statuses
    assert (CANCEL, True) in finals  # the quirk was exercised: FE00 with a data set


async def test_plain_break_then_next_operation(peer: OrthancPeer, finals: Finals) -> None:
    """``break`` without ``aclose``: the finalizer cancels, the next operation drains."""
    async with connect(peer, finals) as assoc:
        for _ in range(ATTEMPTS):
            first = None
            async for ds in assoc.find(bulk_query(), model="worklist"):
                first = ds
                break
            assert first is not None
            await assert_usable(assoc)
            if finals[0][0] == CANCEL:
                break
            finals.clear()
    assert finals[0] == (CANCEL, True)
    assert [status for status, _ in finals[1:]] == [0x0000]


async def test_cancel_while_orthanc_computes(peer: OrthancPeer, finals: Finals) -> None:
    """Cancelling the iterating task right after the request: Orthanc sees the C-CANCEL
    before its second response and answers FE00 (with its stray data set)."""
    async with connect(peer, finals) as assoc:
        stream = assoc.find(bulk_query(), model="worklist")

        async def consume() -> int:
            return len([ds async for ds in stream])

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.005)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await stream.aclose()
        assert stream.status == CANCEL
        assert stream.responses < BULK_ITEMS
        assert finals == [(CANCEL, True)]
        await assert_usable(assoc)


def test_console_script_cancel(peer: OrthancPeer) -> None:
    """aiodicom-findscu --cancel 1 --repeat 2: both finds end with Cancel, then release."""
    cmd = [
        str(FINDSCU_SCRIPT),
        "-v",
        "--json",  # -v logs the protocol steps; --json keeps the dump from slowing the cancel
        "-W",
        "--cancel",
        "1",
        "--repeat",
        "2",
        "-aet",
        DCMTK_AE,
        "-aec",
        ORTHANC_AE,
        "-k",
        "PatientName=BULK*",
        "-k",
        "PatientComments=",
        "127.0.0.1",
        str(peer.dicom_port),
    ]
    for _ in range(ATTEMPTS):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("Sending Cancel Request after 1 responses") == 2
        assert done.stderr.count("Find Response: 2 ") == 0
        assert "Releasing Association" in done.stderr
        finals = [line for line in done.stderr.splitlines() if "Received Final" in line]
        assert len(finals) == 2
        assert all("(Cancel)" in line or "(Success)" in line for line in finals)
        if all("(Cancel)" in line for line in finals):
            break
    assert all("(Cancel)" in line for line in finals), done.stderr
