"""The SCU side: :func:`connect` and :class:`ClientAssociation` (C-ECHO, C-FIND, C-CANCEL).

Association establishment, release and abort follow PS3.8 7.1-7.4; C-ECHO PS3.7 9.1.5;
C-FIND and C-CANCEL PS3.7 9.1.2 and PS3.4 C.4.1 / K.4.1. Operations on one association
run one at a time (asynchronous operations window 1,1, PS3.7 D.3.3.3).
"""

from __future__ import annotations

import asyncio
import itertools
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from pydicom import Dataset

from aiodicom.codec import encode_identifier
from aiodicom.errors import (
    AiodicomError,
    AssociationAborted,
    AssociationRejected,
    DicomTimeoutError,
    NegotiationError,
)
from aiodicom.net.find import FindCall, FindResultStream, FindStream
from aiodicom.net.options import ClientOptions, build_request
from aiodicom.net.protocol import AssociationProtocol
from aiodicom.proto.events import (
    Aborted,
    AcceptedContext,
    AssociationAccepted,
    ConnectionClosed,
    Event,
    MessageReceived,
    Mode,
    ReleaseCompleted,
    ReleaseRequested,
)
from aiodicom.proto.events import AssociationRejected as RejectedEvent
from aiodicom.proto.messages import VERIFICATION_SOP_CLASS, CEchoRQ, CEchoRSP, CFindRQ, DimseCommand
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.pdus import AssociateAC, AssociateRQ, UserIdentityRQ


class _EchoCall:
    """Internal state of one C-ECHO-RQ (PS3.7 9.1.5)."""

    def __init__(self, protocol: ClientProtocol, message_id: int) -> None:
        self.protocol = protocol
        self.message_id = message_id
        self.finished: asyncio.Future[int] = protocol.loop.create_future()

    @property
    def done(self) -> bool:
        return self.finished.done()

    def on_message(self, command: DimseCommand, data_set: bytes | None) -> None:
        if (
            isinstance(command, CEchoRSP)
            and command.message_id_being_responded_to == self.message_id
            and not self.done
        ):
            self.finished.set_result(command.status)
            self.protocol.operation_finished(self)
        else:
            self.protocol.log.warning("unexpected dimse message during c-echo")

    def on_failure(self, exc: BaseException) -> None:
        if not self.done:
            self.finished.set_exception(exc)

    def cancel(self) -> None:
        """A C-ECHO cannot be cancelled; the next operation just waits for it."""

    async def wait_done(self) -> None:
        await asyncio.wait([self.finished])


Operation = FindCall | _EchoCall
OpT = TypeVar("OpT", FindCall, _EchoCall)


class ClientProtocol(AssociationProtocol):
    """Requestor-side protocol: routes events to the open operation (PS3.8 9.2)."""

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
        self.operation: Operation | None = None
        self.failure: BaseException | None = None
        self.bind_log(calling_ae=rq.calling_ae, called_ae=rq.called_ae, role="scu")

    def before_connection_made(self) -> None:
        self.association.request(self.rq)

    def dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MessageReceived):
                self._on_message(event)
            elif isinstance(event, AssociationAccepted):
                self.log.debug("association accepted")
                _settle(self.established, result=event.ac)
            elif isinstance(event, RejectedEvent):
                rj = event.rj
                self.fail(AssociationRejected(rj.result, rj.source, rj.reason))
            elif isinstance(event, ReleaseRequested):
                self.association.release_response()
            elif isinstance(event, ReleaseCompleted):
                _settle(self.released, result=None)
            elif isinstance(event, Aborted):
                self._on_aborted(event)
            elif isinstance(event, ConnectionClosed):
                self.fail(AssociationAborted("connection closed by the peer"))

    def _on_message(self, event: MessageReceived) -> None:
        self.last_activity = self.loop.time()
        operation = self.operation
        if operation is None:
            self.log.debug(
                "dimse message without an open operation", command=type(event.command).__name__
            )
            return
        operation.on_message(event.command, event.data_set)

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
        _settle(self.established, exc=exc)
        if self.operation is not None:
            operation, self.operation = self.operation, None
            operation.on_failure(exc)
        _settle(self.released, exc=exc)
        if self.transport is not None and not self.association.wants_close:
            self.abort()

    def connection_finished(self, exc: Exception | None) -> None:
        if self.failure is None and not self.released.done():
            self.fail(AssociationAborted("connection lost"))
        _settle(self.released, exc=self.failure or AssociationAborted("connection lost"))

    def activity_timer_wanted(self) -> bool:
        return self.operation is not None

    def activity_expired(self) -> None:
        seconds = self.dimse_timeout or 0.0
        self.log.warning("dimse timeout; aborting", seconds=seconds)
        self.fail(DicomTimeoutError("DIMSE response", seconds))

    def start_operation(self, operation: Operation) -> None:
        self.operation = operation
        self.arm_activity_timer()

    def operation_finished(self, operation: Operation) -> None:
        if self.operation is operation:
            self.operation = None

    def send_command(
        self, context_id: int, command: DimseCommand, data_set: bytes | None = None
    ) -> None:
        """Send one DIMSE message now (PS3.8 9.3.5 P-DATA-TF) and flush it."""
        if self.failure is not None:
            raise self.failure
        self.association.send_message(context_id, command, data_set)
        self.flush()


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
        future.exception()  # mark retrieved: nobody may be waiting any more
    else:
        future.set_result(result)


