"""The SCU side: :func:`connect` and :class:`ClientAssociation` (C-ECHO, C-FIND, C-CANCEL;
C-STORE in :mod:`aiodicom.net.store_scu`; N-CREATE and N-SET in :mod:`aiodicom.net.client_n`).

Association establishment, release and abort follow PS3.8 7.1-7.4; C-ECHO PS3.7 9.1.5;
C-FIND and C-CANCEL PS3.7 9.1.2 and PS3.4 C.4.1 / K.4.1.

Asynchronous operations window (PS3.7 D.3.3.3, PS3.7 A.4): when ``async_ops_window`` was
proposed and the acceptor answered with a Maximum-number-operations-invoked above one,
up to that many operations are outstanding at once; responses are routed by Message ID
Being Responded To (PS3.7 9.3.2.2) and a further operation waits for a free slot.
Otherwise (no window item in the A-ASSOCIATE-AC: the default 1,1) operations run one at
a time and a new operation first cancels an unfinished C-FIND.

Per-request cost: a C-FIND on an idle synchronous association starts synchronously (no
lock round trip), from a cached context + command template and the caller's pre-encoded
identifier (:class:`EncodedQuery`) when given.
"""

from __future__ import annotations

import asyncio
import functools
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from pydicom import Dataset

from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import (
    AiodicomError,
    AssociationAborted,
    ConnectFailed,
    DicomTimeoutError,
    NegotiationError,
)
from aiodicom.net.client_n import NServices
from aiodicom.net.client_ops import ClientOperation, EchoCall
from aiodicom.net.client_protocol import ClientProtocol, Trace
from aiodicom.net.find import FindCall, FindResultStream, FindStream
from aiodicom.net.options import ClientOptions, cached_request, negotiated_window
from aiodicom.net.query import EncodedQuery, FindRQTemplate, find_rq_template
from aiodicom.net.store_scu import Instance, c_store
from aiodicom.net.transport import Opener
from aiodicom.proto.events import AcceptedContext
from aiodicom.proto.messages import VERIFICATION_SOP_CLASS, CEchoRQ
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.pdus import AssociateAC, UserIdentityRQ

__all__ = ["ClientAssociation", "ClientProtocol", "Connector", "connect", "negotiated_window"]

OpT = TypeVar("OpT", bound=ClientOperation)


@dataclass(frozen=True, slots=True)
class _FindPlan:
    """The accepted context and the C-FIND-RQ template of one (model, priority)."""

    context: AcceptedContext
    template: FindRQTemplate


def _expire(protocol: ClientProtocol, error: DicomTimeoutError) -> None:
    """An ACSE timer ran out (PS3.8 7.1, 7.2): fail the waiters with ``error`` and
    A-ABORT; a transport whose close was already asked but never came is dropped hard."""
    lingering = protocol.association.wants_close
    protocol.fail(error)
    if lingering and protocol.transport is not None:
        protocol.transport.abort()


