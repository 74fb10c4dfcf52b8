"""An operations-ready :class:`~aiodicom.net.server.Server`: access control, audit, metrics,
SO_REUSEPORT and live reconfiguration.

:class:`OpsServer` is a drop-in replacement for ``Server`` (same constructor plus an
:class:`OpsHooks`). Its protocol class checks, before the stock policy, the calling-AE
allow-list per called AE and peer address and whether a user identity is required
(PS3.8 9.3.4: both refused permanently, source 1, reason 3 resp. 1). Every connection
ends with one audit line and every C-FIND with another (:mod:`aiodicom.ops.audit`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiodicom.net.observe import FindEnd
from aiodicom.net.scp import RJ_CALLING_AE, RJ_NO_REASON, ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.types import FindHandler, FindRequest
from aiodicom.ops.audit import AuditLog
from aiodicom.ops.metrics import Metrics
from aiodicom.ops.security import AccessPolicy, UserIdentityChecker
from aiodicom.proto.events import (
    Aborted,
    AssociationRequested,
    ConnectionClosed,
    Event,
    MessageReceived,
    ReleaseRequested,
)
from aiodicom.proto.negotiation import AcceptorPolicy, QueryModel
from aiodicom.proto.pdus import AssociateRJ, AssociateRQ


@dataclass(slots=True)
class OpsHooks:
    """What :class:`OpsServer` adds; every part is optional."""

    access: AccessPolicy | None = None
    identity: UserIdentityChecker | None = None
    audit: AuditLog = field(default_factory=AuditLog)
    metrics: Metrics | None = None


class GuardedProtocol(ServerProtocol):
    """ServerProtocol plus the ops policy checks and per-association outcome tracking."""

    server: OpsServer

    def __init__(self, server: OpsServer) -> None:
        super().__init__(server)
        self.started = time.monotonic()
        self.outcome = "closed-before-request"
        self.queries = 0  # C-FINDs handed to a handler, for the association's audit line

    def dispatch(self, events: list[Event]) -> None:
        if len(events) == 1 and type(events[0]) is MessageReceived:
            super().dispatch(events)  # a DIMSE message changes no association outcome
            return
        requested = False
        passed: list[Event] = []
        for event in events:  # event classes are final: type() tests are exact and cheap
            if type(event) is AssociationRequested:
                if self._ops_refused(event.rq):
                    continue
                requested = True
            passed.append(event)
            self._track(event)
        super().dispatch(passed)
        if requested and not self.established:
            self.outcome = "rejected:policy"
            if self.server.hooks.metrics is not None:
                self.server.hooks.metrics.rejected("policy")
        elif self.established and self.outcome == "requested":
            self.outcome = "accepted"
            if self.server.hooks.metrics is not None:
                self.server.hooks.metrics.active.inc()

    def _track(self, event: Event) -> None:
        kind = type(event)
        if kind is AssociationRequested:
            self.outcome = "requested"
        elif kind is ReleaseRequested:
            self.outcome = "released"
        elif isinstance(event, Aborted):
            by = "peer" if event.by_peer else "protocol-error" if event.error else "local"
            self.outcome = f"aborted:{by}"
        elif kind is ConnectionClosed and self.outcome == "accepted":
            self.outcome = "connection-lost"

    def _ops_refused(self, rq: AssociateRQ) -> bool:
        """Access list and required identity (PS3.8 9.3.4 Table 9-21 reasons 3 and 1)."""
        hooks = self.server.hooks
        rejection: AssociateRJ | None = None
        why = ""
        if hooks.access is not None and not hooks.access.allows(
            rq.called_ae, rq.calling_ae, self.peer[0]
        ):
            rejection, why = RJ_CALLING_AE, "calling-ae-not-allowed"
        elif hooks.identity is not None and hooks.identity.missing_identity_refused(rq):
            rejection, why = RJ_NO_REASON, "user-identity-required"
        if rejection is None:
            return False
        self.rq = rq
        self.bind_log(calling_ae=rq.calling_ae, called_ae=rq.called_ae)
        self.log.warning("association rejected", why=why, reason=rejection.reason)
        self.association.reject(rejection)
        self.outcome = f"rejected:{why}"
        if hooks.metrics is not None:
            hooks.metrics.rejected(why)
        return True

    def find_started(self, request: FindRequest) -> None:
        self.queries += 1

    def find_ended(self, end: FindEnd) -> None:
        self.server.query_done(end)

    def connection_finished(self, exc: Exception | None) -> None:
        super().connection_finished(exc)
        hooks = self.server.hooks
        if self.outcome == "accepted":
            self.outcome = "connection-lost"
        hooks.audit.association(
            association_id=self.association_id,
            peer=self.peer,
            rq=self.rq,
            outcome=self.outcome,
            queries=self.queries,
            seconds=time.monotonic() - self.started,
        )
        if hooks.metrics is not None:
            if self.established:
                hooks.metrics.active.dec()
            hooks.metrics.association_ended(self.outcome)


class OpsServer(Server):
    """A Server with :class:`OpsHooks`; ``start(..., reuse_port=True)`` for worker pools."""

    def __init__(
        self,
        config: ServerConfig,
        handlers: Mapping[str | QueryModel, FindHandler],
        hooks: OpsHooks | None = None,
    ) -> None:
        self.hooks = hooks or OpsHooks()
        super().__init__(self._with_identity(config), handlers)

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False
    ) -> None:
        """Listen like :meth:`Server.start`; ``reuse_port`` sets SO_REUSEPORT so several
        processes share the port (the kernel spreads new connections among them)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GuardedProtocol(self),
            host,
            port,
            ssl=self.config.ssl,
            backlog=self.config.backlog,
            reuse_address=True,
            reuse_port=reuse_port or None,
        )
        self._host = host
        self.log.info("listening", host=host, port=self.port, tls=self.config.ssl is not None)

    def reconfigure(self, config: ServerConfig) -> None:
        """Apply a new policy to new associations; open ones keep running untouched."""
        config = self._with_identity(config)
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

    def _with_identity(self, config: ServerConfig) -> ServerConfig:
        """``config`` using the hooks' identity checker unless it has its own."""
        if self.hooks.identity is None or config.user_identity is not None:
            return config
        return dataclasses.replace(config, user_identity=self.hooks.identity)

    def query_done(self, end: FindEnd) -> None:
        """One C-FIND ended: its audit line (:mod:`aiodicom.ops.audit`) and metrics."""
        request = end.request
        self.hooks.audit.query(
            request, matches=end.matches, status=end.status, outcome=end.outcome,
            seconds=end.seconds,
        )  # fmt: skip
        if self.hooks.metrics is not None:
            model = request.model.value if request.model else request.sop_class_uid
            self.hooks.metrics.query_done(model, end.status, end.matches, end.seconds)
