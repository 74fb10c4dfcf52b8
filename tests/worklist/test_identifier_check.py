"""The worklist service checks its identifier itself (``HandlerTraits.checks_identifier``).

PS3.4 K.4.1.2.2 begins with the identifier: the worklist's query preparation checks its
element structure (PS3.5 7.1, 7.5) before anything reads it, so the server does not check
first. A broken identifier gets the very bytes on the wire it got when the server checked
it (final 0xC000, the reason as Error Comment); the difference is that the C-FIND counts as
performed, so observers (the audit line) hear of it. No socket: memory transports.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest

from aiodicom.net.observers import ServerObserver
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.transport import MemoryTransport
from aiodicom.net.types import FindHandler, FindRequest, HandlerTraits, declare_traits
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.events import MessageReceived
from aiodicom.proto.messages import CFindRQ, CFindRSP, DimseCommand
from aiodicom.proto.pdus import AssociateRQ, PresentationContextRQ, UserInformation
from aiodicom.proto.status import UNABLE_TO_PROCESS
from aiodicom.store.worklist import WorklistStore
from aiodicom.worklist.sample import write_folder
from aiodicom.worklist.service import WORKLIST_SOP_CLASS, WorklistService

EXPLICIT_LE = "1.2.840.10008.1.2.1"
BROKEN = b"\x10\x00\x20\x00LO\x40\x00ABCD"
"""Patient ID (0010,0020) whose length (64) runs past the end of the data set."""


class Ended(ServerObserver):
    def __init__(self) -> None:
        self.reports: list[object] = []

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        self.reports.append(report)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> WorklistService:
    root: Path = tmp_path_factory.mktemp("mwl")
    write_folder(root, "WLMSCP", 5, seed=3)
    return WorklistService(WorklistStore(root))


async def _answer(
    handler: FindHandler, observer: ServerObserver, identifier: bytes
) -> tuple[bytes, list[DimseCommand]]:
    """Every byte the server writes for one C-FIND-RQ carrying ``identifier``, and the
    responses the SCU reads from them."""
    server = Server(ServerConfig(), {WORKLIST_SOP_CLASS: handler}, observers=[observer])
    protocol = server.protocol_factory()
    transport = MemoryTransport(protocol, ("127.0.0.1", 4242))
    protocol.connection_made(transport)
    scu = Association(Mode.REQUESTOR)
    scu.connection_made()
    info = UserInformation(max_length=16384, implementation_class_uid="1.2.3.4")
    contexts = (PresentationContextRQ(1, WORKLIST_SOP_CLASS, (EXPLICIT_LE,)),)
    scu.request(AssociateRQ("WLMSCP", "SCU", contexts, info))
    protocol.data_received(scu.data_to_send())
    scu.receive_data(b"".join(transport.written))
    transport.written.clear()
    scu.send_message(1, CFindRQ(1, WORKLIST_SOP_CLASS), identifier)
    protocol.data_received(scu.data_to_send())
    for _ in range(3):  # a handler on the task path answers a few iterations later
        await asyncio.sleep(0)
    data = b"".join(transport.written)
    events = scu.receive_data(data)
    return data, [e.command for e in events if isinstance(e, MessageReceived)]


async def test_a_broken_identifier_gets_the_same_bytes_whoever_checks_it(
    service: WorklistService,
) -> None:
    itself, by_server = Ended(), Ended()
    (handler,) = service.handlers().values()
    unchecked = declare_traits(functools.partial(service.find), HandlerTraits(eager=True))
    checked_by_the_worklist, responses = await _answer(handler, itself, BROKEN)
    checked_by_the_server, _ = await _answer(unchecked, by_server, BROKEN)
    assert checked_by_the_worklist == checked_by_the_server
    (final,) = responses
    assert isinstance(final, CFindRSP)
    assert final.status == UNABLE_TO_PROCESS and "overruns" in (final.error_comment or "")
    assert len(itself.reports) == 1 and by_server.reports == []  # performed, audited


async def test_the_server_leaves_the_check_to_a_handler_that_declares_it() -> None:
    seen: list[bytes] = []

    async def handler(request: FindRequest) -> Any:
        seen.append(request.identifier_bytes)
        return
        yield

    declared = declare_traits(handler, HandlerTraits(checks_identifier=True))
    await _answer(declared, Ended(), BROKEN)
    assert seen == [BROKEN]