class ClientAssociation(NServices):
    """An established association, as SCU. Use :func:`connect` to get one.

    C-ECHO, C-FIND (here) and N-CREATE, N-SET (:class:`~aiodicom.net.client_n.NServices`).
    """

    def __init__(self, protocol: ClientProtocol, ac: AssociateAC, options: ClientOptions) -> None:
        self._protocol = protocol
        self.accepted = ac
        self.options = options
        self.contexts: dict[int, AcceptedContext] = dict(protocol.association.contexts)
        self._by_uid: dict[str, AcceptedContext] = {}
        for context in self.contexts.values():
            self._by_uid.setdefault(context.abstract_syntax, context)
        self._last_message_id = 0
        self._lock = asyncio.Lock()
        self._busy = 0  # tasks holding or waiting for ``_lock``
        self._current: ClientOperation | None = None
        self._owner: asyncio.Task[Any] | None = None
        self._released = False
        self._closing = False
        self.window = negotiated_window(options.async_ops_window, ac)
        self._slots = asyncio.Semaphore(self.window) if self.window > 1 else None
        self._plans: dict[tuple[str, int], _FindPlan] = {}

    @property
    def association_id(self) -> str:
        return self._protocol.association_id

    @property
    def peer_max_pdu_length(self) -> int:
        return self._protocol.association.peer_max_pdu_length

    @property
    def is_alive(self) -> bool:
        """True while the association can carry operations."""
        return self._protocol.failure is None and not self._released and not self._closing

    @property
    def outstanding(self) -> int:
        """Operations sent and not yet answered with a final response."""
        return len(self._protocol.operations)

    def _next_message_id(self) -> int:
        """PS3.7 9.1.1.1.1 / E.1-1: Message ID is a US value (1..65535, wrapping), unique
        among the outstanding operations."""
        operations = self._protocol.operations
        message_id = self._last_message_id % 0xFFFF + 1
        while message_id in operations:
            message_id = message_id % 0xFFFF + 1
        self._last_message_id = message_id
        return message_id

    def _context_for(self, sop_class_uid: str, what: str) -> AcceptedContext:
        context = self._by_uid.get(sop_class_uid)
        if context is None:
            raise NegotiationError(
                f"{what} ({sop_class_uid}) was not accepted by the peer on this association"
            )
        return context

    def _check_usable(self) -> None:
        if self._protocol.failure is not None:
            raise self._protocol.failure
        if self._released or self._closing:
            raise AssociationAborted("association already released")

    async def _begin(self, make: Callable[[], OpT]) -> OpT:
        """Start an operation. In a window (PS3.7 D.3.3.3) wait for a free slot. Without
        one, wait for the previous operation; if the same task started it (and so no longer
        reads it), cancel it first (PS3.7 9.3.2.3)."""
        if self._slots is not None:
            return await self._begin_windowed(self._slots, make)
        task = asyncio.current_task()
        self._busy += 1
        try:
            async with self._lock:
                previous = self._current
                if previous is not None and not previous.done:
                    if self._owner is task:
                        previous.cancel()  # the same task moved on: its old find is abandoned
                    await previous.wait_done()
                self._check_usable()
                operation = make()
                self._current, self._owner = operation, task
                return operation
        finally:
            self._busy -= 1

    def _begin_now(self, make: Callable[[], OpT]) -> OpT | None:
        """:meth:`_begin` without awaiting, when it would not wait: synchronous, nobody
        holds or waits for the lock and the previous operation is over; else None."""
        if self._slots is not None or self._busy:
            return None
        previous = self._current
        if previous is not None and not previous.done:
            return None
        self._check_usable()
        operation = make()
        self._current, self._owner = operation, asyncio.current_task()
        return operation

    async def _begin_windowed(self, slots: asyncio.Semaphore, make: Callable[[], OpT]) -> OpT:
        """PS3.7 D.3.3.3: at most ``window`` operations outstanding; extra ones wait."""
        await slots.acquire()
        try:
            self._check_usable()
            operation = make()
        except BaseException:
            slots.release()
            raise
        operation.finished.add_done_callback(lambda _: slots.release())
        return operation

    async def perform(self, make: Callable[[], OpT]) -> OpT:
        """Start the operation ``make`` builds and sends, when the association may: in a
        window (PS3.7 D.3.3.3) once a slot is free, else after the previous operation.

        ``make`` registers a :class:`~aiodicom.net.client_ops.ClientOperation` under a
        fresh Message ID (:meth:`ClientProtocol.start_operation`) and sends its request.
        """
        return self._begin_now(make) or await self._begin(make)

    async def echo(self) -> int:
        """C-ECHO (PS3.7 9.1.5): return the response status (0x0000 on success)."""
        context = self._context_for(VERIFICATION_SOP_CLASS, "Verification")

        def make() -> EchoCall:
            call = EchoCall(self._protocol, self._next_message_id())
            self._protocol.start_operation(call)
            self._protocol.send_command(context.context_id, CEchoRQ(call.message_id))
            return call

        call = await self.perform(make)
        return await call.finished

    async def c_store(self, instance: Instance, *, priority: int = 0) -> int:
        """C-STORE (PS3.7 9.1.1) of a Dataset or a PS3.10 file: :func:`.store_scu.c_store`."""
        return await c_store(self, instance, priority=priority)

    def _plan(self, model: QueryModel | str, priority: int) -> _FindPlan:
        """Context and pre-encoded C-FIND-RQ command for (model, priority), cached.

        A :class:`QueryModel` and its value string hash alike (StrEnum): one entry.
        """
        plan = self._plans.get((model, priority))
        if plan is None:
            query_model = QueryModel.parse(model)
            uid = query_model.sop_class_uid
            context = self._context_for(uid, f"C-FIND model {query_model.value!r}")
            plan = _FindPlan(context, find_rq_template(uid, priority))
            self._plans[(model, priority)] = plan
        return plan

    def _send_find(self, plan: _FindPlan, data: bytes) -> FindCall:
        """Register a C-FIND under a fresh Message ID and send its C-FIND-RQ."""
        protocol = self._protocol
        context = plan.context
        message_id = self._next_message_id()
        call = FindCall(
            protocol,
            context.context_id,
            context.transfer_syntax,
            message_id,
            self.options.cancel_timeout,
        )
        protocol.start_operation(call)
        command = plan.template.encode(message_id)
        protocol.send_raw(context.context_id, command, data, now=self.window == 1)
        return call

    def _start_find(self, plan: _FindPlan, data: bytes) -> FindCall | Awaitable[FindCall]:
        """Start the C-FIND now if nothing must be awaited, else return the awaitable.

        The inline test is :meth:`_begin_now` for the hot path of sequential queries.
        """
        if self._slots is None and not self._busy:
            previous = self._current
            if previous is None or previous.finished.done():
                self._check_usable()
                call = self._send_find(plan, data)
                self._current, self._owner = call, asyncio.current_task(self._protocol.loop)
                return call
        return self._begin(functools.partial(self._send_find, plan, data))

    def _find_starter(
        self, query: Dataset | EncodedQuery, model: QueryModel | str, priority: int
    ) -> Callable[[], FindCall | Awaitable[FindCall]]:
        plan = self._plans.get((model, priority)) or self._plan(model, priority)
        syntax = plan.context.transfer_syntax
        if isinstance(query, EncodedQuery):
            data = query.for_syntax(syntax)
        else:
            data = encode_identifier(query, syntax)
        return functools.partial(self._start_find, plan, data)

    def find(
        self,
        query: Dataset | EncodedQuery,
        model: QueryModel | str = "worklist",
        *,
        priority: int = 0,
    ) -> FindStream:
        """C-FIND (PS3.4 C.4.1 / K.4.1): an async iterator of matching identifiers.

        ``query`` is a Dataset or an :class:`EncodedQuery` (see :func:`encode_query`).
        The request is sent on the first iteration. Leaving early (``break``, ``aclose()``,
        ``async with`` exit, task cancellation) sends C-CANCEL-RQ (PS3.7 9.3.2.3).
        """
        return FindStream(self._find_starter(query, model, priority))

    def find_responses(
        self,
        query: Dataset | EncodedQuery,
        model: QueryModel | str = "worklist",
        *,
        priority: int = 0,
    ) -> FindResultStream:
        """Like :meth:`find`, but yields every response as a typed :class:`FindResult`."""
        return FindResultStream(self._find_starter(query, model, priority))

    async def _finish_outstanding(self) -> None:
        """Cancel every outstanding C-FIND and wait for all final responses."""
        operations = list(self._protocol.operations.values())
        if self._current is not None and self._current not in operations:
            operations.append(self._current)
        for operation in operations:
            if not operation.done:
                operation.cancel()
        for operation in operations:
            await operation.wait_done()

    async def release(self) -> None:
        """A-RELEASE (PS3.8 7.2): finish or cancel the open operations, then release."""
        if self._released or self._protocol.failure is not None:
            return
        self._busy += 1
        try:
            async with self._lock:
                self._closing = True
                await self._finish_outstanding()
                if self._protocol.failure is not None or self._released:
                    return
                self._released = True
                await self._release_now()
        finally:
            self._busy -= 1

    async def _release_now(self) -> None:
        """Send A-RELEASE-RQ; wait for the A-RELEASE-RP and the transport close.

        ``acse_timeout`` is a plain timer failing the association (an A-ABORT, PS3.8 7.3)
        rather than a task cancellation: cheaper, and the waits stay shielded.
        """
        protocol = self._protocol
        protocol.association.release()
        protocol.flush()
        timeout = self.options.acse_timeout
        expired = DicomTimeoutError("A-RELEASE response", timeout)
        timer = protocol.loop.call_later(timeout, _expire, protocol, expired)
        try:
            await asyncio.shield(protocol.released)  # raises ``expired`` on time-out
            await asyncio.shield(protocol.closed)
        finally:
            timer.cancel()
        if protocol.failure is expired:  # the RP came, the close did not
            raise expired

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

    def __init__(
        self, options: ClientOptions, trace: Trace | None = None, opener: Opener[Any] | None = None
    ) -> None:
        self.options = options
        self.trace = trace
        self.opener = opener  # None: TCP (TLS with ``options.ssl``) to host:port
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
        """TCP (+TLS) connect within ``connect_timeout``, then the A-ASSOCIATE-AC within
        ``acse_timeout`` (PS3.8 7.1). Leaving early for any reason aborts the link."""
        options = self.options
        protocol = await self._connect_transport()
        expired = DicomTimeoutError("A-ASSOCIATE response", options.acse_timeout)
        timer = protocol.loop.call_later(options.acse_timeout, _expire, protocol, expired)
        try:
            ac = await protocol.established  # raises ``expired`` on time-out
        except BaseException:
            if protocol.failure is None:  # e.g. cancelled while negotiating: no leak
                protocol.abort()
            raise
        finally:
            timer.cancel()
        if protocol.debug_enabled:
            protocol.log.debug("association established")
        return ClientAssociation(protocol, ac, options)

    async def _connect_transport(self) -> ClientProtocol:
        options = self.options
        loop = asyncio.get_running_loop()
        rq = cached_request(options)

        def factory() -> ClientProtocol:
            protocol = ClientProtocol(rq, options)
            protocol.traced(self.trace)
            return protocol

        try:
            async with asyncio.timeout(options.connect_timeout):
                if self.opener is None:
                    _, protocol = await loop.create_connection(
                        factory, options.host, options.port, ssl=options.ssl
                    )
                else:
                    protocol = await self.opener(factory)
        except TimeoutError:
            raise DicomTimeoutError("connect", options.connect_timeout) from None
        except OSError as exc:  # refused, unreachable, TLS handshake (ssl.SSLError)
            raise ConnectFailed(options.host, options.port, exc) from exc
        return protocol


