"""Smaller behaviours of the edge: errors, negotiation, socket options, demo SCP, logging."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import FindRequest, NegotiationError, ServerConfig
from aiodicom.log import configure, get_logger
from aiodicom.net.find import FindCall
from aiodicom.net.loop import run
from aiodicom.net.transport import Transport
from aiodicom.proto.messages import CFindRQ, CFindRSP
from aiodicom.proto.status import CANCEL, SUCCESS, UNABLE_TO_PROCESS
from servers.demo import name_matches, worklist_handler
from tests.net.helpers import Recorder, counting_handler, query

WORKLIST_UID = "1.2.840.10008.5.1.4.31"


def _nodelay(transport: Transport | None) -> int:
    assert transport is not None
    sock = transport.get_extra_info("socket")
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def test_tcp_nodelay_on_both_ends() -> None:
    async with (
        aiodicom.serve(ServerConfig(), {}) as server,
        aiodicom.connect("127.0.0.1", server.port, models=()) as assoc,
    ):
        assert _nodelay(assoc._protocol.transport) == 1
        (server_side,) = server.connections
        assert _nodelay(server_side.transport) == 1


async def test_handler_exception_gives_unable_to_process() -> None:
    async def broken(request: FindRequest) -> AsyncIterator[Dataset]:
        yield Dataset()
        raise RuntimeError("database down")

    async with (
        aiodicom.serve(ServerConfig(), {"worklist": broken}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        results = [r async for r in assoc.find_responses(query())]
        assert [r.status for r in results] == [0xFF00, UNABLE_TO_PROCESS]
        assert await assoc.echo() == SUCCESS


async def test_undecodable_identifier_gives_c000_and_association_survives() -> None:
    recorder = Recorder()
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": counting_handler(3, recorder)}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        protocol = assoc._protocol
        context = next(c for c in assoc.contexts.values() if c.abstract_syntax == WORKLIST_UID)
        call = FindCall(protocol, context.context_id, context.transfer_syntax, 999, 5.0)
        protocol.start_operation(call)
        garbage = b"\x10\x00\x10\x00PN\xff\xffbroken"
        protocol.send_command(context.context_id, CFindRQ(999, WORKLIST_UID), garbage)
        assert await call.next_result() is None
        assert call.final is not None
        assert call.final.status >> 12 == 0xC
        assert recorder.requests == []  # the handler never saw it
        assert len([ds async for ds in assoc.find(query())]) == 3


async def test_model_not_negotiated_and_unknown_model() -> None:
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": counting_handler(1, Recorder())}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        with pytest.raises(NegotiationError, match="study"):
            assoc.find(query(), model="study")
        with pytest.raises(ValueError, match="nonsense"):
            assoc.find(query(), model="nonsense")
        assert len([ds async for ds in assoc.find(query(), model=WORKLIST_UID)]) == 1


async def test_demo_scp_filters_by_patient_name() -> None:
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": worklist_handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        names = sorted([str(ds.PatientName) async for ds in assoc.find(query("doe*"))])
        everyone = [ds async for ds in assoc.find(query(""))]
    assert names == ["DOE^JANE", "DOE^JOHN"]
    assert len(everyone) == 3
    assert name_matches("SM?TH^*", "SMITH^ALICE")
    assert not name_matches("SMITH", "SMITH^ALICE")


def test_loop_run_uses_uvloop_when_available() -> None:
    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run(loop_module()).startswith("uvloop")
    assert run(loop_module(), use_uvloop=False).startswith("asyncio")


def test_json_logging_binds_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure("json", "info")
    try:
        get_logger(assoc="abc123", peer="127.0.0.1:1").warning("bad pdu", reason="x")
        get_logger().debug("filtered out")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        configure("console", "warning")
    assert len(lines) == 1
    assert lines[0]["assoc"] == "abc123"
    assert lines[0]["level"] == "warning"
    assert lines[0]["event"] == "bad pdu"
    with pytest.raises(ValueError, match="verbose"):
        configure("json", "verbose")


async def test_final_response_carrying_a_data_set_is_ignored() -> None:
    """Some SCPs (Orthanc) attach a data set to the final 0xFE00 response: ignore it."""
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": counting_handler(1, Recorder())}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        protocol = assoc._protocol
        context = next(c for c in assoc.contexts.values() if c.abstract_syntax == WORKLIST_UID)
        call = FindCall(protocol, context.context_id, context.transfer_syntax, 77, 5.0)
        protocol.start_operation(call)
        quirky = CFindRSP(77, WORKLIST_UID, CANCEL, has_data_set=True)
        call.on_message(quirky, b"\x10\x00\x20\x00LO\x02\x00X1")
        assert await call.next_result() is None
        assert call.final is not None
        assert call.final.status == CANCEL
        assert call.final.identifier is None
        assert await assoc.echo() == SUCCESS
