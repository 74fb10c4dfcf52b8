"""Association negotiation: transfer syntaxes, query models and the acceptor policy.

The acceptor side answers an A-ASSOCIATE-RQ with :func:`negotiate` (PS3.8 9.3.3, PS3.7
Annex D); the requestor side builds its presentation contexts with
:func:`requestor_contexts` and checks the answer with :func:`accepted_contexts`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from aiodicom.bounded import BoundedMemo
from aiodicom.errors import AbortReason, ProtocolError
from aiodicom.proto.events import AcceptedContext
from aiodicom.proto.memo import always, without_identity
from aiodicom.proto.messages import VERIFICATION_SOP_CLASS
from aiodicom.proto.pdus import (
    AssociateAC,
    AssociateRQ,
    PresentationContextAC,
    PresentationContextResult,
    PresentationContextRQ,
    RoleSelection,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
)

# PS3.5 Annex A / PS3.6 Table A-1: transfer syntax UIDs
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"

ALL_TRANSFER_SYNTAXES: tuple[str, ...] = (
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
)
"""Every transfer syntax the codec supports, in our order of preference."""

IMPLEMENTATION_CLASS_UID = "2.25.52352778781950914795752250433671967186"
"""PS3.7 D.3.3.2: aiodicom's implementation class UID (a UUID-derived 2.25 UID)."""

IMPLEMENTATION_VERSION_NAME = "AIODICOM_010"
"""PS3.7 D.3.3.2.3: implementation version name (at most 16 characters)."""

MAX_CONTEXTS = 128
"""PS3.8 9.3.2.2: presentation context ids are odd integers 1-255, so at most 128."""

_MODEL_UIDS: dict[str, str] = {
    "worklist": "1.2.840.10008.5.1.4.31",  # PS3.4 K.6.1.2.2 Modality Worklist FIND
    "patient": "1.2.840.10008.5.1.4.1.2.1.1",  # PS3.4 C.6.1 Patient Root Q/R FIND
    "study": "1.2.840.10008.5.1.4.1.2.2.1",  # PS3.4 C.6.2 Study Root Q/R FIND
    "patient-study": "1.2.840.10008.5.1.4.1.2.3.1",  # PS3.4 C.6.3 Patient/Study Only (retired)
}


class QueryModel(StrEnum):
    """The C-FIND information models (PS3.4 Annex C and K) and their SOP class UIDs."""

    WORKLIST = "worklist"
    PATIENT = "patient"
    STUDY = "study"
    PATIENT_STUDY = "patient-study"

    @property
    def sop_class_uid(self) -> str:
        """The FIND SOP class UID of this information model."""
        return _MODEL_UIDS[self.value]

    @classmethod
    def from_uid(cls, uid: str) -> QueryModel | None:
        """The model whose FIND SOP class UID is ``uid``, or None."""
        return _MODEL_BY_UID.get(uid)

    @classmethod
    def parse(cls, value: QueryModel | str) -> QueryModel:
        """Accept a model, its name ("study") or its SOP class UID; ValueError otherwise."""
        if isinstance(value, QueryModel):
            return value
        text = value.strip().lower().replace("_", "-")
        for model in cls:
            if text == model.value:
                return model
        by_uid = cls.from_uid(value.strip())
        if by_uid is not None:
            return by_uid
        names = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown query model {value!r}: expected one of {names} or a UID")


_MODEL_BY_UID: dict[str, QueryModel] = {model.sop_class_uid: model for model in QueryModel}

UserIdentityValidator = Callable[[UserIdentityRQ], bytes | None]
"""PS3.7 D.3.3.7: checks a user identity; returns the server response (b"" if none) or None
to refuse it."""


@dataclass(slots=True)
class AcceptorPolicy:
    """What the acceptor supports (PS3.8 9.3.3, PS3.7 Annex D).

    ``abstract_syntaxes`` maps a SOP class UID to the transfer syntaxes we accept for it;
    the first transfer syntax the requestor proposed that we accept wins. We are SCP for
    every SOP class listed (PS3.7 D.3.3.4). ``extended_negotiation`` maps a SOP class UID
    to the extended negotiation bytes we support (PS3.7 D.3.3.5): the reply is the AND of
    the request and these bytes. ``async_ops_window`` is what we allow (PS3.7 D.3.3.3,
    0 = unlimited). ``user_identity`` validates a user identity request (PS3.7 D.3.3.7).
    """

    abstract_syntaxes: Mapping[str, Sequence[str]]
    max_pdu_length: int = 16384
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str = IMPLEMENTATION_VERSION_NAME
    extended_negotiation: Mapping[str, bytes] = field(default_factory=dict)
    async_ops_window: tuple[int, int] = (1, 1)
    user_identity: UserIdentityValidator | None = None


