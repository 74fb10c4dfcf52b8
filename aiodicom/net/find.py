"""SCU side of one C-FIND operation: response queue, C-CANCEL and the user-facing streams.

PS3.7 9.1.2: a C-FIND-RQ is answered by Pending responses (each with an identifier) and
one final response. PS3.7 9.3.2.3: C-CANCEL-RQ asks the SCP to stop; the SCP still ends
with a final response (normally 0xFE00 Cancel), which we drain before the association is
used again.

:class:`FindCall` is the internal state the protocol feeds; :class:`FindStream` and
:class:`FindResultStream` are thin facades owned by the user. When a facade is dropped
while its operation is still running (``break`` out of ``async for``), its finalizer
sends the C-CANCEL-RQ at once; the protocol drains the rest in the background.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from pydicom import Dataset

from aiodicom.errors import AiodicomError, DicomTimeoutError, DimseStatusError
from aiodicom.net.types import FindResult
from aiodicom.proto.messages import CCancelRQ, CFindRSP, DimseCommand
from aiodicom.proto.status import (
    CANCEL,
    PENDING,
    SUCCESS,
    StatusCategory,
    category_of,
    describe,
)

if TYPE_CHECKING:
    from aiodicom.net.client import ClientProtocol

QUEUE_HIGH_WATER = 2048
"""Pending responses buffered before the socket stops being read (TCP backpressure)."""
QUEUE_LOW_WATER = 512

_PENDING = StatusCategory.PENDING
_CATEGORIES = {status: category_of(status) for status in (PENDING, SUCCESS, CANCEL)}
"""The usual statuses' categories, looked up without a call (PS3.7 Annex C)."""

T = TypeVar("T")


