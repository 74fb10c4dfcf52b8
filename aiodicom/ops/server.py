"""An operations-ready :class:`~aiodicom.net.server.Server`: access control, audit, metrics
and live reconfiguration.

:class:`OpsServer` is a drop-in replacement for ``Server`` (same constructor plus an
:class:`OpsHooks`). The calling-AE allow-list per called AE and peer address and whether
a user identity is required become part of the server's association policy
(:mod:`aiodicom.net.policy`, checked first: PS3.8 9.3.4, refused permanently, source 1,
reason 3 resp. 1). Audit and metrics observe the server (:class:`OpsObserver`): every
connection ends with one audit line and every C-FIND with another
(:mod:`aiodicom.ops.audit`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiodicom.net.observe import FindEnd
from aiodicom.net.observers import ServerObserver
from aiodicom.net.policy import Refusal
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.server import Server, ServerConfig
from aiodicom.net.types import FindHandler
from aiodicom.ops.audit import AuditLog
from aiodicom.ops.metrics import Metrics
from aiodicom.ops.security import AccessPolicy, UserIdentityChecker
from aiodicom.proto.negotiation import QueryModel


@dataclass(slots=True)
class OpsHooks:
    """What :class:`OpsServer` adds; every part is optional."""

    access: AccessPolicy | None = None
    identity: UserIdentityChecker | None = None
    audit: AuditLog = field(default_factory=AuditLog)
    metrics: Metrics | None = None


class OpsObserver(ServerObserver):
    """Audit lines and metrics of a server, from its association and operation events."""

    def __init__(self, hooks: OpsHooks) -> None:
        self.hooks = hooks

    def association_accepted(self, scp: ServerProtocol) -> None:
        if self.hooks.metrics is not None:
            self.hooks.metrics.active.inc()

    def association_rejected(self, scp: ServerProtocol, refusal: Refusal) -> None:
        if self.hooks.metrics is not None:
            self.hooks.metrics.rejected(refusal.label)

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        """One C-FIND ended: its audit line (:mod:`aiodicom.ops.audit`) and metrics."""
        if not isinstance(report, FindEnd):
            return
        request = report.request
        self.hooks.audit.query(
            request, matches=report.matches, status=report.status, outcome=report.outcome,
            seconds=report.seconds,
        )  # fmt: skip
        if self.hooks.metrics is not None:
            model = request.model.value if request.model else request.sop_class_uid
            self.hooks.metrics.query_done(model, report.status, report.matches, report.seconds)

    def association_ended(self, scp: ServerProtocol) -> None:
        """One audit line per connection; the association metrics."""
        hooks = self.hooks
        hooks.audit.association(
            association_id=scp.association_id,
            peer=scp.peer,
            rq=scp.rq,
            outcome=scp.outcome,
            queries=scp.operations_started,
            seconds=time.monotonic() - scp.started,
        )
        if hooks.metrics is not None:
            if scp.established:
                hooks.metrics.active.dec()
            hooks.metrics.association_ended(scp.outcome)


class OpsServer(Server):
    """A Server with :class:`OpsHooks`: the access list and required identity join its
    association policy, audit and metrics observe it (:class:`OpsObserver`)."""

    def __init__(
        self,
        config: ServerConfig,
        handlers: Mapping[str | QueryModel, FindHandler],
        hooks: OpsHooks | None = None,
    ) -> None:
        self.hooks = hooks or OpsHooks()
        super().__init__(self._with_hooks(config), handlers, observers=[OpsObserver(self.hooks)])

    def reconfigure(self, config: ServerConfig) -> None:
        """Apply a new policy to new associations; open ones keep running untouched."""
        super().reconfigure(self._with_hooks(config))

    def _with_hooks(self, config: ServerConfig) -> ServerConfig:
        """``config`` with the hooks' access list and identity checker (unless it has its
        own) in its association policy."""
        hooks = self.hooks
        identity = hooks.identity
        if identity is None and hooks.access is None:
            return config
        return dataclasses.replace(
            config,
            access=hooks.access if hooks.access is not None else config.access,
            require_user_identity=config.require_user_identity
            or bool(identity and identity.required),
            user_identity=config.user_identity or identity,
        )
