"""The SCP operation layer (aiodicom.net.operations): a table keyed by Command Field.

A toy operation is registered with ``Server.register_operation`` (no edit of the
dispatch) and gets what every operation gets from the layer: the asynchronous operations
window (PS3.7 D.3.3.3: one beyond it refused with 0xA700), C-CANCEL by Message ID (PS3.7
9.3.2.3), A-ABORT for a reused outstanding Message ID (PS3.7 9.1.1.1.1), and observers.
Everything runs on in-memory transports (aiodicom.net.transport): no socket.
"""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

import aiodicom
from aiodicom.net.client_ops import EchoCall
from aiodicom.net.find import QUEUE_HIGH_WATER
from aiodicom.net.observers import ServerObserver
from aiodicom.net.operations import Operation, Performing
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.transport import MemoryTransport, memory_opener
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.events import Aborted, MessageReceived
from aiodicom.proto.messages import (
    VERIFICATION_SOP_CLASS,
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CommandField,
    DimseCommand,
)
from aiodicom.proto.pdus import AssociateRQ, PresentationContextRQ, UserInformation
from aiodicom.proto.status import OUT_OF_RESOURCES, SUCCESS
from tests.net.helpers import Recorder, counting_handler, query

EXPLICIT_LE = "1.2.840.10008.1.2.1"
BUSY = 0x0110  # PS3.7 C.5: Processing failure, an answer no built-in C-ECHO gives


class FixedEcho:
    """An immediate toy operation: answers every C-ECHO-RQ with ``status``."""

    windowed = False

    def __init__(self, status: int) -> None:
        self.status = status

    def start(self, operation: Operation) -> Performing | None:
        self.refuse(operation, self.status, "")
        return None

    def refuse(self, operation: Operation, status: int, comment: str) -> None:
        rsp = CEchoRSP(operation.message_id, status, operation.command.affected_sop_class_uid)
        operation.scp.association.send_message(operation.context_id, rsp)


class GatedEcho(FixedEcho):
    """A toy operation that outlives its request: answers once ``gate`` is set."""

    windowed = True

    def __init__(self) -> None:
        super().__init__(SUCCESS)
        self.gate = asyncio.Event()
        self.cancelled: list[int] = []

    def start(self, operation: Operation) -> Performing | None:
        return self._perform(operation), False

    async def _perform(self, operation: Operation) -> None:
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(operation.message_id)
            raise
        self.refuse(operation, SUCCESS, "")
        operation.scp.flush()


class Counting(ServerObserver):
    def __init__(self) -> None:
        self.started: list[int] = []

    def operation_started(self, scp: ServerProtocol, operation: Operation) -> None:
        self.started.append(operation.message_id)


async def test_a_client_and_a_server_talk_over_memory_without_a_socket() -> None:
    recorder = Recorder()
    server = Server(ServerConfig(), {"worklist": counting_handler(5, recorder)})
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, opener=opener) as assoc:
        assert await assoc.echo() == SUCCESS
        found = [ds async for ds in assoc.find(query())]
    assert [ds.PatientID for ds in found] == [f"ID{i:06d}" for i in range(5)]
    assert not server.is_serving  # never listened on a port
    await asyncio.sleep(0)
    assert not server.connections and server.established_count == 0


async def test_a_registered_operation_replaces_c_echo_without_editing_the_dispatch() -> None:
    server = Server(ServerConfig(), {})
    server.register_operation(CommandField.C_ECHO_RQ, FixedEcho(BUSY))
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, models=(), opener=opener) as assoc:
        assert await assoc.echo() == BUSY


