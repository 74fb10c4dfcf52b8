"""N-CREATE and N-SET end to end (PS3.7 10.1.5, 10.1.3): our client API against handlers
registered with ``register_n_service`` (two operation-layer entries), in memory and over
TCP: statuses, attribute lists, failures as DimseStatusError, observers, the window."""

from __future__ import annotations

import asyncio

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import DimseStatusError, NOutcome, NRequest
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.net.n_types import NEnd
from aiodicom.net.observers import ServerObserver
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.transport import memory_opener
from aiodicom.proto.events import MessageReceived
from aiodicom.proto.messages import NSetRQ, NSetRSP
from aiodicom.proto.status import (
    ATTRIBUTE_VALUE_OUT_OF_RANGE,
    NO_SUCH_SOP_CLASS,
    PROCESSING_FAILURE,
    SUCCESS,
)
from tests.net.test_operations import EXPLICIT_LE, _cancel, _connected

MPPS = "1.2.840.10008.3.1.2.3.3"
OTHER = "1.2.840.10008.5.1.1.40"  # a SOP class nobody serves here


class Store:
    """A toy N-service: N-CREATE stores the attribute list, N-SET merges into it."""

    def __init__(self) -> None:
        self.instances: dict[str, Dataset] = {}
        self.requests: list[NRequest] = []

    async def create(self, request: NRequest) -> NOutcome:
        self.requests.append(request)
        uid = request.sop_instance_uid or f"2.25.{len(self.instances) + 1}"
        if uid in self.instances:
            return NOutcome(0x0111, error_comment=f"{uid} exists")
        self.instances[uid] = request.data_set
        echo = Dataset()
        echo.PatientID = request.data_set.get("PatientID", "")
        return NOutcome(SUCCESS, echo, sop_instance_uid=uid)

    async def set(self, request: NRequest) -> NOutcome:
        self.requests.append(request)
        await asyncio.sleep(0)  # suspends: the operation continues in a task
        uid = request.sop_instance_uid or ""
        if uid not in self.instances:
            return NOutcome(0x0112, error_comment="no such instance", error_id=0xA710)
        for element in request.data_set:
            self.instances[uid][element.tag] = element
        if request.data_set.get("PatientID") == "WARN":
            return NOutcome(ATTRIBUTE_VALUE_OUT_OF_RANGE)
        return NOutcome()


class Ends(ServerObserver):
    def __init__(self) -> None:
        self.ends: list[NEnd] = []

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        if isinstance(report, NEnd):
            self.ends.append(report)


def _server(
    store: Store, observers: list[ServerObserver] | None = None, seen: list[NEnd] | None = None
) -> Server:
    server = Server(ServerConfig(async_ops_window=4), {}, observers=observers or [])
    observe = None if seen is None else seen.append
    aiodicom.register_n_service(
        server, MPPS, n_create=store.create, n_set=store.set, observe=observe
    )
    return server


def _patient(patient_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    return ds


async def test_n_create_then_n_set_round_trip_in_memory() -> None:
    store, ends = Store(), Ends()
    seen: list[NEnd] = []
    server = _server(store, [ends], seen)
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, sop_classes=[MPPS], opener=opener) as assoc:
        created = await assoc.n_create(MPPS, "1.2.3.4", _patient("P1"))
        assert created.status == SUCCESS
        assert created.sop_instance_uid == "1.2.3.4"
        assert created.attributes is not None and created.attributes.PatientID == "P1"
        change = Dataset()
        change.PerformedProcedureStepStatus = "COMPLETED"
        result = await assoc.n_set(MPPS, "1.2.3.4", change)
        assert result.status == SUCCESS and result.attributes is None
    assert store.instances["1.2.3.4"].PerformedProcedureStepStatus == "COMPLETED"
    kinds = [(r.kind, r.sop_class_uid, r.sop_instance_uid) for r in store.requests]
    assert kinds == [("N-CREATE", MPPS, "1.2.3.4"), ("N-SET", MPPS, "1.2.3.4")]
    assert [end.request.kind for end in ends.ends] == ["N-CREATE", "N-SET"]
    assert [end.outcome.sop_instance_uid for end in seen] == ["1.2.3.4", None]
    assert store.requests[0].calling_ae == "AIODICOM"


async def test_the_scp_may_assign_the_instance_uid() -> None:
    server = _server(Store())
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, sop_classes=[MPPS], opener=opener) as assoc:
        first = await assoc.n_create(MPPS, None, _patient("P1"))
        empty = await assoc.n_create(MPPS, None, None)
    assert (first.sop_instance_uid, empty.sop_instance_uid) == ("2.25.1", "2.25.2")


