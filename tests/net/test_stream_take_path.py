"""The C-FIND streams take queued results without a coroutine (``_BaseStream._take``)
when results are already queued or the operation is over; only starting and waiting
go through ``_next``. Both ways must yield the same responses (PS3.7 9.1.2: Pending
responses, then exactly one final response), and a stream closed early still sends
C-CANCEL-RQ (PS3.7 9.3.2.3) and yields nothing more.
"""

from __future__ import annotations

import asyncio

import pytest

import aiodicom
from aiodicom import ServerConfig
from aiodicom.net.types import FindResult
from aiodicom.proto.status import CANCEL, PENDING, SUCCESS
from tests.net.helpers import Recorder, counting_handler, query


def _summary(results: list[FindResult]) -> list[tuple[int, bytes | None]]:
    return [(result.status, result.raw) for result in results]


@pytest.mark.parametrize("count", [0, 1, 5])
async def test_queued_and_awaited_results_are_the_same(count: int) -> None:
    """Consumer first (waits each time) vs consumer late (everything already queued)."""
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": counting_handler(count, Recorder())}) as srv,
        aiodicom.connect("127.0.0.1", srv.port) as assoc,
    ):
        awaited = [result async for result in assoc.find_responses(query())]
        stream = assoc.find_responses(query())
        first = await anext(stream)  # starts the operation; the rest arrives meanwhile
        await asyncio.sleep(0.2)
        queued = [first] + [result async for result in stream]
        identifiers = [ds.PatientID async for ds in assoc.find(query())]
    assert _summary(queued) == _summary(awaited)
    assert [r.status for r in awaited] == [PENDING] * count + [SUCCESS]
    assert identifiers == [f"ID{index:06d}" for index in range(count)]
    assert awaited[-1].is_final and awaited[-1].identifier is None


async def test_closed_stream_with_queued_results_yields_nothing_more() -> None:
    async with (
        aiodicom.serve(
            ServerConfig(), {"worklist": counting_handler(50, Recorder(), delay=0.01)}
        ) as srv,
        aiodicom.connect("127.0.0.1", srv.port) as assoc,
    ):
        stream = assoc.find_responses(query())
        assert (await anext(stream)).status == PENDING
        await asyncio.sleep(0.05)  # a few more are queued now
        await stream.aclose()
        assert stream.cancelled
        assert stream.status == CANCEL
        assert [result async for result in stream] == []
        assert await assoc.echo() == SUCCESS