def _connected(
    server: Server, window: int, sop_class: str = VERIFICATION_SOP_CLASS
) -> tuple[ServerProtocol, MemoryTransport, Association]:
    """A server protocol on a peerless memory transport, associated with a sans-IO SCU
    that proposes ``sop_class`` on presentation context 1."""
    protocol = server.protocol_factory()
    transport = MemoryTransport(protocol, ("127.0.0.1", 4242))
    protocol.connection_made(transport)
    scu = Association(Mode.REQUESTOR)
    scu.connection_made()
    info = UserInformation(
        max_length=16384, implementation_class_uid="1.2.3.4", async_ops_window=(window, 1)
    )
    contexts = (PresentationContextRQ(1, sop_class, (EXPLICIT_LE,)),)
    scu.request(AssociateRQ("AIODICOM", "SCU", contexts, info))
    protocol.data_received(scu.data_to_send())
    scu.receive_data(b"".join(transport.written))
    transport.written.clear()
    return protocol, transport, scu


def _echo_statuses(scu: Association, transport: MemoryTransport) -> list[tuple[int, int]]:
    data = b"".join(transport.written)
    transport.written.clear()
    return [
        (event.command.message_id_being_responded_to, event.command.status)
        for event in scu.receive_data(data)
        if isinstance(event, MessageReceived) and isinstance(event.command, CEchoRSP)
    ]


async def test_the_layer_gives_a_new_operation_the_window_and_c_cancel() -> None:
    toy, counting = GatedEcho(), Counting()
    server = Server(ServerConfig(async_ops_window=2), {}, observers=[counting])
    server.register_operation(CommandField.C_ECHO_RQ, toy)
    protocol, transport, scu = _connected(server, window=2)
    for message_id in (1, 2, 3):
        scu.send_message(1, CEchoRQ(message_id))
    protocol.data_received(scu.data_to_send())
    # a third outstanding operation is beyond the window of 2: refused by its handler
    assert _echo_statuses(scu, transport) == [(3, OUT_OF_RESOURCES)]
    assert sorted(protocol.operations.running) == [1, 2] and counting.started == [1, 2]
    await asyncio.sleep(0)
    protocol.data_received(_cancel(scu, 2))
    for _ in range(2):  # the task ends, then its done callback forgets it
        await asyncio.sleep(0)
    assert toy.cancelled == [2] and sorted(protocol.operations.running) == [1]
    toy.gate.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert _echo_statuses(scu, transport) == [(1, SUCCESS)]
    assert not protocol.operations.running


def _cancel(scu: Association, message_id: int) -> bytes:
    scu.send_message(1, CCancelRQ(message_id))
    return scu.data_to_send()


async def test_a_reused_outstanding_message_id_aborts_for_any_windowed_operation() -> None:
    server = Server(ServerConfig(async_ops_window=2), {})
    server.register_operation(CommandField.C_ECHO_RQ, GatedEcho())
    protocol, transport, scu = _connected(server, window=2)
    scu.send_message(1, CEchoRQ(7))
    scu.send_message(1, CEchoRQ(7))
    with capture_logs() as logs:
        protocol.data_received(scu.data_to_send())
    events = scu.receive_data(b"".join(transport.written))
    assert any(isinstance(event, Aborted) and event.source == 2 for event in events)
    assert any("reuses an outstanding message id" in line["event"] for line in logs)


async def test_a_failing_observer_changes_nothing() -> None:
    class Broken(ServerObserver):
        def association_accepted(self, scp: ServerProtocol) -> None:
            raise RuntimeError("observer bug")

        def operation_ended(self, scp: ServerProtocol, report: object) -> None:
            raise RuntimeError("observer bug")

        def association_ended(self, scp: ServerProtocol) -> None:
            raise RuntimeError("observer bug")

    server = Server(
        ServerConfig(), {"worklist": counting_handler(2, Recorder())}, observers=[Broken()]
    )
    opener = memory_opener(server.protocol_factory)
    with capture_logs() as logs:
        async with aiodicom.connect("127.0.0.1", 0, opener=opener) as assoc:
            assert len([ds async for ds in assoc.find(query())]) == 2
        await asyncio.sleep(0)
    failures = [line for line in logs if line["event"] == "server observer failed"]
    assert len(failures) == 3