async def test_failures_raise_dimse_status_error_and_warnings_return() -> None:
    server = _server(Store())
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, sop_classes=[MPPS], opener=opener) as assoc:
        await assoc.n_create(MPPS, "1.2.3", _patient("P1"))
        with pytest.raises(DimseStatusError) as duplicate:
            await assoc.n_create(MPPS, "1.2.3", _patient("P1"))
        assert duplicate.value.status == 0x0111 and duplicate.value.comment == "1.2.3 exists"
        with pytest.raises(DimseStatusError) as missing:
            await assoc.n_set(MPPS, "9.9.9", _patient("P2"))
        assert missing.value.status == 0x0112
        warned = await assoc.n_set(MPPS, "1.2.3", _patient("WARN"))
        assert warned.status == ATTRIBUTE_VALUE_OUT_OF_RANGE
        assert await assoc.echo() == SUCCESS  # the association is still fine


async def test_a_failing_handler_answers_processing_failure() -> None:
    async def broken(request: NRequest) -> NOutcome:
        raise RuntimeError("disk on fire")

    server = Server(ServerConfig(), {})
    aiodicom.register_n_service(server, MPPS, n_create=broken)
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, sop_classes=[MPPS], opener=opener) as assoc:
        with pytest.raises(DimseStatusError) as failed:
            await assoc.n_create(MPPS, "1.2.3", _patient("P1"))
    assert failed.value.status == PROCESSING_FAILURE
    assert failed.value.comment == "RuntimeError: disk on fire"


async def test_an_unserved_sop_class_gets_no_such_sop_class() -> None:
    """The N-CREATE entry serves MPPS only; a context accepted for another SOP class
    reaching it is answered 0x0118 (PS3.7 C.5)."""
    store = Store()
    server = _server(store)
    aiodicom.register_n_service(server, OTHER, n_set=store.set)  # N-SET only
    opener = memory_opener(server.protocol_factory)
    async with aiodicom.connect("127.0.0.1", 0, sop_classes=[MPPS, OTHER], opener=opener) as assoc:
        with pytest.raises(DimseStatusError) as refused:
            await assoc.n_create(OTHER, "1.2.3", _patient("P1"))
        assert refused.value.status == NO_SUCH_SOP_CLASS
        assert (await assoc.n_create(MPPS, "1.2.3", _patient("P1"))).status == SUCCESS
    assert [r.kind for r in store.requests] == ["N-CREATE"]


async def test_n_operations_run_in_the_window_over_tcp() -> None:
    store = Store()
    server = _server(store)
    await server.start("127.0.0.1", 0)
    try:
        async with aiodicom.connect(
            "127.0.0.1", server.port, sop_classes=[MPPS], async_ops_window=(4, 1)
        ) as assoc:
            uids = [f"1.2.{n}" for n in range(8)]
            created = await asyncio.gather(
                *(assoc.n_create(MPPS, uid, _patient(uid)) for uid in uids)
            )
            change = Dataset()
            change.PerformedProcedureStepStatus = "DISCONTINUED"
            updated = await asyncio.gather(*(assoc.n_set(MPPS, uid, change) for uid in uids))
    finally:
        await server.shutdown(2.0)
    assert [r.sop_instance_uid for r in created] == uids
    assert all(r.status == SUCCESS for r in updated)
    assert {ds.PerformedProcedureStepStatus for ds in store.instances.values()} == {"DISCONTINUED"}


async def test_c_cancel_does_not_stop_an_n_set() -> None:
    """PS3.7 9.3.2.3: C-CANCEL is for C-FIND, C-GET and C-MOVE; an N-SET it names still
    runs to its end and is answered."""
    gate = asyncio.Event()

    async def slow_set(request: NRequest) -> NOutcome:
        await gate.wait()
        return NOutcome(ATTRIBUTE_VALUE_OUT_OF_RANGE)

    server = Server(ServerConfig(async_ops_window=2), {})
    aiodicom.register_n_service(server, MPPS, n_set=slow_set)
    protocol, transport, scu = _connected(server, window=2, sop_class=MPPS)
    scu.send_message(1, NSetRQ(5, MPPS, "1.2.3"), encode_identifier(_patient("P"), EXPLICIT_LE))
    protocol.data_received(scu.data_to_send())
    await asyncio.sleep(0)
    protocol.data_received(_cancel(scu, 5))
    for _ in range(3):
        await asyncio.sleep(0)
    assert 5 in protocol.operations.running  # still performing
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    events = scu.receive_data(b"".join(transport.written))
    answers = [e.command for e in events if isinstance(e, MessageReceived)]
    assert answers == [NSetRSP(5, ATTRIBUTE_VALUE_OUT_OF_RANGE, MPPS, "1.2.3")]
