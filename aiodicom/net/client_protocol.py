"""Requestor-side asyncio protocol: routes DIMSE responses to outstanding operations.

PS3.7 9.3.2.2 / 9.3.5.2: every response carries Message ID Being Responded To, so each
outstanding operation (one, or up to the asynchronous operations window of PS3.7
D.3.3.3) is found by that id. Association events follow PS3.8 9.2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aiodicom.errors import AssociationAborted, AssociationRejected, DicomTimeoutError
from aiodicom.net.protocol import AssociationProtocol
from aiodicom.proto.dimse import decode_command
from aiodicom.proto.events import (
    Aborted,
    AssociationAccepted,
    ConnectionClosed,
    Event,
    MessageReceived,
    Mode,
    ReleaseCompleted,
    ReleaseRequested,
)
from aiodicom.proto.events import AssociationRejected as RejectedEvent
from aiodicom.proto.messages import DimseCommand
from aiodicom.proto.pdus import AssociateAC, AssociateRQ

if TYPE_CHECKING:
    from aiodicom.net.client_ops import ClientOperation
    from aiodicom.net.options import ClientOptions

Trace = Callable[[str, object], None]
"""``trace(kind, payload)``, called with: ``"A-ASSOCIATE-RQ"`` / ``"A-ASSOCIATE-AC"``
(the PDU value, PS3.8 9.3.2-9.3.3), ``"dimse-out"`` / ``"dimse-in"`` (``(context_id,
command)``, PS3.7 9.3) and ``"bytes-out"`` / ``"bytes-in"`` (raw transport bytes)."""


class _TracedTransport:
    """Passes ``write`` on to the transport after showing the bytes to a :data:`Trace`;
    everything else is the transport's own (only used while tracing)."""

    def __init__(self, transport: asyncio.BaseTransport, trace: Trace) -> None:
        self._transport = transport
        self._trace = trace

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._trace("bytes-out", bytes(data))
        self._transport.write(data)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    """Resolve ``future`` once; an exception nobody awaits is marked retrieved."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
        future.exception()  # mark retrieved: nobody may be waiting any more
    else:
        future.set_result(result)


class ClientProtocol(AssociationProtocol):
    """Requestor-side protocol: routes events to the outstanding operations (PS3.8 9.2)."""

    def __init__(self, rq: AssociateRQ, options: ClientOptions) -> None:
        super().__init__(
            Mode.REQUESTOR,
            max_pdu_length=options.max_pdu_length,
            artim_timeout=options.acse_timeout,
            activity_timeout=options.dimse_timeout,
        )
        self.rq = rq
        self.dimse_timeout = options.dimse_timeout
        self.established: asyncio.Future[AssociateAC] = self.loop.create_future()
        self.released: asyncio.Future[None] = self.loop.create_future()
        self.operations: dict[int, ClientOperation] = {}
        self.failure: BaseException | None = None
        self.starving = 0  # operations whose consumer waits on an empty queue
        self.trace: Trace | None = None  # debugging hook, see :data:`Trace`
        self.bind_log(calling_ae=rq.calling_ae, called_ae=rq.called_ae, role="scu")

    @property
    def operation(self) -> ClientOperation | None:
        """One outstanding operation (the only one when the window is 1), or None."""
        return next(iter(self.operations.values()), None)

    def before_connection_made(self) -> None:
        if self.trace is not None:
            self.trace("A-ASSOCIATE-RQ", self.rq)
        self.association.request(self.rq)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.trace is not None:  # every byte we write, the A-ASSOCIATE-RQ included
            transport = cast(asyncio.BaseTransport, _TracedTransport(transport, self.trace))
        super().connection_made(transport)

    def traced(self, trace: Trace | None) -> None:
        """Set the debugging hook, before the transport exists (uvloop looks up
        ``data_received`` once): only a traced protocol pays for tracing each read."""
        self.trace = trace
        if trace is not None:
            self.data_received = self._traced_data_received  # type: ignore[method-assign]

    def _traced_data_received(self, data: bytes) -> None:
        if self.trace is not None:
            self.trace("bytes-in", data)
        super().data_received(data)

    def dispatch(self, events: list[Event]) -> None:
        for event in events:
            if type(event) is MessageReceived:
                # PS3.7 9.3.2.2: route a response by its Message ID Being Responded To
                command = event.command
                responded_to: int = getattr(command, "message_id_being_responded_to", -1)
                operation = self.operations.get(responded_to)  # none for -1 (a request)
                if self.trace is not None:
                    self.trace("dimse-in", (event.context_id, command))
                if operation is None:
                    self._unmatched(command, None if responded_to < 0 else responded_to)
                else:
                    operation.on_message(command, event.data_set)
            elif isinstance(event, AssociationAccepted):
                if self.debug_enabled:
                    self.log.debug("association accepted")
                if self.trace is not None:
                    self.trace("A-ASSOCIATE-AC", event.ac)
                settle(self.established, result=event.ac)
            elif isinstance(event, RejectedEvent):
                rj = event.rj
                self.fail(AssociationRejected(rj.result, rj.source, rj.reason))
            elif isinstance(event, ReleaseRequested):
                self.association.release_response()
            elif isinstance(event, ReleaseCompleted):
                settle(self.released, result=None)
            elif isinstance(event, Aborted):
                self._on_aborted(event)
            elif isinstance(event, ConnectionClosed):
                self.fail(AssociationAborted("connection closed by the peer"))

    def _unmatched(self, command: DimseCommand, responded_to: int | None) -> None:
        """A DIMSE message that answers no outstanding operation: logged and dropped."""
        self.log.debug(
            "dimse message without a matching operation",
            command=type(command).__name__,
            message_id=responded_to,
        )

    def _on_aborted(self, event: Aborted) -> None:
        if event.error is not None:
            self.log.warning("protocol error from peer; aborted", reason=str(event.error))
            message = f"association aborted: {event.error}"
        elif event.by_peer:
            message = (
                f"association aborted by the peer (source={event.source}, reason={event.reason})"
            )
        else:
            message = "association aborted (A-P-ABORT)"
        self.fail(AssociationAborted(message, source=event.source, reason=event.reason))

    def fail(self, exc: BaseException) -> None:
        """The association is unusable: fail every waiter with ``exc`` and drop the link."""
        if self.failure is None:
            self.failure = exc
        settle(self.established, exc=exc)
        operations = list(self.operations.values())
        self.operations.clear()
        for operation in operations:
            operation.on_failure(exc)
        settle(self.released, exc=exc)
        if self.transport is not None and not self.association.wants_close:
            self.abort()

    def connection_finished(self, exc: Exception | None) -> None:
        if self.failure is None and not self.released.done():
            self.fail(AssociationAborted("connection lost"))
        settle(self.released, exc=self.failure or AssociationAborted("connection lost"))

    def activity_timer_wanted(self) -> bool:
        return bool(self.operations)

    def activity_expired(self) -> None:
        seconds = self.dimse_timeout or 0.0
        self.log.warning("dimse timeout; aborting", seconds=seconds)
        self.fail(DicomTimeoutError("DIMSE response", seconds))

    def start_operation(self, operation: ClientOperation) -> None:
        """Register an operation under its Message ID before its request is sent."""
        self.operations[operation.message_id] = operation
        self.arm_activity_timer()

    def operation_finished(self, operation: ClientOperation) -> None:
        if self.operations.get(operation.message_id) is operation:
            del self.operations[operation.message_id]

    def maybe_pause_reading(self) -> None:
        """A response queue is full: pause the socket unless another consumer starves.

        With several outstanding C-FINDs a consumer waiting on an empty queue must keep
        the socket readable, or it would wait behind another stream's backlog forever.
        """
        if self.starving == 0:
            self.pause_reading()

    def send_command(
        self, context_id: int, command: DimseCommand, data_set: bytes | None = None
    ) -> None:
        """Send one DIMSE message now (PS3.8 9.3.5 P-DATA-TF) and flush it."""
        if self.failure is not None:
            raise self.failure
        if self.trace is not None:
            self.trace("dimse-out", (context_id, command))
        self.association.send_message(context_id, command, data_set)
        self.flush()

    def send_raw(
        self, context_id: int, command_bytes: bytes, data_set: bytes | None, *, now: bool = True
    ) -> None:
        """Like :meth:`send_command` with a pre-encoded command set (a template).

        ``now=False`` flushes at the next loop iteration, so requests issued together in a
        window go out in one write.
        """
        if self.failure is not None:
            raise self.failure
        if self.trace is not None:
            self.trace("dimse-out", (context_id, decode_command(command_bytes)))
        self.association.send_raw_message(context_id, command_bytes, data_set)
        if now:
            self.flush()
        else:
            self.schedule_flush()
