"""The SCU's cheap paths must behave exactly like the general ones they short-cut.

* a C-FIND on an idle synchronous association starts without awaiting the lock
  (``ClientAssociation._begin_now``): same results, Message IDs and cancellations as the
  lock path (PS3.7 9.3.2.3);
* the A-ASSOCIATE-RQ and the C-FIND-RQ command template are memoised
  (``cached_request``, ``find_rq_template``);
* Message IDs wrap at 65535 and skip outstanding ones (PS3.7 9.1.1.1.1);
* the ACSE timers (A-ASSOCIATE-AC and A-RELEASE-RP waits, PS3.8 7.1 / 7.2) are plain
  timers that fail the association.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import Dataset

import aiodicom
from aiodicom import DicomTimeoutError, FindRequest, ServerConfig, encode_query
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.net.options import (
    _REQUESTS,
    ClientOptions,
    _request_key,
    build_request,
    cached_request,
)
from aiodicom.net.query import FindRQTemplate, find_rq_template
from aiodicom.proto.pdus import UserIdentityRQ, UserIdentityType

WORKLIST_UID = aiodicom.QueryModel.WORKLIST.sop_class_uid


def counted(count: int) -> Dataset:
    """A query whose PatientID tells the handler how many matches to return."""
    ds = Dataset()
    ds.PatientID = str(count)
    ds.PatientName = ""
    return ds


async def count_handler(request: FindRequest) -> AsyncIterator[bytes]:
    count = int(str(request.identifier.PatientID))
    for index in range(count):
        ds = Dataset()
        ds.PatientID = str(count)
        ds.PatientName = f"M{request.message_id}^{index}"
        yield encode_identifier(ds, request.transfer_syntax)


# -- fast start == lock path --------------------------------------------------------------

Op = tuple[int, int | None, bool]  # (matches, break after, as FindResults)
ops_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.none() | st.integers(0, 3), st.booleans()),
    min_size=1,
    max_size=6,
)


async def run_ops(ops: list[Op], *, fast: bool) -> tuple[list[object], list[int]]:
    """Run ``ops`` one after the other in one task; what the client and server saw."""
    seen_ids: list[int] = []

    async def handler(request: FindRequest) -> AsyncIterator[bytes]:
        seen_ids.append(request.message_id)
        async for item in count_handler(request):
            yield item
            await asyncio.sleep(0.005)  # a query left early is still running

    outcome: list[object] = []
    kept: list[object] = []  # no finalizer may cancel a stream left open: the start must
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        if not fast:
            assoc._busy = 1  # as if the lock were held: every start takes the lock path
        for matches, stop, as_results in ops:
            query = encode_query(counted(matches))
            got: list[object] = []
            if as_results:
                results = assoc.find_responses(query)
                kept.append(results)
                async for result in results:
                    got.append((result.status, None if result.raw is None else len(result.raw)))
                    if stop is not None and len(got) >= stop:
                        break  # left open: the next start (same task) cancels it
                outcome.append((got, results.cancelled))
            else:
                stream = assoc.find(query)
                kept.append(stream)
                async for ds in stream:
                    got.append(str(ds.PatientName).split("^")[1])
                    if stop is not None and len(got) >= stop:
                        break
                outcome.append((got, stream.status if stream.status is None else "final"))
        outcome.append(await assoc.echo())
    return outcome, seen_ids


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy)
def test_fast_start_equals_the_lock_path(ops: list[Op]) -> None:
    fast = asyncio.run(run_ops(ops, fast=True))
    slow = asyncio.run(run_ops(ops, fast=False))
    assert fast == slow
    outcome, seen_ids = fast
    assert seen_ids == list(range(1, len(seen_ids) + 1))
    assert outcome[-1] == 0x0000


async def test_a_second_task_waits_for_the_running_find() -> None:
    """The fast start never jumps over an operation in progress (PS3.7 D.3.3.3: 1,1)."""

    async def slow(request: FindRequest) -> AsyncIterator[bytes]:
        async for item in count_handler(request):
            yield item
            await asyncio.sleep(0.05)

    async with (
        aiodicom.serve(ServerConfig(), {"worklist": slow}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        first = assoc.find(counted(3))
        got = [await anext(first)]

        async def second() -> int:
            return len([ds async for ds in assoc.find(counted(2))])

        waiting = asyncio.ensure_future(second())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # queued behind ``first``
        got += [ds async for ds in first]
        assert len(got) == 3 and await waiting == 2
        assert not first.cancelled


async def test_message_ids_wrap_and_skip_outstanding() -> None:
    seen: list[int] = []

    async def handler(request: FindRequest) -> AsyncIterator[bytes]:
        seen.append(request.message_id)
        async for item in count_handler(request):
            yield item

    async with (
        aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        assoc._last_message_id = 0xFFFE
        for _ in range(3):
            assert len([ds async for ds in assoc.find(counted(1))]) == 1
        assert assoc._next_message_id() == 3
    assert seen == [0xFFFF, 1, 2]


# -- memoised request and template -------------------------------------------------------

models = st.lists(st.sampled_from(["worklist", "study", "patient", "patient-study"]), max_size=4)
syntaxes = st.none() | st.sampled_from([("1.2.840.10008.1.2",), ("1.2.840.10008.1.2.1",)])
identities = st.none() | st.sampled_from(["alice", ("bob", "secret")])


@given(
    models=models,
    syntaxes=syntaxes,
    identity=identities,
    window=st.none() | st.tuples(st.integers(0, 5), st.integers(0, 5)),
    pdu=st.integers(0, 65536),
)
def test_cached_request_equals_build_request(
    models: list[str],
    syntaxes: tuple[str, ...] | None,
    identity: str | tuple[str, str] | None,
    window: tuple[int, int] | None,
    pdu: int,
) -> None:
    def options() -> ClientOptions:
        return ClientOptions(
            "127.0.0.1",
            104,
            models=list(models),
            transfer_syntaxes=syntaxes,
            user_identity=identity,
            async_ops_window=window,
            max_pdu_length=pdu,
            extended_negotiation={"worklist": b"\x01"} if models else None,
        )

    cached = cached_request(options())
    assert cached == build_request(options())
    if identity is None:
        assert cached_request(options()) is cached
    else:  # a passcode is never kept in a process-wide cache
        assert _request_key(options()) is None
        assert all(rq != cached for rq in _REQUESTS.values())


def test_cached_request_keeps_unusual_options_uncached() -> None:
    identity = UserIdentityRQ(UserIdentityType.USERNAME, False, b"carol")
    plain = ClientOptions("h", 1, models=("worklist",), user_identity=identity)
    assert cached_request(plain) == build_request(plain)
    generator = (m for m in ["worklist"])  # not a Sequence: may be read only once
    generated = ClientOptions("h", 1, models=generator)  # type: ignore[arg-type]
    assert [c.abstract_syntax for c in cached_request(generated).presentation_contexts] == [
        "1.2.840.10008.1.1",
        WORKLIST_UID,
    ]


@given(message_id=st.integers(1, 0xFFFF), priority=st.integers(0, 2))
def test_shared_template_equals_a_fresh_one(message_id: int, priority: int) -> None:
    shared = find_rq_template(WORKLIST_UID, priority)
    assert shared is find_rq_template(WORKLIST_UID, priority)
    fresh = FindRQTemplate(WORKLIST_UID, priority)
    assert shared.encode(message_id) == fresh.encode(message_id)
    assert shared.check(message_id).message_id == message_id


# -- ACSE timers -------------------------------------------------------------------------


ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def start_peer(on_client: ClientHandler) -> tuple[asyncio.Server, int]:
    """A raw TCP peer on a free loopback port."""
    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def test_associate_timeout_aborts_and_raises() -> None:
    closed = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass  # never answers the A-ASSOCIATE-RQ
        closed.set()
        writer.close()

    server, port = await start_peer(mute)
    async with server:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DicomTimeoutError) as info:
            await aiodicom.connect("127.0.0.1", port, acse_timeout=0.3)
        assert info.value.what == "A-ASSOCIATE response"
        assert 0.25 < loop.time() - started < 3.0
        await asyncio.wait_for(closed.wait(), 5)  # the client dropped the connection


async def test_cancelled_while_associating_drops_the_connection() -> None:
    closed = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        closed.set()
        writer.close()

    server, port = await start_peer(mute)
    async with server:
        opening = asyncio.ensure_future(aiodicom.connect("127.0.0.1", port, acse_timeout=30))
        await asyncio.sleep(0.1)
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        await asyncio.wait_for(closed.wait(), 5)


async def test_release_timeout_aborts_and_raises() -> None:
    """A proxy that swallows the A-RELEASE-RQ (PDU type 0x05): no RP ever comes."""
    async with aiodicom.serve(ServerConfig(), {"worklist": count_handler}) as scp:

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", scp.port)

            async def downstream() -> None:
                while data := await up_reader.read(65536):
                    writer.write(data)

            pump = asyncio.ensure_future(downstream())
            try:
                while header := await reader.readexactly(6):
                    body = await reader.readexactly(struct.unpack(">I", header[2:])[0])
                    if header[0] != 0x05:
                        up_writer.write(header + body)
            except asyncio.IncompleteReadError:
                pass
            finally:
                pump.cancel()
                up_writer.close()
                writer.close()

        server, port = await start_peer(proxy)
        async with server:
            assoc = await aiodicom.connect("127.0.0.1", port, acse_timeout=0.3)
            assert len([ds async for ds in assoc.find(counted(2))]) == 2
            with pytest.raises(DicomTimeoutError) as info:
                await assoc.release()
            assert info.value.what == "A-RELEASE response"
            assert not assoc.is_alive