class FindCall:
    """Internal state of one outstanding C-FIND-RQ on the SCU side."""

    __slots__ = (
        "_cancel_timer",
        "_waiter",
        "cancel_sent",
        "cancel_timeout",
        "comment",
        "context_id",
        "dropped",
        "error",
        "final",
        "finished",
        "loop",
        "message_id",
        "protocol",
        "queue",
        "responses",
        "started",
        "transfer_syntax",
        "warnings",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        context_id: int,
        transfer_syntax: str,
        message_id: int,
        cancel_timeout: float,
    ) -> None:
        self.protocol = protocol
        self.context_id = context_id
        self.transfer_syntax = transfer_syntax
        self.message_id = message_id
        self.cancel_timeout = cancel_timeout
        self.loop = loop = protocol.loop
        self.started = perf_counter()
        self.queue: deque[FindResult] = deque()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.final: FindResult | None = None
        self.comment: str | None = None
        self.error: BaseException | None = None
        self.warnings: list[int] = []
        self.responses = 0  # pending responses received on the wire
        self.dropped = 0  # of those, discarded because of the C-CANCEL
        self.cancel_sent = False
        self._waiter: asyncio.Future[None] | None = None
        self._cancel_timer: asyncio.TimerHandle | None = None

    @property
    def done(self) -> bool:
        """True once the final response arrived or the association failed."""
        return self.finished.done()

    # -- fed by the protocol -----------------------------------------------------------

    def on_message(self, command: DimseCommand, data_set: bytes | None) -> None:
        """A DIMSE message for this operation (PS3.7 9.3.2.2 C-FIND-RSP)."""
        if (
            not isinstance(command, CFindRSP)
            or command.message_id_being_responded_to != self.message_id
        ):
            self.protocol.log.warning(
                "unexpected dimse message during c-find", command=type(command).__name__
            )
            return
        status = command.status
        category = _CATEGORIES.get(status) or category_of(status)
        elapsed = perf_counter() - self.started
        if category is _PENDING:
            self.responses += 1
            if status != PENDING:
                self.warnings.append(status)
            if self.cancel_sent:
                self.dropped += 1
                return
            queue = self.queue
            queue.append(
                FindResult(
                    status,
                    category,
                    data_set,
                    transfer_syntax=self.transfer_syntax,
                    message_id=self.message_id,
                    elapsed=elapsed,
                )
            )
            if len(queue) >= QUEUE_HIGH_WATER:
                self.protocol.maybe_pause_reading()
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        else:
            if category is StatusCategory.WARNING:
                self.warnings.append(status)
            self.comment = command.error_comment
            # a final response never carries an identifier; some SCPs send one with 0xFE00
            self.final = FindResult(
                status,
                category,
                None,
                transfer_syntax=self.transfer_syntax,
                message_id=self.message_id,
                elapsed=elapsed,
            )
            self._finish(None)  # wakes the consumer

    def on_failure(self, exc: BaseException) -> None:
        """The association died (abort, timeout, lost connection)."""
        if not self.done:
            self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        self.error = exc
        if self._cancel_timer is not None:
            self._cancel_timer.cancel()
            self._cancel_timer = None
        if not self.finished.done():
            self.finished.set_result(None)
        protocol = self.protocol
        protocol.operation_finished(self)
        protocol.resume_reading()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the facades --------------------------------------------------------

    async def next_result(self) -> FindResult | None:
        """Next pending result; None when the operation is over (see :attr:`final`)."""
        while not self.queue:
            if self.finished.done():
                self.outcome()
                return None
            waiter = self.arm_waiter()
            try:
                await waiter
            finally:
                self.disarm_waiter()
        return self.pop()

    def pop(self) -> FindResult:
        """Take the oldest queued result (the queue must not be empty)."""
        queue = self.queue
        result = queue.popleft()
        if len(queue) <= QUEUE_LOW_WATER:
            self.protocol.resume_reading()
        return result

    def outcome(self) -> None:
        """For a finished call with an empty queue: raise the failure, if any."""
        if self.error is not None:
            raise self.error

    def arm_waiter(self) -> asyncio.Future[None]:
        """A future done when a result is queued or the operation is over.

        Until :meth:`disarm_waiter` this consumer counts as starving (see
        :meth:`ClientProtocol.maybe_pause_reading`), and the socket is read again.
        """
        self._waiter = waiter = self.loop.create_future()
        protocol = self.protocol
        protocol.starving += 1
        protocol.resume_reading()  # another stream's full queue must not block this one
        return waiter

    def disarm_waiter(self) -> None:
        """The consumer stopped waiting (woken, or cancelled)."""
        self.protocol.starving -= 1
        self._waiter = None

    def cancel(self) -> None:
        """Send C-CANCEL-RQ (PS3.7 9.3.2.3) once; drain the rest in the background.

        Pending responses still arriving are dropped. If no final response arrives within
        ``cancel_timeout`` the association is aborted.
        """
        if self.done or self.cancel_sent:
            return
        self.cancel_sent = True
        self.dropped += len(self.queue)
        self.queue.clear()
        try:
            self.protocol.send_command(self.context_id, CCancelRQ(self.message_id))
        except AiodicomError as exc:
            self._finish(exc)
            return
        self.protocol.resume_reading()
        self._cancel_timer = self.loop.call_later(self.cancel_timeout, self._cancel_expired)

    def _cancel_expired(self) -> None:
        self._cancel_timer = None
        if self.done:
            return
        self.protocol.log.warning(
            "no final response after c-cancel; aborting", seconds=self.cancel_timeout
        )
        error = DicomTimeoutError("C-CANCEL final response", self.cancel_timeout)
        self.protocol.fail(error)

    async def wait_done(self) -> None:
        """Wait for the final response (or failure) without being cancelled by it."""
        await asyncio.shield(self.finished)


