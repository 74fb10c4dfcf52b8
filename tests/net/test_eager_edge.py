"""The eager C-FIND path behaves exactly like the task path.

Every test of :mod:`tests.net.test_find`, ``test_robustness``, ``test_timeouts`` and
``test_window`` runs again here
with every handler declared ``eager`` (``HandlerTraits``): the server then steps the
C-FIND coroutine inside ``data_received`` and hands it to a task only when it suspends
(BATCH yield points, drain, handler awaits), so C-CANCEL, handler errors, aclose and
flow control must come out the same. Handlers that need a task (``asyncio.timeout``)
are not eager: the default traits keep them on the task path.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom.net.eager import resume
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.types import (
    PLAIN_HANDLER,
    FindHandler,
    FindRequest,
    HandlerTraits,
    declare_traits,
    handler_traits,
)
from aiodicom.proto.negotiation import QueryModel
from tests.net.helpers import Recorder, Serve, counting_handler
from tests.net.test_find import *  # noqa: F403  (re-run on the eager path)
from tests.net.test_robustness import *  # noqa: F403
from tests.net.test_timeouts import *  # noqa: F403
from tests.net.test_window import *  # noqa: F403

EAGER = HandlerTraits(eager=True)


@pytest.fixture
def serve() -> Serve:
    """:func:`aiodicom.serve` with every handler declared eager (``declare_traits``, the
    public seam), for the re-run tests: no production module is patched."""

    def serve_eager(
        config: ServerConfig, handlers: Mapping[str, FindHandler], *args: Any, **kwargs: Any
    ) -> AbstractAsyncContextManager[Server]:
        eager = {uid: _eager(handler) for uid, handler in handlers.items()}
        return aiodicom.serve(config, eager, *args, **kwargs)

    return serve_eager


def _eager(handler: FindHandler) -> FindHandler:
    """``handler`` declared eager, through a new callable (the one given stays as it
    is, for the task-path run of the same test)."""
    return declare_traits(functools.partial(handler), EAGER)


async def test_the_rerun_tests_get_eager_handlers(serve: Serve) -> None:
    recorder = Recorder()
    handler = counting_handler(1, recorder)
    async with serve(ServerConfig(), {"worklist": handler}) as server:
        route = server.route(QueryModel.WORKLIST.sop_class_uid)
        assert route is not None and route.traits.eager
    assert not handler_traits(handler).eager


def test_traits_default_mark_and_bound_methods() -> None:
    async def plain(request: FindRequest) -> AsyncIterator[Dataset]:
        yield Dataset()

    class Service:
        async def find(self, request: FindRequest) -> AsyncIterator[Dataset]:
            yield Dataset()

    assert handler_traits(plain) is PLAIN_HANDLER
    assert handler_traits(declare_traits(plain, EAGER)) is EAGER
    bound: FindHandler = Service().find
    marked = declare_traits(bound, EAGER)
    assert handler_traits(marked) is EAGER
    assert handler_traits(Service().find) is PLAIN_HANDLER  # the class is not marked


async def test_resumption_passes_values_exceptions_and_results() -> None:
    """A coroutine stepped by hand, then finished by a task, sees what a task gives it."""
    loop = asyncio.get_running_loop()
    seen: list[object] = []

    async def body() -> None:
        first: asyncio.Future[int] = loop.create_future()
        loop.call_soon(first.set_result, 7)
        seen.append(await first)
        await asyncio.sleep(0)
        failing: asyncio.Future[int] = loop.create_future()
        loop.call_soon(failing.set_exception, ValueError("boom"))
        try:
            await failing
        except ValueError as exc:
            seen.append(str(exc))
        seen.append(asyncio.current_task() is not None)

    coro = body()
    awaited = coro.send(None)
    await loop.create_task(resume(coro, awaited))
    assert seen == [7, "boom", True]


@pytest.mark.parametrize("started", [True, False], ids=["after-first-step", "before-it"])
async def test_resumed_task_cancellation_reaches_the_coroutine(started: bool) -> None:
    """Also when cancelled before its first step (our abort in the same read): the task
    throws the CancelledError into the suspended coroutine instead of leaving it there."""
    loop = asyncio.get_running_loop()
    cleaned: list[str] = []

    async def body() -> None:
        try:
            await loop.create_future()
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise

    coro = body()
    task = loop.create_task(resume(coro, coro.send(None)))
    if started:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cancelled"]


async def test_resumption_can_be_awaited_inside_another_coroutine() -> None:
    loop = asyncio.get_running_loop()
    seen: list[int] = []

    async def body() -> None:
        future: asyncio.Future[int] = loop.create_future()
        loop.call_soon(future.set_result, 5)
        seen.append(await future)
        try:
            await loop.create_future()
        except asyncio.CancelledError:
            seen.append(-1)
            raise

    async def outer() -> None:
        coro = body()
        await resume(coro, coro.send(None))  # through Resumption.__await__

    awaiting = asyncio.ensure_future(outer())
    await asyncio.sleep(0.01)
    awaiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await awaiting
    assert seen == [5, -1]


def test_worklist_handler_stays_eager_through_the_query_log() -> None:
    from aiodicom.webapi.querylog import QueryLog, logged_handlers
    from aiodicom.worklist.service import WorklistService

    service = WorklistService.__new__(WorklistService)  # no store needed to wire handlers
    wrapped = logged_handlers(service, QueryLog())
    assert all(handler_traits(handler).eager for handler in wrapped.values())
