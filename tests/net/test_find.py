"""Loopback tests of C-ECHO, C-FIND streaming, failures and C-CANCEL (PS3.7 9.1.2, 9.3.2.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydicom import Dataset

import aiodicom
import aiodicom.dicom.identifier
from aiodicom import DimseStatusError, FindRequest, QueryError, ServerConfig
from aiodicom.proto.status import CANCEL, PENDING_WARNING, SUCCESS, StatusCategory
from tests.net.helpers import Recorder, Serve, counting_handler, query


async def test_echo_returns_success(serve: Serve) -> None:
    async with (
        serve(ServerConfig(), {}) as server,
        aiodicom.connect("127.0.0.1", server.port, models=()) as assoc,
    ):
        assert await assoc.echo() == SUCCESS
        assert await assoc.echo() == SUCCESS


@pytest.mark.parametrize("as_bytes", [True, False])
async def test_find_streams_5000_pending_responses(as_bytes: bool, serve: Serve) -> None:
    recorder = Recorder()
    handler = counting_handler(5000, recorder, as_bytes=as_bytes)
    async with (
        serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        ids = [str(ds.PatientID) async for ds in assoc.find(query("DOE*"))]
    assert len(ids) == 5000
    assert ids[0] == "ID000000"
    assert ids[-1] == "ID004999"
    assert str(recorder.requests[0].identifier.PatientName) == "DOE*"


async def test_find_responses_are_typed_and_final_is_last(serve: Serve) -> None:
    async def handler(request: FindRequest) -> AsyncIterator[aiodicom.FindResponse]:
        ds = Dataset()
        ds.PatientID = "X1"
        yield aiodicom.FindResponse(ds, status=PENDING_WARNING)

    async with (
        serve(ServerConfig(), {"study": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        stream = assoc.find_responses(query(), model="study")
        results = [r async for r in stream]
    assert [r.status for r in results] == [PENDING_WARNING, SUCCESS]
    assert results[0].category is StatusCategory.PENDING
    assert results[0].identifier is not None
    assert results[0].identifier.PatientID == "X1"
    assert results[1].is_final
    assert results[1].identifier is None
    assert stream.warnings == [PENDING_WARNING]


async def test_query_error_becomes_failure_status_with_comment(serve: Serve) -> None:
    async def handler(request: FindRequest) -> AsyncIterator[Dataset]:
        if request.identifier.get("PatientName") == "BAD":
            raise QueryError(0xA900, comment="no such key")
        yield Dataset()

    async with (
        serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        stream = assoc.find(query("BAD"))
        with pytest.raises(DimseStatusError) as info:
            async for _ in stream:
                pass
        assert info.value.status == 0xA900
        assert info.value.comment == "no such key"
        assert stream.status == 0xA900
        # the association is still fine
        assert await assoc.echo() == SUCCESS


async def test_cancel_mid_stream_ends_with_fe00_and_association_stays_usable(serve: Serve) -> None:
    recorder = Recorder()
    handler = counting_handler(100_000, recorder, delay=0.0005)
    async with (
        serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        seen = 0
        async with assoc.find_responses(query()) as stream:
            async for result in stream:
                assert result.category is StatusCategory.PENDING
                seen += 1
                if seen == 20:
                    break
        assert stream.status == CANCEL
        assert stream.cancelled
        assert [r async for r in stream] == []  # nothing after the final response
        assert recorder.requests[0].cancelled
        assert recorder.closed == 1
        assert recorder.produced < 100_000
        # the next find on the same association sees only its own responses
        small = Recorder()
        server.handlers[aiodicom.QueryModel.WORKLIST.sop_class_uid] = counting_handler(7, small)
        ids = [str(ds.PatientID) async for ds in assoc.find(query())]
        assert ids == [f"ID{i:06d}" for i in range(7)]


async def test_plain_break_cancels_and_next_find_works(serve: Serve) -> None:
    recorder = Recorder()
    handler = counting_handler(100_000, recorder, delay=0.0005)
    async with (
        serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        count = 0
        async for _ in assoc.find(query()):
            count += 1
            if count == 5:
                break
        # the dropped stream sent C-CANCEL at once; echo waits for the final response
        assert await assoc.echo() == SUCCESS
        assert recorder.requests[0].cancelled
        assert recorder.closed == 1
        stream = assoc.find_responses(query())
        first = await anext(stream)
        assert first.message_id == 3  # find=1, echo=2, this find=3
        await stream.aclose()
        assert stream.status == CANCEL


async def test_task_cancellation_sends_c_cancel(serve: Serve) -> None:
    recorder = Recorder()
    handler = counting_handler(100_000, recorder, delay=0.001)
    async with (
        serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):

        async def consume() -> None:
            async for _ in assoc.find(query()):
                pass

        task = asyncio.create_task(consume())
        await asyncio.wait_for(recorder.started.wait(), 5)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await assoc.echo() == SUCCESS
        assert recorder.requests[0].cancelled
        assert recorder.closed == 1


async def test_slow_consumer_applies_backpressure_to_the_handler(serve: Serve) -> None:
    recorder = Recorder()
    big = Dataset()
    big.PatientID = "P" * 60
    big.PatientComments = "x" * 1000

    async def handler(request: FindRequest) -> AsyncIterator[bytes]:
        raw = aiodicom.dicom.identifier.encode_identifier(big, request.transfer_syntax)
        try:
            for _ in range(200_000):
                recorder.produced += 1
                yield raw
        finally:
            recorder.closed += 1

    async with (
        serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        stream = assoc.find_responses(query())
        await anext(stream)
        # the consumer stalls: our socket reads pause, so the SCP must stall too
        previous = -1
        for _ in range(25):
            await asyncio.sleep(0.2)
            if recorder.produced == previous:
                break
            previous = recorder.produced
        else:
            pytest.fail(f"the SCP never stalled: {recorder.produced} produced")
        assert previous < 50_000
        await stream.aclose()
        assert stream.status == CANCEL
        assert recorder.closed == 1