def connect(
    host: str,
    port: int,
    *,
    calling_ae: str = "AIODICOM",
    called_ae: str = "ANY-SCP",
    models: Sequence[QueryModel | str] = tuple(QueryModel),
    transfer_syntaxes: Sequence[str] | None = None,
    sop_classes: Sequence[str] = (),
    max_pdu_length: int = 16384,
    connect_timeout: float = 30.0,
    acse_timeout: float = 30.0,
    dimse_timeout: float | None = None,
    cancel_timeout: float = 10.0,
    ssl: ssl_module.SSLContext | None = None,
    async_ops_window: tuple[int, int] | None = None,
    user_identity: UserIdentityRQ | tuple[str, str] | str | None = None,
    extended_negotiation: Mapping[QueryModel | str, bytes] | None = None,
    trace: Trace | None = None,
    opener: Opener[Any] | None = None,
) -> Connector:
    """Open an association to ``host:port`` (PS3.8 7.1) as an async context manager.

    ``models`` are the C-FIND information models proposed (plus Verification),
    ``sop_classes`` further SOP classes (Storage SOP classes for
    :meth:`ClientAssociation.c_store`, MPPS for :meth:`ClientAssociation.n_create`...),
    each in ``transfer_syntaxes`` (default Explicit then Implicit VR Little Endian).
    ``connect_timeout`` bounds TCP (and TLS) connection, ``acse_timeout`` the A-ASSOCIATE
    and A-RELEASE answers, ``dimse_timeout`` the silence while a response is awaited,
    ``cancel_timeout`` the drain after C-CANCEL-RQ. ``user_identity`` is a username, a
    (username, passcode) pair or a ready :class:`UserIdentityRQ` (PS3.7 D.3.3.7).
    Exiting the ``async with`` releases the association (aborts if that fails).
    ``trace(kind, payload)`` sees the negotiation, every DIMSE command set and every
    byte on the wire (see :data:`aiodicom.net.client_protocol.Trace`), for debugging.
    ``opener`` opens the transport (default: TCP/TLS to ``host:port``;
    :func:`aiodicom.net.transport.memory_opener` connects to a Server in process).
    """
    return Connector(
        ClientOptions(
            host=host,
            port=port,
            calling_ae=calling_ae,
            called_ae=called_ae,
            models=models,
            transfer_syntaxes=transfer_syntaxes,
            sop_classes=tuple(sop_classes),
            max_pdu_length=max_pdu_length,
            connect_timeout=connect_timeout,
            acse_timeout=acse_timeout,
            dimse_timeout=dimse_timeout,
            cancel_timeout=cancel_timeout,
            ssl=ssl,
            async_ops_window=async_ops_window,
            user_identity=user_identity,
            extended_negotiation=extended_negotiation,
        ),
        trace,
        opener,
    )