class StatusCall(EchoCall):
    """A toy SCU operation: one C-ECHO whose status it keeps, as a new service would."""

    def on_message(self, command: DimseCommand, data_set: bytes | None) -> None:
        self.seen = command
        super().on_message(command, data_set)


async def test_a_new_scu_operation_is_one_class_started_through_perform() -> None:
    server = Server(ServerConfig(), {})
    server.register_operation(CommandField.C_ECHO_RQ, FixedEcho(BUSY))
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, models=(), opener=opener) as assoc:
        protocol = assoc._protocol
        context_id = next(iter(assoc.contexts))

        def make() -> StatusCall:
            call = StatusCall(protocol, message_id=41)
            protocol.start_operation(call)
            protocol.send_command(context_id, CEchoRQ(call.message_id))
            return call

        call = await assoc.perform(make)
        assert await call.finished == BUSY
        assert call.seen == CEchoRSP(41, BUSY)
        assert assoc.outstanding == 0


async def test_memory_transport_pauses_and_resumes_reading_under_backpressure() -> None:
    """More pending responses than the SCU queues (QUEUE_HIGH_WATER) before its consumer
    reads: the client pauses the memory transport, then resumes it; nothing is lost."""
    count = QUEUE_HIGH_WATER + 500
    server = Server(ServerConfig(), {"worklist": counting_handler(count, Recorder())})
    opener = memory_opener(server.protocol_factory)
    async with asyncio.timeout(30), aiodicom.connect("127.0.0.1", 0, opener=opener) as assoc:
        stream = assoc.find_responses(query())
        first = await anext(stream)
        transport = assoc._protocol.transport
        assert isinstance(transport, MemoryTransport)
        for _ in range(200):  # let the server stream until the client stops reading
            await asyncio.sleep(0)
            if not transport.is_reading():
                break
        assert not transport.is_reading()
        rest = [result async for result in stream]
    assert first.raw is not None and len(rest) == count  # count - 1 pending + the final
    assert rest[-1].status == SUCCESS and transport.is_reading()


async def test_registering_an_operation_can_accept_its_sop_classes() -> None:
    private = "1.2.826.0.1.3680043.9.7433.1.1"  # a SOP class no built-in entry serves
    server = Server(ServerConfig(), {})
    assert not _connected(server, window=1, sop_class=private)[2].contexts
    server.register_operation(CommandField.C_ECHO_RQ, FixedEcho(BUSY), sop_classes=[private])
    protocol, transport, scu = _connected(server, window=1, sop_class=private)
    assert scu.contexts[1].abstract_syntax == private
    scu.send_message(1, CEchoRQ(5, private))
    protocol.data_received(scu.data_to_send())
    assert _echo_statuses(scu, transport) == [(5, BUSY)]


class Recording(ServerObserver):
    """An observer of every event."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def association_accepted(self, scp: ServerProtocol) -> None:
        self.events.append("accepted")

    def association_rejected(self, scp: ServerProtocol, refusal: object) -> None:
        self.events.append("rejected")

    def operation_started(self, scp: ServerProtocol, operation: Operation) -> None:
        self.events.append("started")

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        self.events.append("ended")

    def association_ended(self, scp: ServerProtocol) -> None:
        self.events.append("ended-association")


async def test_each_event_goes_to_the_observers_that_hear_it_added_ones_too() -> None:
    counting = Counting()  # overrides operation_started only
    server = Server(ServerConfig(), {"worklist": counting_handler(1, Recorder())})
    server.observers.append(counting)
    table = server.observer_table()
    assert table.operation_started == (counting.operation_started,)
    assert table.association_accepted == () and table.operation_ended == ()
    late = Recording()
    server.observers.append(late)  # heard from the next association on
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, opener=opener) as assoc:
        assert len([ds async for ds in assoc.find(query())]) == 1
    await asyncio.sleep(0)
    assert late.events == ["accepted", "started", "ended", "ended-association"]
    assert counting.started == [1]
    assert server.observer_table() is server.observer_table()  # unchanged list: same table
