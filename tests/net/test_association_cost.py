"""What one association costs: no cycle, no instance dict, no logger bound for nothing.

Association setup is a hot path (a modality polling its worklist opens one per query;
bench/assoc_instructions.py counts its instructions). A reference cycle through the
per-association objects (the protocol and its operation layer, say) keeps each closed
association's whole object graph alive until the cycle collector runs, and makes that
collector run and traverse more. An instance dict of its own (CPython 3.11 keeps at most
29 attributes in an instance's inline values) costs a dict per association and slows
every attribute read on the protocol. A structlog logger bound per association (four
binds on the server, each copying the context) costs microseconds, for associations
that mostly log nothing: the protocol binds it when it logs its first line.
"""

from __future__ import annotations

import asyncio
import gc

import pytest
from structlog.testing import capture_logs

import aiodicom
from aiodicom.log import configure
from aiodicom.net.client_protocol import ClientProtocol
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.transport import memory_opener
from aiodicom.proto.status import SUCCESS
from tests.net.helpers import Recorder, counting_handler, query

INLINE_VALUES_MAX = 29
"""Attributes CPython 3.11 keeps in an instance's inline values (beyond: a dict)."""


def _alive(kind: type) -> list[object]:
    return [obj for obj in gc.get_objects() if isinstance(obj, kind)]


async def test_a_closed_association_leaves_no_cycle_on_either_side() -> None:
    handlers = {"worklist": counting_handler(2, Recorder())}
    async with aiodicom.serve(ServerConfig(), handlers, port=0) as server:
        gc.collect()
        gc.disable()  # from here on only reference counting frees anything
        try:
            async with aiodicom.connect("127.0.0.1", server.port, models=["worklist"]) as assoc:
                assert await assoc.echo() == SUCCESS
                assert len([ds async for ds in assoc.find(query())]) == 2
                closed = [scp.closed for scp in server.connections]
            del assoc  # the test's own reference
            await asyncio.wait_for(asyncio.gather(*closed), 5)
            del closed
            for _ in range(3):  # the transports' last callbacks
                await asyncio.sleep(0)
            assert _alive(ServerProtocol) == []
            assert _alive(ClientProtocol) == []
        finally:
            gc.enable()


async def test_the_protocols_keep_their_attributes_without_a_dict_of_their_own() -> None:
    server = Server(ServerConfig(), {})
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, models=(), opener=opener) as assoc:
        assert await assoc.echo() == SUCCESS
        (scp,) = server.connections
        assert not hasattr(scp, "__dict__")  # ServerProtocol: slots all the way down
        client = assoc._protocol  # ClientProtocol: its own attributes only, inline
        assert isinstance(client, ClientProtocol)
        assert len(vars(client)) <= INLINE_VALUES_MAX


async def test_an_association_that_logs_nothing_binds_no_logger() -> None:
    configure("console", "warning")
    server = Server(ServerConfig(), {})
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, models=(), opener=opener) as assoc:
        assert await assoc.echo() == SUCCESS
        (scp,) = server.connections
        assert scp._log is None and assoc._protocol._log is None


async def test_the_first_line_logged_carries_every_bound_value() -> None:
    configure("console", "warning")
    server = Server(ServerConfig(max_associations=1), {})
    opener = memory_opener(server.protocol_factory)
    with capture_logs() as logs:
        async with aiodicom.connect("127.0.0.1", 0, models=(), opener=opener) as first:
            # the second association is over the limit: its rejection is logged
            with pytest.raises(aiodicom.AssociationRejected) as rejected:
                await aiodicom.connect("127.0.0.1", 0, models=(), opener=opener)
            assert await first.echo() == SUCCESS
    assert (rejected.value.result, rejected.value.source, rejected.value.reason) == (2, 3, 2)
    (line,) = [line for line in logs if line["event"] == "association rejected"]
    assert {"assoc", "peer", "role", "calling_ae", "called_ae"} <= set(line)
    assert line["role"] == "scp" and line["calling_ae"] == "AIODICOM"
