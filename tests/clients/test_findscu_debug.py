"""``-d`` / ``-ll debug`` show the negotiation and every DIMSE command set; ``-ll trace``
adds the PDUs; ``-v`` shows neither (#14.5)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.proto.negotiation import QueryModel
from tests.clients.findscu_run import Run, run_findscu

WORKLIST_UID = QueryModel.WORKLIST.sop_class_uid


async def _handler(request: FindRequest) -> AsyncIterator[Dataset]:
    ds = Dataset()
    ds.PatientName = "DEBUG^ONE"
    yield ds


async def _run(*level: str) -> Run:
    async with aiodicom.serve(ServerConfig(), {"worklist": _handler}, "127.0.0.1", 0) as server:
        run = await run_findscu(server.port, *level, "-k", "PatientName")
    assert run.code == 0, run.stderr
    return run


def _debug_lines(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if line.startswith("D: "))


@pytest.mark.parametrize("level", [["-d"], ["-ll", "debug"], ["-ll", "trace"]])
async def test_debug_shows_negotiation_and_command_sets(level: list[str]) -> None:
    debug = _debug_lines((await _run(*level)).stderr)
    for fragment in (
        "A-ASSOCIATE-RQ",
        "A-ASSOCIATE-AC",
        "Our Max PDU length: 16384",
        "Peer Max PDU length:",
        "Our Implementation Class UID: ",
        "Peer Implementation Class UID: ",
        f"Context ID 3: {WORKLIST_UID}",
        "Context ID 3: acceptance, ",
        "Sending C-FIND-RQ",
        "Received C-FIND-RSP",
        "status: 0xFF00",
        "status: 0x0000",
    ):
        assert fragment in debug, fragment


async def test_trace_adds_pdus_and_verbose_has_neither() -> None:
    trace = (await _run("-ll", "trace")).stderr
    assert "T: PDU sent: A-ASSOCIATE-RQ" in trace
    assert "T: PDU received: A-ASSOCIATE-AC" in trace
    assert "T: PDU received: P-DATA-TF" in trace
    assert "T: PDU sent: A-RELEASE-RQ" in trace
    debug = (await _run("-d")).stderr
    assert "T: " not in debug
    verbose = (await _run("-v")).stderr
    assert "D: " not in verbose and "T: " not in verbose
    assert "I: Association Accepted" in verbose
