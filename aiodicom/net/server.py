"""The SCP side: :class:`ServerConfig`, :class:`Server` and :func:`serve`.

A Server listens on one TCP (or TLS) port and runs one :class:`ServerProtocol` per
connection. Requests go through its operation table (:mod:`aiodicom.net.operations`):
C-ECHO (PS3.7 9.1.5) is built in; C-FIND (PS3.4 C.4.1 / K.4.1) is served by the handler
registered for the SOP class; :meth:`Server.register_operation` adds or replaces an entry.
The association policy (limits, AE titles, access list, user identity; PS3.8 9.3.4) is
:mod:`aiodicom.net.policy`; observers (:mod:`aiodicom.net.observers`) hear the events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import operator
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiodicom.errors import ConfigError
from aiodicom.log import get_logger
from aiodicom.net.find_scp import FindOperation
from aiodicom.net.observe import FindRoute
from aiodicom.net.observers import ObserverTable, ServerObserver
from aiodicom.net.operations import BUILT_IN, OperationHandler
from aiodicom.net.policy import AccessList, AssociationCounts
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.types import FindHandler
from aiodicom.proto.messages import VERIFICATION_SOP_CLASS, CommandField
from aiodicom.proto.negotiation import (
    ALL_TRANSFER_SYNTAXES,
    AcceptorPolicy,
    NegotiationMemo,
    QueryModel,
    UserIdentityValidator,
)


@dataclass(slots=True)
class ServerConfig:
    """Server policy and limits.

    ``accept_called_ae``: predicate on the called AE title (None: accept any, unless
    ``strict_called_ae`` demands it equal ``ae_title``). ``allowed_calling_aes``: allow-list
    of calling AE titles (None: anyone). ``artim_timeout`` bounds the wait for the
    A-ASSOCIATE-RQ and the release/abort handshakes (PS3.8 9.1.5); ``idle_timeout`` aborts
    an established association that sends nothing for that long while no operation runs.
    ``user_identity`` validates a user identity sub-item (PS3.7 D.3.3.7): return the
    server response bytes (b"" for none) to accept, None to reject. ``async_ops_window``:
    the most C-FIND operations one association may have outstanding, performed
    concurrently (PS3.7 D.3.3.3); a proposed window is answered with min(proposed, this);
    1 (default) = synchronous operations only. ``extended_negotiation``: per SOP class
    (UID or query model), the SOP class extended negotiation bytes we support; a request's
    bytes are answered AND-ed with these (PS3.7 D.3.3.5, PS3.4 C.5.1.1.3). ``access``:
    calling AE per called AE and peer address (:class:`aiodicom.net.policy.AccessList`);
    ``require_user_identity``: refuse an RQ without a user identity sub-item.

    Slow or greedy peers (docs/conformance.md, limits): ``pdu_timeout`` bounds the time
    from the first to the last byte of one PDU, ``message_timeout`` from the first to the
    last PDV of one DIMSE message (None: unbounded); past either, A-ABORT. The idle timer
    restarts with every byte, these do not. ``max_associations_per_address`` and
    ``max_associations_per_calling_ae`` cap the associations one peer IP address and one
    calling AE title may hold (None: 3/4 of ``max_associations``, rounded up, so one
    source never takes the last quarter of the slots); beyond, transient A-ASSOCIATE-RJ
    (PS3.8 9.3.4).
    """

    ae_title: str = "AIODICOM"
    accept_called_ae: Callable[[str], bool] | None = None
    strict_called_ae: bool = False
    allowed_calling_aes: Collection[str] | None = None
    max_associations: int = 100
    artim_timeout: float = 30.0
    idle_timeout: float | None = 300.0
    max_pdu_length: int = 16384
    ssl: ssl_module.SSLContext | None = None
    transfer_syntaxes: Sequence[str] = ALL_TRANSFER_SYNTAXES
    user_identity: UserIdentityValidator | None = None
    backlog: int = 128
    async_ops_window: int = 1
    extended_negotiation: Mapping[str | QueryModel, bytes] | None = None
    pdu_timeout: float | None = 60.0
    message_timeout: float | None = 180.0
    max_associations_per_address: int | None = None
    max_associations_per_calling_ae: int | None = None
    access: AccessList | None = None
    require_user_identity: bool = False

    def source_limits(self) -> tuple[int, int]:
        """(per peer address, per calling AE title) association limits in force."""
        default = (self.max_associations * 3 + 3) // 4  # 3/4, rounded up
        address, calling = self.max_associations_per_address, self.max_associations_per_calling_ae
        return (address or default, calling or default)

    def called_ae_ok(self, called_ae: str) -> bool:
        """PS3.8 9.3.4: whether the called AE title is one we answer to."""
        if self.accept_called_ae is not None:
            return self.accept_called_ae(called_ae)
        return not self.strict_called_ae or called_ae == self.ae_title

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad option."""
        if self.max_associations < 1:
            raise ConfigError(None, "max_associations", "an integer >= 1", self.max_associations)
        if self.artim_timeout <= 0:
            raise ConfigError(None, "artim_timeout", "seconds > 0", self.artim_timeout)
        for key in ("idle_timeout", "pdu_timeout", "message_timeout"):
            seconds = getattr(self, key)
            if seconds is not None and seconds <= 0:
                raise ConfigError(None, key, "seconds > 0 or None", seconds)
        for key in ("max_associations_per_address", "max_associations_per_calling_ae"):
            limit = getattr(self, key)
            if limit is not None and limit < 1:
                raise ConfigError(None, key, "an integer >= 1 or None", limit)
        if self.max_pdu_length != 0 and self.max_pdu_length < 4096:
            raise ConfigError(None, "max_pdu_length", "0 or >= 4096", self.max_pdu_length)
        if not 0 < len(self.ae_title) <= 16:
            raise ConfigError(None, "ae_title", "1-16 characters (PS3.5 AE)", self.ae_title)
        if not 1 <= self.async_ops_window <= 0xFFFF:
            raise ConfigError(
                None, "async_ops_window", "an integer 1..65535", self.async_ops_window
            )
        if not self.transfer_syntaxes:
            raise ConfigError(None, "transfer_syntaxes", "at least one UID", self.transfer_syntaxes)