@dataclass(slots=True, frozen=True)
class IdentityOutcome:
    """Result of :func:`check_user_identity`.

    ``requested``: the RQ carried a user identity sub-item. ``accepted``: False only when
    the policy's validator refused it (the server then rejects the association, PS3.7
    D.3.3.7). ``response``: the server response to send back when a positive response was
    requested, else None.
    """

    requested: bool
    accepted: bool
    response: bytes | None


_NO_IDENTITY = IdentityOutcome(requested=False, accepted=True, response=None)


def check_user_identity(rq: AssociateRQ, policy: AcceptorPolicy) -> IdentityOutcome:
    """Run the policy's user identity validator on the RQ (PS3.7 D.3.3.7).

    Without a validator every identity is accepted and no response is sent.
    """
    identity = rq.user_information.user_identity_rq
    if identity is None:
        return _NO_IDENTITY
    if policy.user_identity is None:
        return IdentityOutcome(requested=True, accepted=True, response=None)
    server_response = policy.user_identity(identity)
    if server_response is None:
        return IdentityOutcome(requested=True, accepted=False, response=None)
    wanted = identity.positive_response_requested
    return IdentityOutcome(
        requested=True, accepted=True, response=server_response if wanted else None
    )


def _negotiate_context(pc: PresentationContextRQ, policy: AcceptorPolicy) -> PresentationContextAC:
    """PS3.8 9.3.3.2, Table 9-18: result for one proposed presentation context."""
    accepted = policy.abstract_syntaxes.get(pc.abstract_syntax)
    if accepted is None:
        return PresentationContextAC(
            pc.context_id, PresentationContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, ""
        )
    for transfer_syntax in pc.transfer_syntaxes:
        if transfer_syntax in accepted:
            return PresentationContextAC(
                pc.context_id, PresentationContextResult.ACCEPTANCE, transfer_syntax
            )
    return PresentationContextAC(
        pc.context_id, PresentationContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, ""
    )


def _role_replies(rq: AssociateRQ, policy: AcceptorPolicy) -> tuple[RoleSelection, ...]:
    """PS3.7 D.3.3.4: we accept the requestor as SCU, never as SCP (we are the SCP)."""
    return tuple(
        RoleSelection(item.sop_class_uid, scu_role=item.scu_role, scp_role=False)
        for item in rq.user_information.role_selections
        if item.sop_class_uid in policy.abstract_syntaxes
    )


def _and_bytes(requested: bytes, supported: bytes) -> bytes:
    """Byte-wise AND, as long as the shorter of the two (PS3.4 C.5.1.1.3 fields are flags)."""
    return bytes(a & b for a, b in zip(requested, supported, strict=False))


def _extended_replies(
    rq: AssociateRQ, policy: AcceptorPolicy
) -> tuple[SOPClassExtendedNegotiation, ...]:
    """PS3.7 D.3.3.5: reply only for SOP classes we support, only with bytes we support."""
    replies = []
    for item in rq.user_information.sop_class_extended:
        supported = policy.extended_negotiation.get(item.sop_class_uid)
        if supported is None or item.sop_class_uid not in policy.abstract_syntaxes:
            continue
        replies.append(
            SOPClassExtendedNegotiation(
                item.sop_class_uid, _and_bytes(item.application_info, supported)
            )
        )
    return tuple(replies)


def _limit(requested: int, allowed: int) -> int:
    """The tighter of two limits where 0 means unlimited (PS3.7 D.3.3.3)."""
    if requested == 0:
        return allowed
    if allowed == 0:
        return requested
    return min(requested, allowed)


def _async_reply(rq: AssociateRQ, policy: AcceptorPolicy) -> tuple[int, int] | None:
    """PS3.7 D.3.3.3: answer a proposed window with what the policy allows."""
    proposed = rq.user_information.async_ops_window
    if proposed is None:
        return None
    invoked, performed = policy.async_ops_window
    return (_limit(proposed[0], invoked), _limit(proposed[1], performed))


def negotiate(
    rq: AssociateRQ, policy: AcceptorPolicy, *, identity: IdentityOutcome | None = None
) -> AssociateAC:
    """Build the A-ASSOCIATE-AC answering ``rq`` under ``policy`` (PS3.8 9.3.3).

    ``identity`` is the result of :func:`check_user_identity` when the caller already ran
    it (to decide a rejection); it is computed here otherwise. A refused identity yields no
    user identity response: rejecting the association is the caller's decision.
    """
    if identity is None:
        identity = check_user_identity(rq, policy)
    identity_ac = (
        UserIdentityAC(identity.response)
        if identity.accepted and identity.response is not None
        else None
    )
    user_info = UserInformation(
        max_length=policy.max_pdu_length,
        implementation_class_uid=policy.implementation_class_uid,
        implementation_version_name=policy.implementation_version_name,
        async_ops_window=_async_reply(rq, policy),
        role_selections=_role_replies(rq, policy),
        sop_class_extended=_extended_replies(rq, policy),
        user_identity_ac=identity_ac,
    )
    return AssociateAC(
        called_ae=rq.called_ae,
        calling_ae=rq.calling_ae,
        presentation_contexts=tuple(
            _negotiate_context(pc, policy) for pc in rq.presentation_contexts
        ),
        user_information=user_info,
        application_context=rq.application_context,
    )


