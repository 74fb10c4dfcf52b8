"""The association policy of a server, checked in one place (PS3.8 9.3.3 / 9.3.4).

:func:`decide` answers one A-ASSOCIATE-RQ: every refusal, with its PS3.8 Table 9-21
(result, source, reason), or the user identity outcome of an acceptable request. The
checks run in this order and the first that fails names the rejection:

1. the access list (``ServerConfig.access``): calling AE per called AE and peer address
   -> permanent, source 1, reason 3 (calling-AE-title-not-recognized);
2. a required user identity missing (``ServerConfig.require_user_identity``, PS3.7
   D.3.3.7) -> permanent, source 1, reason 1;
3. the application context name (PS3.7 A.2.1) -> permanent, source 1, reason 2;
4. limits: associations in all, per peer address, per calling AE -> transient, source 3,
   reason 2 (local-limit-exceeded);
5. the called AE title -> permanent, source 1, reason 7;
6. the calling AE allow-list (``ServerConfig.allowed_calling_aes``) -> source 1, reason 3;
7. the user identity validator (``ServerConfig.user_identity``) -> source 1, reason 1.

TLS identity is the transport's: a server whose ``ssl`` context requires client
certificates (PS3.15 B.1) never sees an A-ASSOCIATE-RQ from a peer without a valid one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiodicom.proto.negotiation import AcceptorPolicy, IdentityOutcome, check_user_identity
from aiodicom.proto.pdus import APPLICATION_CONTEXT_NAME, AssociateRJ, AssociateRQ

if TYPE_CHECKING:
    from aiodicom.net.server import ServerConfig

# PS3.8 9.3.4, Table 9-21: (result, source, reason) of each refusal
RJ_LIMIT = AssociateRJ(result=2, source=3, reason=2)  # transient, provider-presentation, limit
RJ_CALLED_AE = AssociateRJ(result=1, source=1, reason=7)  # called-AE-title-not-recognized
RJ_CALLING_AE = AssociateRJ(result=1, source=1, reason=3)  # calling-AE-title-not-recognized
RJ_NO_REASON = AssociateRJ(result=1, source=1, reason=1)  # user identity refused
RJ_APP_CONTEXT = AssociateRJ(result=1, source=1, reason=2)  # application-context-name-not-supported

POLICY = "policy"
"""The :attr:`Refusal.label` of the server's own checks (3-7 in the module docstring)."""


class AccessList(Protocol):
    """Decides which calling AE may call which called AE from which peer address (e.g.
    :class:`aiodicom.ops.security.AccessPolicy`)."""

    def allows(self, called_ae: str, calling_ae: str, host: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rejected A-ASSOCIATE-RQ: the RJ to send, why (for the log) and a short label
    (for audit outcomes and metrics: ``policy``, ``calling-ae-not-allowed``,
    ``user-identity-required``)."""

    rj: AssociateRJ
    why: str
    label: str = POLICY


class AssociationCounts:
    """Established associations, in all, per peer address and per calling AE title.

    Plain dicts with ``get`` (a Counter calls its Python ``__missing__`` for every first
    association from a peer): this runs twice per association."""

    __slots__ = ("per_address", "per_calling_ae", "total")

    def __init__(self) -> None:
        self.total = 0
        self.per_address: dict[str, int] = {}
        self.per_calling_ae: dict[str, int] = {}

    def add(self, address: str, calling_ae: str) -> None:
        self.total += 1
        per_address, per_calling_ae = self.per_address, self.per_calling_ae
        per_address[address] = per_address.get(address, 0) + 1
        per_calling_ae[calling_ae] = per_calling_ae.get(calling_ae, 0) + 1

    def remove(self, address: str, calling_ae: str) -> None:
        self.total -= 1
        _decrement(self.per_address, address)
        _decrement(self.per_calling_ae, calling_ae)


def _decrement(counts: dict[str, int], key: str) -> None:
    """One association less for ``key``; a source with none left is forgotten."""
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def decide(
    rq: AssociateRQ,
    address: str,
    config: ServerConfig,
    negotiation: AcceptorPolicy,
    counts: AssociationCounts,
) -> Refusal | IdentityOutcome:
    """The refusal of ``rq`` from peer ``address`` (checks in the module docstring's order),
    or its user identity outcome (checked once, last: validators may be slow)."""
    refusal = _access_refusal(rq, address, config) or _limit_refusal(rq, address, config, counts)
    if refusal is not None:
        return refusal
    if not config.called_ae_ok(rq.called_ae):
        return Refusal(RJ_CALLED_AE, f"called AE {rq.called_ae!r} not recognized")
    allowed = config.allowed_calling_aes
    if allowed is not None and rq.calling_ae not in allowed:
        return Refusal(RJ_CALLING_AE, f"calling AE {rq.calling_ae!r} not in the allow-list")
    identity = check_user_identity(rq, negotiation)
    if not identity.accepted:
        return Refusal(RJ_NO_REASON, "user identity refused")
    return identity


def _access_refusal(rq: AssociateRQ, address: str, config: ServerConfig) -> Refusal | None:
    """Checks 1-3: access list, required identity, application context."""
    access = config.access
    if access is not None and not access.allows(rq.called_ae, rq.calling_ae, address):
        return Refusal(RJ_CALLING_AE, "calling-ae-not-allowed", "calling-ae-not-allowed")
    if config.require_user_identity and rq.user_information.user_identity_rq is None:
        return Refusal(RJ_NO_REASON, "user-identity-required", "user-identity-required")
    if rq.application_context != APPLICATION_CONTEXT_NAME:  # PS3.7 A.2.1
        return Refusal(RJ_APP_CONTEXT, "application context name not supported")
    return None


def _limit_refusal(
    rq: AssociateRQ, address: str, config: ServerConfig, counts: AssociationCounts
) -> Refusal | None:
    """Check 4: too many associations in all, from ``address`` or from the calling AE."""
    if counts.total >= config.max_associations:
        limit = config.max_associations
        return Refusal(RJ_LIMIT, f"server.max_associations={limit} reached (raise it for more)")
    per_address, per_calling_ae = config.source_limits()
    if counts.per_address.get(address, 0) >= per_address:  # the log names the setting to raise
        why = f"server.max_associations_per_address={per_address} reached for {address}"
        return Refusal(RJ_LIMIT, why)
    if counts.per_calling_ae.get(rq.calling_ae, 0) >= per_calling_ae:
        limit_name = f"server.max_associations_per_calling_ae={per_calling_ae}"
        return Refusal(RJ_LIMIT, f"{limit_name} reached for {rq.calling_ae!r}")
    return None