class ClientAssociation:
    """An established association, as SCU. Use :func:`connect` to get one."""

    def __init__(self, protocol: ClientProtocol, ac: AssociateAC, options: ClientOptions) -> None:
        self._protocol = protocol
        self.accepted = ac
        self.options = options
        self.contexts: dict[int, AcceptedContext] = dict(protocol.association.contexts)
        self._by_uid: dict[str, AcceptedContext] = {}
        for context in self.contexts.values():
            self._by_uid.setdefault(context.abstract_syntax, context)
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._current: Operation | None = None
        self._released = False

    @property
    def association_id(self) -> str:
        return self._protocol.association_id

    @property
    def peer_max_pdu_length(self) -> int:
        return self._protocol.association.peer_max_pdu_length

    @property
    def is_alive(self) -> bool:
        """True while the association can carry operations."""
        return self._protocol.failure is None and not self._released

    def _next_message_id(self) -> int:
        """PS3.7 9.1.1.1.1 / E.1-1: Message ID is a US value (1..65535, wrapping)."""
        return (next(self._ids) - 1) % 0xFFFF + 1

    def _context_for(self, sop_class_uid: str, what: str) -> AcceptedContext:
        context = self._by_uid.get(sop_class_uid)
        if context is None:
            raise NegotiationError(
                f"{what} ({sop_class_uid}) was not accepted by the peer on this association"
            )
        return context

    async def _begin(self, make: Callable[[], OpT]) -> OpT:
        """Wait for (or cancel) the previous operation, then start a new one."""
        async with self._lock:
            previous = self._current
            if previous is not None and not previous.done:
                previous.cancel()
                await previous.wait_done()
            if self._protocol.failure is not None:
                raise self._protocol.failure
            if self._released:
                raise AssociationAborted("association already released")
            operation = make()
            self._current = operation
            return operation

    async def echo(self) -> int:
        """C-ECHO (PS3.7 9.1.5): return the response status (0x0000 on success)."""
        context = self._context_for(VERIFICATION_SOP_CLASS, "Verification")

        def make() -> _EchoCall:
            call = _EchoCall(self._protocol, self._next_message_id())
            self._protocol.start_operation(call)
            self._protocol.send_command(context.context_id, CEchoRQ(call.message_id))
            return call

        call: _EchoCall = await self._begin(make)
        return await call.finished

    def _find_starter(
        self, query: Dataset, model: QueryModel | str, priority: int
    ) -> Callable[[], Awaitable[FindCall]]:
        query_model = QueryModel.parse(model)
        context = self._context_for(
            query_model.sop_class_uid, f"C-FIND model {query_model.value!r}"
        )
        data = encode_identifier(query, context.transfer_syntax)

        def make() -> FindCall:
            message_id = self._next_message_id()
            call = FindCall(
                self._protocol,
                context.context_id,
                context.transfer_syntax,
                message_id,
                self.options.cancel_timeout,
            )
            self._protocol.start_operation(call)
            command = CFindRQ(message_id, query_model.sop_class_uid, priority)
            self._protocol.send_command(context.context_id, command, data)
            return call

        async def start() -> FindCall:
            call: FindCall = await self._begin(make)
            return call

        return start

    def find(
        self, query: Dataset, model: QueryModel | str = "worklist", *, priority: int = 0
    ) -> FindStream:
        """C-FIND (PS3.4 C.4.1 / K.4.1): an async iterator of matching identifiers.

        The request is sent on the first iteration. Leaving early (``break``, ``aclose()``,
        ``async with`` exit, task cancellation) sends C-CANCEL-RQ (PS3.7 9.3.2.3).
        """
        return FindStream(self._find_starter(query, model, priority))

    def find_responses(
        self, query: Dataset, model: QueryModel | str = "worklist", *, priority: int = 0
    ) -> FindResultStream:
        """Like :meth:`find`, but yields every response as a typed :class:`FindResult`."""
        return FindResultStream(self._find_starter(query, model, priority))

    async def release(self) -> None:
        """A-RELEASE (PS3.8 7.2): finish or cancel the open operation, then release."""
        if self._released or self._protocol.failure is not None:
            return
        async with self._lock:
            current = self._current
            if current is not None and not current.done:
                current.cancel()
                await current.wait_done()
            if self._protocol.failure is not None or self._released:
                return
            self._released = True
            protocol = self._protocol
            protocol.association.release()
            protocol.flush()
            timeout = self.options.acse_timeout
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(protocol.released)
                    await asyncio.shield(protocol.closed)
            except TimeoutError:
                protocol.abort()
                raise DicomTimeoutError("A-RELEASE response", timeout) from None

    async def abort(self) -> None:
        """A-ABORT (PS3.8 7.3): drop the association at once."""
        self._released = True
        protocol = self._protocol
        if protocol.transport is not None:
            protocol.fail(AssociationAborted("association aborted by the local user"))
        await asyncio.wait([protocol.closed], timeout=5.0)

    async def __aenter__(self) -> ClientAssociation:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            await self.abort()  # cancelled / KeyboardInterrupt: do not wait on the peer
            return
        try:
            await self.release()
        except AiodicomError:
            await self.abort()
            if exc_type is None:
                raise


