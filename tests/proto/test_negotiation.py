"""Association negotiation (PS3.8 9.3.3, PS3.7 Annex D)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aiodicom.errors import AbortReason, ProtocolError
from aiodicom.proto.negotiation import (
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLEMENTATION_CLASS_UID,
    IMPLICIT_VR_LE,
    AcceptorPolicy,
    QueryModel,
    accepted_contexts,
    check_user_identity,
    default_policy,
    negotiate,
    requestor_contexts,
)
from aiodicom.proto.pdu import PDUDecoder, encode_pdu
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
    UserIdentityType,
    UserInformation,
)

MWL = QueryModel.WORKLIST.sop_class_uid
STUDY = QueryModel.STUDY.sop_class_uid
UNKNOWN_SOP = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage: not served here


def _rq(contexts: tuple[PresentationContextRQ, ...], **user: Any) -> AssociateRQ:
    info = replace(UserInformation(max_length=32768), **user)
    return AssociateRQ("SCP", "SCU", contexts, info)


def _policy(**changes: Any) -> AcceptorPolicy:
    syntaxes = {MWL: (IMPLICIT_VR_LE, EXPLICIT_VR_LE), STUDY: (DEFLATED_EXPLICIT_VR_LE,)}
    return replace(AcceptorPolicy(abstract_syntaxes=syntaxes), **changes)


def test_presentation_context_results() -> None:
    rq = _rq(
        (
            PresentationContextRQ(1, MWL, (EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE)),
            PresentationContextRQ(3, UNKNOWN_SOP, (IMPLICIT_VR_LE,)),
            PresentationContextRQ(5, STUDY, (IMPLICIT_VR_LE, EXPLICIT_VR_LE)),
            PresentationContextRQ(7, STUDY, (EXPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE)),
        )
    )
    ac = negotiate(rq, _policy(max_pdu_length=12345))
    assert ac.presentation_contexts == (
        # the first proposed transfer syntax that we accept wins (requestor's order)
        PresentationContextAC(1, PresentationContextResult.ACCEPTANCE, EXPLICIT_VR_LE),
        PresentationContextAC(3, PresentationContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, ""),
        PresentationContextAC(5, PresentationContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, ""),
        PresentationContextAC(7, PresentationContextResult.ACCEPTANCE, DEFLATED_EXPLICIT_VR_LE),
    )
    assert ac.user_information.max_length == 12345
    assert ac.user_information.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert (ac.called_ae, ac.calling_ae) == ("SCP", "SCU")
    # the AC survives the wire, rejected contexts included
    assert PDUDecoder().feed(encode_pdu(ac)) == [ac]
    assert set(accepted_contexts(rq, ac)) == {1, 7}


def test_role_selection_replies() -> None:
    rq = _rq(
        (PresentationContextRQ(1, MWL, (IMPLICIT_VR_LE,)),),
        role_selections=(
            RoleSelection(MWL, scu_role=True, scp_role=True),
            RoleSelection(STUDY, scu_role=False, scp_role=True),
            RoleSelection(UNKNOWN_SOP, scu_role=True, scp_role=False),
        ),
    )
    ac = negotiate(rq, _policy())
    # PS3.7 D.3.3.4: we accept the requestor as SCU only; no reply for unsupported classes
    assert ac.user_information.role_selections == (
        RoleSelection(MWL, scu_role=True, scp_role=False),
        RoleSelection(STUDY, scu_role=False, scp_role=False),
    )
    assert (
        negotiate(_rq(rq.presentation_contexts), _policy()).user_information.role_selections == ()
    )


def test_extended_negotiation_is_anded_with_what_we_support() -> None:
    rq = _rq(
        (PresentationContextRQ(1, MWL, (IMPLICIT_VR_LE,)),),
        sop_class_extended=(
            SOPClassExtendedNegotiation(STUDY, b"\x01\x01\x01\x01"),
            SOPClassExtendedNegotiation(MWL, b"\x01\x01"),
            SOPClassExtendedNegotiation(UNKNOWN_SOP, b"\x01"),
        ),
    )
    policy = _policy(
        extended_negotiation={STUDY: b"\x00\x01\x01", UNKNOWN_SOP: b"\x01"},
    )
    replies = negotiate(rq, policy).user_information.sop_class_extended
    # STUDY: AND, truncated to what we know; MWL: nothing supported -> no reply;
    # UNKNOWN_SOP: not a served SOP class -> no reply
    assert replies == (SOPClassExtendedNegotiation(STUDY, b"\x00\x01\x01"),)


@pytest.mark.parametrize(
    ("proposed", "allowed", "expected"),
    [
        ((5, 3), (1, 1), (1, 1)),
        ((5, 3), (0, 0), (5, 3)),
        ((0, 2), (4, 4), (4, 2)),
        (None, (1, 1), None),
    ],
)
def test_async_operations_window(
    proposed: tuple[int, int] | None, allowed: tuple[int, int], expected: tuple[int, int] | None
) -> None:
    rq = _rq((PresentationContextRQ(1, MWL, (IMPLICIT_VR_LE,)),), async_ops_window=proposed)
    ac = negotiate(rq, _policy(async_ops_window=allowed))
    assert ac.user_information.async_ops_window == expected


def _identity(positive: bool) -> UserIdentityRQ:
    return UserIdentityRQ(UserIdentityType.USERNAME_AND_PASSCODE, positive, b"alice", b"pw")


def _validator(identity: UserIdentityRQ) -> bytes | None:
    return b"token-" + identity.primary_field if identity.secondary_field == b"pw" else None


@pytest.mark.parametrize("positive", [True, False])
def test_user_identity_accepted(positive: bool) -> None:
    rq = _rq(
        (PresentationContextRQ(1, MWL, (IMPLICIT_VR_LE,)),), user_identity_rq=_identity(positive)
    )
    policy = _policy(user_identity=_validator)
    outcome = check_user_identity(rq, policy)
    assert outcome.requested and outcome.accepted
    ac = negotiate(rq, policy, identity=outcome)
    expected = UserIdentityAC(b"token-alice") if positive else None
    assert ac.user_information.user_identity_ac == expected
    assert negotiate(rq, policy).user_information.user_identity_ac == expected


def test_user_identity_refused_and_unchecked() -> None:
    bad = UserIdentityRQ(UserIdentityType.USERNAME_AND_PASSCODE, True, b"alice", b"wrong")
    rq = _rq((PresentationContextRQ(1, MWL, (IMPLICIT_VR_LE,)),), user_identity_rq=bad)
    refused = check_user_identity(rq, _policy(user_identity=_validator))
    assert refused.requested and not refused.accepted and refused.response is None
    assert (
        negotiate(rq, _policy(user_identity=_validator)).user_information.user_identity_ac is None
    )
    unchecked = check_user_identity(rq, _policy())
    assert unchecked.accepted and unchecked.response is None
    plain = check_user_identity(_rq(rq.presentation_contexts), _policy(user_identity=_validator))
    assert not plain.requested and plain.accepted


def test_requestor_contexts_use_odd_ids() -> None:
    contexts = requestor_contexts([MWL, STUDY, UNKNOWN_SOP], [EXPLICIT_VR_LE, IMPLICIT_VR_LE])
    assert [c.context_id for c in contexts] == [1, 3, 5]
    assert [c.abstract_syntax for c in contexts] == [MWL, STUDY, UNKNOWN_SOP]
    assert all(c.transfer_syntaxes == (EXPLICIT_VR_LE, IMPLICIT_VR_LE) for c in contexts)
    assert requestor_contexts([MWL] * 128, [IMPLICIT_VR_LE])[-1].context_id == 255
    with pytest.raises(ValueError, match="at most 128"):
        requestor_contexts([MWL] * 129, [IMPLICIT_VR_LE])
    with pytest.raises(ValueError, match="transfer syntax"):
        requestor_contexts([MWL], [])


def test_accepted_contexts_checks_the_ac() -> None:
    rq = _rq(requestor_contexts([MWL, STUDY], [IMPLICIT_VR_LE]))
    ok = AssociateAC(
        "SCP",
        "SCU",
        (
            PresentationContextAC(1, PresentationContextResult.ACCEPTANCE, IMPLICIT_VR_LE),
            PresentationContextAC(3, PresentationContextResult.USER_REJECTION, ""),
        ),
    )
    contexts = accepted_contexts(rq, ok)
    assert list(contexts) == [1] and contexts[1].abstract_syntax == MWL
    wrong_ts = AssociateAC("SCP", "SCU", (PresentationContextAC(1, 0, EXPLICIT_VR_LE),))
    with pytest.raises(ProtocolError, match="not proposed") as info:
        accepted_contexts(rq, wrong_ts)
    assert info.value.reason == AbortReason.INVALID_PDU_PARAMETER_VALUE
    with pytest.raises(ProtocolError, match="unproposed context id 5"):
        accepted_contexts(rq, AssociateAC("SCP", "SCU", (PresentationContextAC(5, 3, ""),)))


def test_query_models() -> None:
    assert QueryModel.WORKLIST.sop_class_uid == "1.2.840.10008.5.1.4.31"
    assert QueryModel.PATIENT.sop_class_uid == "1.2.840.10008.5.1.4.1.2.1.1"
    assert QueryModel.STUDY.sop_class_uid == "1.2.840.10008.5.1.4.1.2.2.1"
    assert QueryModel.PATIENT_STUDY.sop_class_uid == "1.2.840.10008.5.1.4.1.2.3.1"
    for model in QueryModel:
        assert QueryModel.from_uid(model.sop_class_uid) is model
        assert QueryModel.parse(model.value) is model
        assert QueryModel.parse(model.sop_class_uid) is model
        assert QueryModel.parse(model) is model
    assert QueryModel.parse(" Patient_Study ") is QueryModel.PATIENT_STUDY
    assert QueryModel.from_uid(UNKNOWN_SOP) is None
    with pytest.raises(ValueError, match=r"unknown query model 'series'.*worklist"):
        QueryModel.parse("series")


def test_default_policy_serves_verification_and_models() -> None:
    policy = default_policy([QueryModel.STUDY], [IMPLICIT_VR_LE], max_pdu_length=0)
    assert set(policy.abstract_syntaxes) == {"1.2.840.10008.1.1", STUDY}
    rq = _rq(requestor_contexts(["1.2.840.10008.1.1", MWL], [IMPLICIT_VR_LE]))
    results = [pc.result for pc in negotiate(rq, policy).presentation_contexts]
    assert results == [0, PresentationContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED]
    assert negotiate(rq, policy).user_information.max_length == 0
