"""A keyed C-FIND costs the server one write: pending and final response together.

PS3.7 9.1.2: one C-FIND-RQ is answered by its pending C-FIND-RSPs and one final one.
The server queues them in the Association and writes what one read produced at once
(eager handlers, inside ``data_received``) or at the end of the operation (task path).
Also covers :func:`aiodicom.log.level_enabled`, which the service asks per query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog

from aiodicom.dicom.identifier import encode_identifier
from aiodicom.log import configure, level_enabled
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.transport import MemoryTransport
from aiodicom.net.types import FindRequest, HandlerTraits, declare_traits
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.events import MessageReceived
from aiodicom.proto.messages import CFindRQ, CFindRSP
from aiodicom.proto.pdus import AssociateRQ, PresentationContextRQ, UserInformation
from tests.net.helpers import identifier, query

WORKLIST, EXPLICIT_LE = "1.2.840.10008.5.1.4.31", "1.2.840.10008.1.2.1"


def _connected(eager: bool, window: int = 1) -> tuple[ServerProtocol, MemoryTransport, Association]:
    """A server protocol on an in-memory transport without a peer: the test reads what
    it writes (``transport.written``) and feeds it an SCU Association's bytes."""

    async def handler(request: FindRequest) -> AsyncIterator[bytes]:
        yield encode_identifier(identifier(1), request.transfer_syntax)

    if eager:
        declare_traits(handler, HandlerTraits(eager=True))
    server = Server(ServerConfig(async_ops_window=window), {"worklist": handler})
    protocol = ServerProtocol(server)
    transport = MemoryTransport(protocol, ("127.0.0.1", 4242))
    protocol.connection_made(transport)
    scu = Association(Mode.REQUESTOR)
    scu.connection_made()
    info = UserInformation(max_length=16384, implementation_class_uid="1.2.3.4")
    if window > 1:
        info = UserInformation(
            max_length=16384, implementation_class_uid="1.2.3.4", async_ops_window=(window, 1)
        )
    contexts = (PresentationContextRQ(1, WORKLIST, (EXPLICIT_LE,)),)
    scu.request(AssociateRQ("AIODICOM", "SCU", contexts, info))
    protocol.data_received(scu.data_to_send())
    scu.receive_data(b"".join(transport.written))
    transport.written.clear()
    return protocol, transport, scu


def _find_pdus(scu: Association, *message_ids: int) -> bytes:
    for message_id in message_ids:
        scu.send_message(1, CFindRQ(message_id, WORKLIST), encode_identifier(query(), EXPLICIT_LE))
    return scu.data_to_send()


def _statuses(scu: Association, data: bytes) -> list[tuple[int, int]]:
    return [
        (event.command.message_id_being_responded_to, event.command.status)
        for event in scu.receive_data(data)
        if isinstance(event, MessageReceived) and isinstance(event.command, CFindRSP)
    ]


@pytest.mark.parametrize("eager", [True, False])
async def test_pending_and_final_response_go_out_in_one_write(eager: bool) -> None:
    protocol, transport, scu = _connected(eager)
    for message_id in (1, 2, 3):
        protocol.data_received(_find_pdus(scu, message_id))
        for _ in range(3):  # the task path needs a few loop iterations
            await asyncio.sleep(0)
        (written,) = transport.written
        transport.written.clear()
        assert _statuses(scu, written) == [(message_id, 0xFF00), (message_id, 0x0000)]
    assert not protocol.operations.running


async def test_queries_of_one_read_are_answered_in_one_write() -> None:
    protocol, transport, scu = _connected(eager=True, window=2)
    protocol.data_received(_find_pdus(scu, 1, 2))
    (written,) = transport.written
    assert _statuses(scu, written) == [(1, 0xFF00), (1, 0), (2, 0xFF00), (2, 0)]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


def test_level_enabled_follows_the_configured_level(restore_logging: None) -> None:
    configure("json", "info")
    assert level_enabled(logging.INFO) and not level_enabled(logging.DEBUG)
    configure("console", "warning")
    assert not level_enabled(logging.INFO) and level_enabled(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    assert level_enabled(logging.DEBUG)

    class Loud(structlog.BoundLoggerBase):  # not a filtering class: asked, not looked up
        def is_enabled_for(self, level: int) -> bool:
            return level == logging.DEBUG

    structlog.configure(wrapper_class=Loud)
    assert level_enabled(logging.DEBUG) and not level_enabled(logging.INFO)