class NegotiationMemo:
    """:func:`negotiate` under one policy, memoized per (RQ, identity outcome).

    A requestor repeating its A-ASSOCIATE-RQ gets the very same A-ASSOCIATE-AC object
    (whose encoding :mod:`aiodicom.proto.pdu` memoizes in turn). RQs with a user identity
    sub-item are negotiated afresh and never kept. The policy must not be changed while
    the memo is used: replace the policy and make a new memo (see ``Server.policy``).
    """

    __slots__ = ("_answers", "policy")

    def __init__(self, policy: AcceptorPolicy, size: int = 64) -> None:
        self.policy = policy
        self._answers: BoundedMemo[tuple[AssociateRQ, IdentityOutcome], AssociateAC] = BoundedMemo(
            size
        )

    def negotiate(self, rq: AssociateRQ, identity: IdentityOutcome) -> AssociateAC:
        """Same result as ``negotiate(rq, self.policy, identity=identity)``."""
        if not without_identity(rq.user_information):
            return negotiate(rq, self.policy, identity=identity)
        return self._answers.remember(
            (rq, identity), lambda: negotiate(rq, self.policy, identity=identity), always
        )


def requestor_contexts(
    abstract_syntaxes: Sequence[str], transfer_syntaxes: Sequence[str]
) -> tuple[PresentationContextRQ, ...]:
    """One presentation context per abstract syntax, ids 1, 3, 5, ... (PS3.8 9.3.2.2)."""
    if len(abstract_syntaxes) > MAX_CONTEXTS:
        raise ValueError(
            f"{len(abstract_syntaxes)} abstract syntaxes: at most {MAX_CONTEXTS} presentation "
            "contexts fit in one association (PS3.8 9.3.2.2)"
        )
    if not transfer_syntaxes:
        raise ValueError("at least one transfer syntax must be proposed (PS3.8 9.3.2.2)")
    syntaxes = tuple(transfer_syntaxes)
    return tuple(
        PresentationContextRQ(2 * index + 1, uid, syntaxes)
        for index, uid in enumerate(abstract_syntaxes)
    )


def default_policy(
    models: Iterable[QueryModel] = tuple(QueryModel),
    transfer_syntaxes: Sequence[str] = ALL_TRANSFER_SYNTAXES,
    *,
    max_pdu_length: int = 16384,
) -> AcceptorPolicy:
    """A policy accepting Verification and the FIND SOP classes of ``models``."""
    syntaxes = tuple(transfer_syntaxes)
    mapping = {VERIFICATION_SOP_CLASS: syntaxes}
    mapping.update({model.sop_class_uid: syntaxes for model in models})
    return AcceptorPolicy(abstract_syntaxes=mapping, max_pdu_length=max_pdu_length)


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(message, reason=AbortReason.INVALID_PDU_PARAMETER_VALUE)


def accepted_contexts(rq: AssociateRQ, ac: AssociateAC) -> dict[int, AcceptedContext]:
    """Check an A-ASSOCIATE-AC against the RQ it answers; return the accepted contexts.

    PS3.8 9.3.3.2: each AC presentation context answers a proposed one (same id) and an
    accepted one carries one of the proposed transfer syntaxes. A violation raises
    :class:`ProtocolError` (A-ABORT reason invalid-PDU-parameter-value).
    """
    proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
    contexts: dict[int, AcceptedContext] = {}
    for pc in ac.presentation_contexts:
        asked = proposed.get(pc.context_id)
        if asked is None:
            raise _invalid(f"A-ASSOCIATE-AC answers unproposed context id {pc.context_id}")
        if pc.result != PresentationContextResult.ACCEPTANCE:
            continue
        if pc.transfer_syntax not in asked.transfer_syntaxes:
            raise _invalid(
                f"A-ASSOCIATE-AC context {pc.context_id} accepted transfer syntax "
                f"{pc.transfer_syntax!r}, which was not proposed"
            )
        contexts[pc.context_id] = AcceptedContext(
            pc.context_id, asked.abstract_syntax, pc.transfer_syntax
        )
    return contexts