class _BaseStream(Generic[T]):
    """Async iterator over one C-FIND; also an async context manager closing it.

    ``__anext__`` takes a result without another coroutine (:meth:`_take`) when one is
    queued or the operation is over; only starting the operation and waiting for a
    response go through :meth:`_next`.
    """

    __slots__ = ("_call", "_closed", "_ended", "_start")

    def __init__(self, start: Callable[[], FindCall | Awaitable[FindCall]]) -> None:
        self._start = start
        self._call: FindCall | None = None
        self._closed = False
        self._ended = False

    def __aiter__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _take(self, call: FindCall) -> FindResult | None:
        """The oldest queued result; None once the stream or operation is over (the
        operation's failure is raised then). The queue is non-empty or the call done."""
        if self._closed or self._ended:
            return None
        if call.queue:
            return call.pop()
        call.outcome()
        return None

    async def _next(self) -> FindResult | None:
        """Start the operation if needed, then wait for a result or its end."""
        if self._closed or self._ended:
            return None
        call = self._call
        if call is None:
            started = self._start()  # a FindCall when it could start without waiting
            call = started if isinstance(started, FindCall) else await started
            self._call = call
        while not call.queue and not call.finished.done():
            waiter = call.arm_waiter()
            try:
                await waiter
            except asyncio.CancelledError:
                call.cancel()
                raise
            finally:
                call.disarm_waiter()
        return self._take(call)

    async def aclose(self) -> None:
        """Cancel the operation if it is still running and wait for its final response."""
        self._closed = True
        call = self._call
        if call is None or call.done:
            return
        call.cancel()
        await call.wait_done()
        if call.error is not None:
            raise call.error

    def cancel(self) -> None:
        """Send C-CANCEL-RQ now without waiting (the association drains in background)."""
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    def __del__(self) -> None:
        call = self._call
        if call is not None and not call.finished.done() and not call.loop.is_closed():
            try:
                call.cancel()
            except Exception:  # a finalizer must never raise
                return

    @property
    def status(self) -> int | None:
        """The final status, None until the operation is over."""
        final = None if self._call is None else self._call.final
        return None if final is None else final.status

    @property
    def warnings(self) -> list[int]:
        """Warning statuses seen (pending 0xFF01 and a final warning status)."""
        return [] if self._call is None else list(self._call.warnings)

    @property
    def responses(self) -> int:
        """Pending responses handed to the caller so far (see :attr:`dropped`)."""
        call = self._call
        return 0 if call is None else call.responses - call.dropped - len(call.queue)

    @property
    def dropped(self) -> int:
        """Pending responses discarded because of the C-CANCEL-RQ: those still queued when
        it was sent and those the peer sent afterwards (PS3.7 9.3.2.3)."""
        return 0 if self._call is None else self._call.dropped

    @property
    def error_comment(self) -> str | None:
        """Error Comment (0000,0902) of the final response, if any."""
        return None if self._call is None else self._call.comment

    @property
    def cancelled(self) -> bool:
        """True when this stream sent a C-CANCEL-RQ."""
        return self._call is not None and self._call.cancel_sent


class FindStream(_BaseStream[Dataset]):
    """Async iterator of matching identifiers (pydicom Datasets) of one C-FIND.

    A final failure status raises :class:`DimseStatusError` carrying the status after the
    last match; warnings are visible in :attr:`warnings` and :attr:`status`.
    """

    __slots__ = ()

    async def __anext__(self) -> Dataset:
        while True:
            call = self._call
            if call is not None and (call.queue or call.finished.done()):
                result = self._take(call)
            else:
                result = await self._next()
            if result is None:
                self._end()
                raise StopAsyncIteration
            identifier = result.identifier
            if identifier is not None:
                return identifier

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        call = self._call
        if call is None or call.final is None or call.cancel_sent:
            return
        if call.final.category is StatusCategory.FAILURE:
            status = call.final.status
            raise DimseStatusError(
                status, f"C-FIND failed: {describe(status)}", comment=call.comment
            )


class FindResultStream(_BaseStream[FindResult]):
    """Async iterator of every C-FIND-RSP as :class:`FindResult`, the final one included.

    Failure statuses are not raised: inspect ``result.category``.
    """

    __slots__ = ()

    async def __anext__(self) -> FindResult:
        call = self._call
        if call is not None and (call.queue or call.finished.done()):
            result = self._take(call)
        else:
            result = await self._next()
        if result is not None:
            return result
        call = self._call
        if self._ended or self._closed or call is None or call.final is None:
            raise StopAsyncIteration
        self._ended = True
        return call.final
