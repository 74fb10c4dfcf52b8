"""C-FIND observers (:mod:`aiodicom.net.observe`) see what the wire saw, once per query.

The server runs an :func:`observed` handler's inner handler itself and reports each
C-FIND's end; called directly, the same handler reports from its own stream. Both must
agree for success, refusal (QueryError, PS3.4 C.4.1.1.4), handler errors (0xC000) and
cancel (0xFE00, PS3.7 9.3.2.3); the web query log and the ops audit line / metrics are
built from these reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import nullcontext, suppress
from typing import Any

import pytest
import structlog
from pydicom import Dataset
from structlog.testing import capture_logs

import aiodicom
from aiodicom import DimseStatusError, FindRequest, QueryError, ServerConfig
from aiodicom.errors import DataError
from aiodicom.log import configure
from aiodicom.net.observe import FindEnd, FindRoute, observed
from aiodicom.net.server import Server
from aiodicom.net.types import HandlerTraits, declare_traits, handler_traits
from aiodicom.ops.audit import AuditLog
from aiodicom.ops.metrics import Metrics
from aiodicom.ops.server import OpsHooks, OpsServer
from aiodicom.proto.status import CANCEL, SUCCESS, UNABLE_TO_PROCESS
from aiodicom.webapi.querylog import QueryLog
from tests.net.helpers import Recorder, counting_handler, identifier, query

WORKLIST = aiodicom.QueryModel.WORKLIST.sop_class_uid


def _handler(kind: str) -> Any:
    """A handler yielding 3 matches, then ending as ``kind`` says."""

    async def handler(request: FindRequest) -> AsyncIterator[Dataset]:
        for index in range(3):
            yield identifier(index)
        if kind == "refused":
            raise QueryError(0xA900, comment="no such key")
        if kind == "error":
            raise RuntimeError("boom")
        if kind == "data":
            raise DataError("PatientName", "bad value")

    return handler


def _summary(end: FindEnd) -> tuple[object, ...]:
    return (end.matches, end.status, end.comment, end.outcome, type(end.error).__name__)


async def _standalone(kind: str) -> FindEnd:
    ends: list[FindEnd] = []
    handler = observed(_handler(kind), ends.append)
    request = FindRequest(
        identifier=query(), identifier_bytes=b"", transfer_syntax="1.2.840.10008.1.2.1",
        sop_class_uid=WORKLIST, model=aiodicom.QueryModel.WORKLIST, message_id=1,
        priority=0, calling_ae="SCU", called_ae="SCP", peer=("127.0.0.1", 1),
        association_id="x",
    )  # fmt: skip
    with pytest.raises((QueryError, RuntimeError, DataError)):
        async for _ in handler(request):
            pass
    return ends[0]


def _traits(handler: Any, eager: bool) -> Any:
    return declare_traits(handler, HandlerTraits(eager=True)) if eager else handler


async def _served(kind: str, eager: bool) -> tuple[FindEnd, int]:
    ends: list[FindEnd] = []
    handler = observed(_traits(_handler(kind), eager), ends.append)
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        stream = assoc.find(query())
        with pytest.raises(DimseStatusError) if kind != "success" else nullcontext():
            async for _ in stream:
                pass
        assert await assoc.echo() == SUCCESS
    (end,) = ends
    assert end.request.calling_ae and end.seconds >= 0
    status = stream.status
    assert status is not None
    return end, status


@pytest.mark.parametrize("eager", [False, True])
@pytest.mark.parametrize("kind", ["success", "refused", "error", "data"])
async def test_server_and_standalone_reports_agree_with_the_wire(kind: str, eager: bool) -> None:
    served, wire_status = await _served(kind, eager)
    assert served.status == wire_status  # the report is what the SCU received
    assert served.matches == 3
    if kind == "success":
        assert _summary(served) == (3, SUCCESS, None, "success", "NoneType")
        return
    alone = await _standalone(kind)
    assert _summary(alone) == _summary(served)
    expected = {"refused": 0xA900, "error": UNABLE_TO_PROCESS, "data": UNABLE_TO_PROCESS}
    assert served.status == expected[kind]


@pytest.mark.parametrize("eager", [False, True])
async def test_cancel_is_reported_as_fe00_by_server_and_standalone(eager: bool) -> None:
    ends: list[FindEnd] = []
    recorder = Recorder()
    inner = _traits(counting_handler(100_000, recorder, delay=0.0005), eager)
    handler = observed(inner, ends.append)
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        async with assoc.find_responses(query()) as stream:
            async for _ in stream:
                break
        assert stream.status == CANCEL
        assert await assoc.echo() == SUCCESS
    (served,) = ends
    assert (served.status, served.outcome, served.error) == (CANCEL, "cancelled", None)
    assert served.matches >= 1
    # standalone: the server closes the generator after marking the request cancelled
    generator = handler(recorder.requests[0])
    assert isinstance(generator, AsyncGenerator)
    await anext(generator)
    await generator.aclose()
    assert (ends[-1].status, ends[-1].outcome, ends[-1].matches) == (CANCEL, "cancelled", 1)


async def test_a_failing_observer_changes_nothing_on_the_wire() -> None:
    seen: list[FindEnd] = []

    def broken(end: FindEnd) -> None:
        raise RuntimeError("observer bug")

    handler = observed(observed(counting_handler(2, Recorder()), broken), seen.append)
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port) as assoc,
    ):
        found = [ds async for ds in assoc.find(query())]
        assert len(found) == 2
    assert [end.status for end in seen] == [SUCCESS]  # the next observer still heard


def test_route_unwraps_observed_layers_innermost_first_and_keeps_traits() -> None:
    async def inner(request: FindRequest) -> AsyncIterator[Dataset]:
        yield Dataset()

    eager = declare_traits(inner, HandlerTraits(eager=True))
    first: list[FindEnd] = []
    second: list[FindEnd] = []
    outer = observed(observed(eager, first.append), second.append)
    assert handler_traits(outer).eager
    route = FindRoute.of(outer)
    assert route.handler is inner and route.traits.eager and route.source is outer
    assert route.observers == (first.append, second.append)
    plain = FindRoute.of(counting_handler(1, Recorder()))
    assert plain.observers == () and not plain.traits.eager


def test_server_route_follows_a_replaced_handler() -> None:
    first, second = counting_handler(1, Recorder()), counting_handler(2, Recorder())
    server = Server(ServerConfig(), {"worklist": first})
    route = server.route(WORKLIST)
    assert route is not None and route.handler is first
    assert server.route(WORKLIST) is route  # worked out once
    server.handlers[WORKLIST] = second
    replaced = server.route(WORKLIST)
    assert replaced is not None and replaced.handler is second
    assert server.route("1.2.3") is None


@pytest.fixture
def info_logging() -> Iterator[None]:
    saved = structlog.get_config()
    configure("console", "info")
    try:
        yield
    finally:
        structlog.configure(**saved)


async def test_ops_audit_metrics_and_query_log_for_each_outcome(info_logging: None) -> None:
    """One audit line, one metrics sample and one query log entry per C-FIND."""
    log = QueryLog(10)
    outcomes = iter(["success", "refused", "error"])

    async def handler(request: FindRequest) -> AsyncIterator[Dataset]:
        async for item in _handler(next(outcomes))(request):
            yield item

    metrics = Metrics()
    handlers = {"worklist": observed(handler, log.record)}
    with capture_logs() as logs:
        server = OpsServer(ServerConfig(), handlers, OpsHooks(audit=AuditLog(), metrics=metrics))
        await server.start()
        try:
            async with aiodicom.connect("127.0.0.1", server.port) as assoc:
                for _ in range(3):
                    with suppress(DimseStatusError):
                        async for _ in assoc.find(query()):
                            pass
        finally:
            await server.shutdown(2.0)
    lines = [e for e in logs if e.get("event") == "audit.query"]
    summary = [(e["matches"], e["status"], e["outcome"]) for e in lines]
    assert summary == [
        (3, "0x0000", "success"),
        (3, "0xA900", "refused"),
        (3, "0xC000", "handler-error"),
    ]
    (association,) = [e for e in logs if e.get("event") == "audit.association"]
    assert association["queries"] == 3 and association["outcome"] == "released"
    entries = [(e.matches, e.status, e.comment) for e in reversed(log.latest())]
    assert entries == [(3, SUCCESS, None), (3, 0xA900, "no such key"), (3, 0xC000, "boom")]
    assert all(e.ms >= 0 for e in log.latest())
    assert 'status="0xA900"' in metrics.render()


async def test_interrupted_query_is_reported_without_a_final_status() -> None:
    ends: list[FindEnd] = []
    recorder = Recorder()
    handler = observed(counting_handler(100_000, recorder, delay=0.001), ends.append)
    async with aiodicom.serve(ServerConfig(), {"worklist": handler}) as server:
        async with aiodicom.connect("127.0.0.1", server.port) as assoc:
            stream = assoc.find_responses(query())
            await anext(stream)
            await assoc.abort()
        for _ in range(200):
            if ends:
                break
            await asyncio.sleep(0.01)
    (end,) = ends
    assert (end.status, end.outcome) == (None, "interrupted")
    log = QueryLog()
    log.record(end)
    assert log.latest()[0].status == CANCEL  # the query log calls it a cancel, as before
