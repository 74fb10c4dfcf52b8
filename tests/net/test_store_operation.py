"""C-STORE through the operation layer (aiodicom.net.store_scp / store_scu), in memory.

``StoreOperation`` is registered with ``Server.register_operation``; its handler's sink
sees the data set fragment by fragment (PS3.8 E.2) when it spans PDVs, whole when it fits
one; the C-STORE-RSP (PS3.7 9.3.1.2) carries the sink's status or its StoreError. The
client's ``c_store`` sends a Dataset or a PS3.10 file and raises on a failure status.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, generate_uid

import aiodicom
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import DimseStatusError, NegotiationError, StoreError
from aiodicom.net.observers import ServerObserver
from aiodicom.net.options import ClientOptions, build_request
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.store_scp import StoreEnd, StoreOperation, StoreRequest
from aiodicom.net.store_scu import StoreCall
from aiodicom.net.transport import memory_opener
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CommandField, CStoreRQ
from tests.net.helpers import Recorder, counting_handler

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


class MemorySink:
    """Keeps every write; commits with ``status`` or raises ``error``."""

    def __init__(self, owner: Recorded) -> None:
        self.owner = owner
        self.writes: list[int] = []
        self.data = bytearray()
        self.discarded = False

    def write(self, data: bytes) -> None:
        if self.owner.fail_on_write is not None:
            raise self.owner.fail_on_write
        self.writes.append(len(data))
        self.data += data

    async def commit(self) -> int:
        await asyncio.sleep(0)
        if self.owner.error is not None:
            raise self.owner.error
        return self.owner.status

    def discard(self) -> None:
        self.discarded = True


class Recorded:
    def __init__(self) -> None:
        self.requests: list[StoreRequest] = []
        self.sinks: list[MemorySink] = []
        self.status = 0x0000
        self.error: StoreError | None = None
        self.fail_on_write: Exception | None = None
        self.refuse: StoreError | None = None

    def __call__(self, request: StoreRequest) -> MemorySink:
        if self.refuse is not None:
            raise self.refuse
        self.requests.append(request)
        sink = MemorySink(self)
        self.sinks.append(sink)
        return sink


class Ends(ServerObserver):
    def __init__(self) -> None:
        self.ends: list[StoreEnd] = []

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        if isinstance(report, StoreEnd):
            self.ends.append(report)


def instance(pixels: int = 16) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "P1"
    ds.add_new(0x7FE00010, "OB", bytes(pixels))  # Pixel Data
    return ds


def store_server(recorded: Recorded, max_pdu: int = 16384) -> tuple[Server, Ends]:
    ends = Ends()
    server = Server(
        ServerConfig(max_pdu_length=max_pdu),
        {"worklist": counting_handler(1, Recorder())},
        observers=[ends],
    )
    server.register_operation(
        CommandField.C_STORE_RQ, StoreOperation(recorded), [SECONDARY_CAPTURE]
    )
    return server, ends


def connect(server: Server, max_pdu: int = 16384, syntaxes: tuple[str, ...] = ()) -> object:
    return aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
        transfer_syntaxes=syntaxes or None,
        max_pdu_length=max_pdu,
    )


async def test_a_large_data_set_reaches_the_sink_fragment_by_fragment() -> None:
    recorded = Recorded()
    server, ends = store_server(recorded, max_pdu=4096)
    ds = instance(100_000)
    async with aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
    ) as assoc:
        assert await assoc.c_store(ds) == 0x0000
        # the association stays usable, and C-FIND still works next to C-STORE
        assert await assoc.echo() == 0x0000
    [sink] = recorded.sinks
    assert len(sink.writes) > 20 and max(sink.writes) <= 4096
    assert bytes(sink.data) == encode_identifier(ds, EXPLICIT_LE)
    [request] = recorded.requests
    assert request.sop_instance_uid == ds.SOPInstanceUID
    assert request.transfer_syntax == EXPLICIT_LE and request.calling_ae == "AIODICOM"
    [end] = ends.ends
    assert end.status == 0 and end.bytes == len(sink.data)


async def test_a_small_data_set_in_one_pdv_is_written_whole() -> None:
    recorded = Recorded()
    server, _ = store_server(recorded)
    async with aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
    ) as assoc:
        for _ in range(3):
            assert await assoc.c_store(instance()) == 0x0000
    assert [len(sink.writes) for sink in recorded.sinks] == [1, 1, 1]


@pytest.mark.parametrize(
    ("setup", "status", "comment"),
    [
        ("commit", 0xA700, "disk full"),
        ("write", 0xC000, "OSError: boom"),
        ("open", 0xA900, "not this class"),
    ],
)
async def test_failures_come_back_as_the_status_with_its_comment(
    setup: str, status: int, comment: str
) -> None:
    recorded = Recorded()
    if setup == "commit":
        recorded.error = StoreError(status, comment=comment)
    elif setup == "write":
        recorded.fail_on_write = OSError("boom")
    else:
        recorded.refuse = StoreError(status, comment=comment)
    server, _ = store_server(recorded, max_pdu=4096)
    async with aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
    ) as assoc:
        with pytest.raises(DimseStatusError) as info:
            await assoc.c_store(instance(20_000))
        assert info.value.status == status and info.value.comment == comment
        assert await assoc.echo() == 0x0000
    if setup == "write":
        assert recorded.sinks[0].discarded


async def test_a_warning_status_is_returned(tmp_path: Path) -> None:
    recorded = Recorded()
    recorded.status = 0xB007  # PS3.4 B.2.3: data set does not match SOP class (warning)
    server, _ = store_server(recorded)
    async with aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
    ) as assoc:
        assert await assoc.c_store(instance()) == 0xB007


async def test_a_file_is_sent_as_it_is_in_its_own_transfer_syntax(tmp_path: Path) -> None:
    ds = instance(5000)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = UID(IMPLICIT_LE)
    path = tmp_path / "one.dcm"
    ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
    recorded = Recorded()
    server, _ = store_server(recorded)
    async with connect(server, syntaxes=(IMPLICIT_LE,)) as assoc:  # type: ignore[attr-defined]
        assert await assoc.c_store(path) == 0x0000
    raw = path.read_bytes()
    assert raw.endswith(bytes(recorded.sinks[0].data))
    async with connect(server, syntaxes=(EXPLICIT_LE,)) as assoc:  # type: ignore[attr-defined]
        with pytest.raises(NegotiationError, match="transfer syntax"):
            await assoc.c_store(path)


async def test_a_connection_lost_in_the_middle_of_a_data_set_discards_it() -> None:
    recorded = Recorded()
    server, ends = store_server(recorded, max_pdu=4096)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        requestor = Association(Mode.REQUESTOR)
        requestor.request(
            build_request(ClientOptions("127.0.0.1", 0, sop_classes=[SECONDARY_CAPTURE]))
        )
        requestor.connection_made()
        writer.write(requestor.data_to_send())
        while requestor.state is not State.STA6:
            requestor.receive_data(await asyncio.wait_for(reader.read(65536), 5))
        [context] = [
            c for c in requestor.contexts.values() if c.abstract_syntax == SECONDARY_CAPTURE
        ]
        rq = CStoreRQ(1, SECONDARY_CAPTURE, generate_uid())
        requestor.send_message(context.context_id, rq, bytes(100_000))
        writer.write(requestor.data_to_send()[:50_000])  # half of the data set, then gone
        await writer.drain()
        for _ in range(200):
            if recorded.sinks and len(recorded.sinks[0].data) > 20_000:
                break
            await asyncio.sleep(0.01)
        writer.transport.abort()
        for _ in range(200):
            if recorded.sinks[0].discarded:
                break
            await asyncio.sleep(0.01)
        assert recorded.sinks[0].discarded and not ends.ends
    finally:
        await server.shutdown(1.0)


async def test_a_class_other_than_the_contexts_is_refused_with_0122() -> None:
    """PS3.7 9.1.1.1.2: the Affected SOP Class UID is the presentation context's."""
    recorded = Recorded()
    server, _ = store_server(recorded)
    async with aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
    ) as assoc:
        context = assoc._context_for(SECONDARY_CAPTURE, "storage")
        protocol = assoc._protocol

        def make() -> StoreCall:
            call = StoreCall(protocol, assoc._next_message_id())
            protocol.start_operation(call)
            rq = CStoreRQ(call.message_id, "1.2.840.10008.5.1.4.1.1.2", generate_uid())
            protocol.send_command(context.context_id, rq, b"")
            return call

        call = await assoc.perform(make)
        rsp = await call.finished
        assert rsp.status == 0x0122 and "presentation context" in (rsp.error_comment or "")
    assert recorded.requests == []


async def test_a_streamed_data_set_without_a_streaming_handler_aborts() -> None:
    """The table entry was replaced behind the server's back: no sink, so A-ABORT."""
    recorded = Recorded()
    server, _ = store_server(recorded, max_pdu=4096)
    server.operations[CommandField.C_STORE_RQ] = server.operations[CommandField.C_ECHO_RQ]
    async with aiodicom.connect(
        "127.0.0.1",
        0,
        opener=memory_opener(server.protocol_factory),
        sop_classes=[SECONDARY_CAPTURE],
    ) as assoc:
        with pytest.raises(aiodicom.errors.AssociationAborted):
            await assoc.c_store(instance(50_000))
    assert recorded.requests == []