def _handler_key(key: str | QueryModel) -> str:
    if isinstance(key, QueryModel):
        return key.sop_class_uid
    if key and all(part.isdigit() for part in key.split(".")):
        return key  # any SOP class UID (PS3.5 9.1)
    try:
        return QueryModel.parse(key).sop_class_uid
    except ValueError:
        raise ConfigError(None, "handlers", "SOP class UIDs or query model names", key) from None


class Server:
    """A DICOM SCP on asyncio. ``handlers`` maps SOP class UID -> C-FIND handler;
    ``observers`` hear association and operation events (:class:`ServerObserver`)."""

    negotiation: NegotiationMemo
    """Answers A-ASSOCIATE-RQs under :attr:`policy` (memoized per identical RQ)."""

    def __init__(
        self,
        config: ServerConfig,
        handlers: Mapping[str | QueryModel, FindHandler],
        *,
        observers: Sequence[ServerObserver] = (),
    ) -> None:
        config.validate()
        self.config = config
        self.handlers: dict[str, FindHandler] = {_handler_key(k): h for k, h in handlers.items()}
        syntaxes = tuple(config.transfer_syntaxes)
        mapping = {VERIFICATION_SOP_CLASS: syntaxes}
        mapping.update({uid: syntaxes for uid in self.handlers})
        self.policy = AcceptorPolicy(
            abstract_syntaxes=mapping,
            max_pdu_length=config.max_pdu_length,
            user_identity=config.user_identity,
            async_ops_window=(config.async_ops_window, config.async_ops_window),
            extended_negotiation={
                _handler_key(key): info for key, info in (config.extended_negotiation or {}).items()
            },
        )
        self.operations: dict[int, OperationHandler] = dict(BUILT_IN)
        self.operations[CommandField.C_FIND_RQ] = FindOperation(self)
        self.stream_commands: frozenset[int] = frozenset()  # Command Fields streamed
        self.observers: list[ServerObserver] = list(observers)
        self._observer_table = ObserverTable(tuple(self.observers))
        self.log = get_logger(ae=config.ae_title)
        self._routes: dict[str, FindRoute] = {}
        self.connections: set[ServerProtocol] = set()
        self._established: set[ServerProtocol] = set()
        self.counts = AssociationCounts()  # established ones, in all and per source
        self._server: asyncio.Server | None = None
        self._host = ""

    def register_operation(
        self,
        command_field: int,
        handler: OperationHandler,
        sop_classes: Sequence[str] = (),
        transfer_syntaxes: Sequence[str] | None = None,
    ) -> None:
        """Perform requests of ``command_field`` (PS3.7 E.1-1) with ``handler`` on new
        associations, and accept presentation contexts for ``sop_classes`` (in
        ``transfer_syntaxes``, default the configured ones). Replaces the entry of a
        built-in operation. A handler with ``streams = True`` gets its request data sets
        fragment by fragment (:class:`aiodicom.net.operations.StreamingHandler`)."""
        self.operations[command_field] = handler
        streamed = set(self.stream_commands) - {command_field}
        if getattr(handler, "streams", False):
            streamed.add(command_field)
        self.stream_commands = frozenset(streamed)
        if sop_classes:
            policy = self.policy
            syntaxes = tuple(transfer_syntaxes or self.config.transfer_syntaxes)
            mapping = {**policy.abstract_syntaxes, **dict.fromkeys(sop_classes, syntaxes)}
            self.policy = dataclasses.replace(policy, abstract_syntaxes=mapping)

    def reconfigure(self, config: ServerConfig) -> None:
        """Apply a new policy to new associations; open ones keep running untouched."""
        config.validate()
        old = self.policy
        self.config = config
        self.policy = AcceptorPolicy(
            abstract_syntaxes=old.abstract_syntaxes,
            max_pdu_length=config.max_pdu_length,
            extended_negotiation=old.extended_negotiation,
            async_ops_window=old.async_ops_window,
            user_identity=config.user_identity,
        )

    @property
    def policy(self) -> AcceptorPolicy:
        """The negotiation policy of new associations (replace it, never mutate it)."""
        return self.negotiation.policy

    @policy.setter
    def policy(self, policy: AcceptorPolicy) -> None:
        self.negotiation = NegotiationMemo(policy)

    def route(self, sop_class_uid: str) -> FindRoute | None:
        """How to run the handler now registered for ``sop_class_uid`` (None: none is).

        Worked out once per handler object (:class:`FindRoute`); replacing an entry of
        :attr:`handlers` takes effect with the next C-FIND.
        """
        handler = self.handlers.get(sop_class_uid)
        if handler is None:
            return None
        route = self._routes.get(sop_class_uid)
        if route is None or route.source is not handler:
            route = self._routes[sop_class_uid] = FindRoute.of(handler)
        return route

    def observer_table(self) -> ObserverTable:
        """Who hears which event, for a new association (:attr:`observers` as they are now;
        worked out again only when that list changed)."""
        table = self._observer_table
        observers = tuple(self.observers)
        if len(observers) != len(table.observers) or not all(
            map(operator.is_, observers, table.observers)
        ):
            table = self._observer_table = ObserverTable(observers)
        return table

    def protocol_factory(self) -> ServerProtocol:
        """The protocol of one new connection (an asyncio protocol factory)."""
        return ServerProtocol(self)

    # -- bookkeeping (called by ServerProtocol) -----------------------------------------

    def connection_opened(self, protocol: ServerProtocol) -> None:
        self.connections.add(protocol)

    def association_established(self, protocol: ServerProtocol) -> None:
        self._established.add(protocol)
        self.counts.add(protocol.peer[0], protocol.rq.calling_ae if protocol.rq else "")

    def connection_closed(self, protocol: ServerProtocol) -> None:
        self.connections.discard(protocol)
        if protocol in self._established:
            self._established.remove(protocol)
            self.counts.remove(protocol.peer[0], protocol.rq.calling_ae if protocol.rq else "")

    @property
    def established_count(self) -> int:
        """Associations accepted and not yet closed."""
        return len(self._established)

    # -- public API ---------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False
    ) -> None:
        """Start listening (port 0 picks a free port, see :attr:`port`); ``reuse_port``
        sets SO_REUSEPORT so several processes share the port (the kernel spreads new
        connections among them)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.protocol_factory,
            host,
            port,
            ssl=self.config.ssl,
            backlog=self.config.backlog,
            reuse_address=True,
            reuse_port=reuse_port or None,
        )
        self._host = host
        self.log.info("listening", host=host, port=self.port, tls=self.config.ssl is not None)

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def is_serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def serve_forever(self) -> None:
        """Serve until cancelled; then shut down gracefully."""
        if self._server is None:
            raise RuntimeError("call start() first")
        try:
            await asyncio.Future()  # run until cancelled
        finally:
            await self.shutdown()

    async def shutdown(self, deadline: float = 10.0) -> None:
        """Stop accepting, let open associations finish within ``deadline``, abort the rest."""
        if self._server is not None:
            self._server.close()
        remaining = [p.closed for p in self.connections]
        if remaining:
            self.log.info("shutting down", open=len(remaining), deadline=deadline)
            _done, pending = await asyncio.wait(remaining, timeout=deadline)
            if pending:
                self.log.warning("aborting associations at shutdown", count=len(pending))
                for protocol in list(self.connections):
                    protocol.abort(source=2, reason=0)
                await asyncio.wait(pending, timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


@asynccontextmanager
async def serve(
    config: ServerConfig,
    handlers: Mapping[str | QueryModel, FindHandler],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_deadline: float = 10.0,
) -> AsyncIterator[Server]:
    """Start a :class:`Server` for the ``async with`` block; shut it down on exit."""
    server = Server(config, handlers)
    await server.start(host, port)
    try:
        yield server
    finally:
        await server.shutdown(shutdown_deadline)
