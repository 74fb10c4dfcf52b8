"""Options of :func:`aiodicom.connect` and the A-ASSOCIATE-RQ built from them (PS3.8 9.3.2)."""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from aiodicom.proto.messages import VERIFICATION_SOP_CLASS
from aiodicom.proto.negotiation import (
    EXPLICIT_VR_LE,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    IMPLICIT_VR_LE,
    QueryModel,
    requestor_contexts,
)
from aiodicom.proto.pdus import (
    AssociateAC,
    AssociateRQ,
    SOPClassExtendedNegotiation,
    UserIdentityRQ,
    UserIdentityType,
    UserInformation,
)

DEFAULT_TRANSFER_SYNTAXES = (EXPLICIT_VR_LE, IMPLICIT_VR_LE)
MAX_WINDOW = 0xFFFF
"""An "unlimited" window (0, PS3.7 D.3.3.3) is bounded by the Message ID space."""


@dataclass(slots=True)
class ClientOptions:
    """Everything :func:`connect` needs; see its docstring for the meaning of each field."""

    host: str
    port: int
    calling_ae: str = "AIODICOM"
    called_ae: str = "ANY-SCP"
    models: Sequence[QueryModel | str] = tuple(QueryModel)
    transfer_syntaxes: Sequence[str] | None = None
    sop_classes: Sequence[str] = ()
    max_pdu_length: int = 16384
    connect_timeout: float = 30.0
    acse_timeout: float = 30.0
    dimse_timeout: float | None = None
    cancel_timeout: float = 10.0
    ssl: ssl_module.SSLContext | None = None
    async_ops_window: tuple[int, int] | None = None
    user_identity: UserIdentityRQ | tuple[str, str] | str | None = None
    extended_negotiation: Mapping[QueryModel | str, bytes] | None = field(default=None)


def _identity_item(value: UserIdentityRQ | tuple[str, str] | str | None) -> UserIdentityRQ | None:
    """PS3.7 D.3.3.7.1: a username, or (username, passcode), as a user identity sub-item."""
    if value is None or isinstance(value, UserIdentityRQ):
        return value
    if isinstance(value, str):
        return UserIdentityRQ(UserIdentityType.USERNAME, False, value.encode())
    user, passcode = value
    return UserIdentityRQ(
        UserIdentityType.USERNAME_AND_PASSCODE, False, user.encode(), passcode.encode()
    )


def build_request(options: ClientOptions) -> AssociateRQ:
    """The A-ASSOCIATE-RQ (PS3.8 9.3.2): Verification plus one context per query model and
    per further SOP class (e.g. Storage, PS3.4 B.5; MPPS, PS3.4 F.7)."""
    models = [QueryModel.parse(m) for m in options.models]
    syntaxes = [VERIFICATION_SOP_CLASS] + [m.sop_class_uid for m in models]
    syntaxes += [uid for uid in options.sop_classes if uid not in syntaxes]
    transfer = options.transfer_syntaxes or DEFAULT_TRANSFER_SYNTAXES
    extended = tuple(
        SOPClassExtendedNegotiation(QueryModel.parse(model).sop_class_uid, info)
        for model, info in (options.extended_negotiation or {}).items()
    )
    user_info = UserInformation(
        max_length=options.max_pdu_length,
        implementation_class_uid=IMPLEMENTATION_CLASS_UID,
        implementation_version_name=IMPLEMENTATION_VERSION_NAME,
        async_ops_window=options.async_ops_window,
        sop_class_extended=extended,
        user_identity_rq=_identity_item(options.user_identity),
    )
    return AssociateRQ(
        called_ae=options.called_ae,
        calling_ae=options.calling_ae,
        presentation_contexts=requestor_contexts(syntaxes, transfer),
        user_information=user_info,
    )


_REQUESTS: dict[tuple[Hashable, ...], AssociateRQ] = {}
_REQUESTS_MAX = 128


def _request_key(options: ClientOptions) -> tuple[Hashable, ...] | None:
    """Everything of ``options`` that :func:`build_request` reads, as a hashable key.

    None when some value is not hashable or could not be read twice, and with a user
    identity (PS3.7 D.3.3.7): a passcode is never kept in a process-wide cache.
    """
    models, syntaxes = options.models, options.transfer_syntaxes
    if not isinstance(models, tuple | list) or not isinstance(syntaxes, tuple | list | None):
        return None
    if not isinstance(options.sop_classes, tuple | list):
        return None
    if options.user_identity is not None:
        return None
    extended = options.extended_negotiation
    key = (
        options.calling_ae,
        options.called_ae,
        tuple(models),
        None if syntaxes is None else tuple(syntaxes),
        tuple(options.sop_classes),
        options.max_pdu_length,
        options.async_ops_window,
        None if extended is None else tuple(extended.items()),
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


def cached_request(options: ClientOptions) -> AssociateRQ:
    """:func:`build_request`, memoised: the A-ASSOCIATE-RQ is immutable (frozen
    dataclasses), and a client opening many associations to one peer builds it once."""
    key = _request_key(options)
    if key is None:
        return build_request(options)
    rq = _REQUESTS.get(key)
    if rq is None:
        rq = build_request(options)
        if len(_REQUESTS) >= _REQUESTS_MAX:
            _REQUESTS.clear()
        _REQUESTS[key] = rq
    return rq


def negotiated_window(proposed: tuple[int, int] | None, ac: AssociateAC) -> int:
    """Outstanding operations we may invoke (PS3.7 D.3.3.3); 1 = synchronous.

    Only when we proposed a window and the A-ASSOCIATE-AC carries one: the acceptor's
    Maximum-number-operations-invoked, never above what we proposed (0 = unlimited).
    """
    answered = ac.user_information.async_ops_window
    if proposed is None or answered is None:
        return 1
    limits = [value for value in (proposed[0], answered[0]) if value != 0]
    return min(limits, default=MAX_WINDOW)