class Connector:
    """Returned by :func:`connect`: ``async with`` it, or ``await`` it."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self._association: ClientAssociation | None = None

    def __await__(self) -> Generator[Any, None, ClientAssociation]:
        return self._open().__await__()

    async def __aenter__(self) -> ClientAssociation:
        self._association = await self._open()
        return self._association

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._association is not None:
            await self._association.__aexit__(exc_type, exc, tb)

    async def _open(self) -> ClientAssociation:
        options = self.options
        loop = asyncio.get_running_loop()
        rq = build_request(options)
        try:
            async with asyncio.timeout(options.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: ClientProtocol(rq, options), options.host, options.port, ssl=options.ssl
                )
        except TimeoutError:
            raise DicomTimeoutError("connect", options.connect_timeout) from None
        except OSError as exc:
            raise AssociationAborted(
                f"cannot connect to {options.host}:{options.port}: {exc}"
            ) from exc
        try:
            async with asyncio.timeout(options.acse_timeout):
                ac = await asyncio.shield(protocol.established)
        except TimeoutError:
            protocol.abort()
            raise DicomTimeoutError("A-ASSOCIATE response", options.acse_timeout) from None
        protocol.log.debug("association established")
        return ClientAssociation(protocol, ac, options)


def connect(
    host: str,
    port: int,
    *,
    calling_ae: str = "AIODICOM",
    called_ae: str = "ANY-SCP",
    models: Sequence[QueryModel | str] = tuple(QueryModel),
    transfer_syntaxes: Sequence[str] | None = None,
    max_pdu_length: int = 16384,
    connect_timeout: float = 30.0,
    acse_timeout: float = 30.0,
    dimse_timeout: float | None = None,
    cancel_timeout: float = 10.0,
    ssl: ssl_module.SSLContext | None = None,
    async_ops_window: tuple[int, int] | None = None,
    user_identity: UserIdentityRQ | tuple[str, str] | str | None = None,
    extended_negotiation: Mapping[QueryModel | str, bytes] | None = None,
) -> Connector:
    """Open an association to ``host:port`` (PS3.8 7.1) as an async context manager.

    ``models`` are the C-FIND information models proposed (plus Verification);
    ``transfer_syntaxes`` defaults to Explicit then Implicit VR Little Endian.
    ``connect_timeout`` bounds TCP (and TLS) connection, ``acse_timeout`` the A-ASSOCIATE
    and A-RELEASE answers, ``dimse_timeout`` the silence while a response is awaited,
    ``cancel_timeout`` the drain after C-CANCEL-RQ. ``user_identity`` is a username, a
    (username, passcode) pair or a ready :class:`UserIdentityRQ` (PS3.7 D.3.3.7).
    Exiting the ``async with`` releases the association (aborts if that fails).
    """
    return Connector(
        ClientOptions(
            host=host,
            port=port,
            calling_ae=calling_ae,
            called_ae=called_ae,
            models=models,
            transfer_syntaxes=transfer_syntaxes,
            max_pdu_length=max_pdu_length,
            connect_timeout=connect_timeout,
            acse_timeout=acse_timeout,
            dimse_timeout=dimse_timeout,
            cancel_timeout=cancel_timeout,
            ssl=ssl,
            async_ops_window=async_ops_window,
            user_identity=user_identity,
            extended_negotiation=extended_negotiation,
        )
    )
