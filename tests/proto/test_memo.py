"""The memoized fast paths of association set-up and DIMSE equal the general paths.

Every memo (:mod:`aiodicom.proto.memo`) must return exactly what the unmemoized function
computes, on the first call (miss) and on later calls (hit), never keep PDUs carrying a
user identity (PS3.7 D.3.3.7), and never remember a failure.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.bounded import BoundedMemo
from aiodicom.errors import LocalProtocolError, ProtocolError
from aiodicom.proto import dimse, pdu_associate
from aiodicom.proto.command_set import decode_command_and_flag, encode_command
from aiodicom.proto.dimse import MessageAssembler, encode_command_memo
from aiodicom.proto.memo import always, without_identity
from aiodicom.proto.messages import VERIFICATION_SOP_CLASS, CEchoRQ, CFindRSP, DimseCommand
from aiodicom.proto.negotiation import (
    AcceptorPolicy,
    NegotiationMemo,
    check_user_identity,
    default_policy,
    negotiate,
)
from aiodicom.proto.pdu import PDUDecoder, encode_pdu
from aiodicom.proto.pdus import (
    PDV,
    AssociateAC,
    AssociateRQ,
    PDUType,
    PresentationContextRQ,
    UserIdentityRQ,
    UserInformation,
)
from tests.proto import pdu_strategies as pst
from tests.proto.test_dimse import commands

WORKLIST = "1.2.840.10008.5.1.4.31"
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def _general_encode(pdu: AssociateRQ | AssociateAC) -> bytes:
    return pdu_associate._encode_rq_ac(pdu)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _memo_holds(memo: BoundedMemo[K, V], key: K) -> bool:
    return memo.get(key) is not None


# -- BoundedMemo ----------------------------------------------------------------------


def test_memo_is_bounded_and_evicts_the_oldest_first() -> None:
    memo: BoundedMemo[int, str] = BoundedMemo(3)
    for key in range(5):
        memo.put(key, str(key))
    assert len(memo) == 3
    assert [memo.get(k) for k in range(5)] == [None, None, "2", "3", "4"]


def test_memo_skips_unhashable_keys_and_remembers_no_failure() -> None:
    memo: BoundedMemo[object, int] = BoundedMemo(4)
    assert memo.remember([1, 2], lambda: 7, always) == 7  # unhashable: computed, not kept
    assert len(memo) == 0
    calls = []

    def failing() -> int:
        calls.append(1)
        raise ValueError("bad")

    for _ in range(2):
        with pytest.raises(ValueError):
            memo.remember("k", failing, always)
    assert len(calls) == 2 and len(memo) == 0
    assert memo.remember("k", lambda: 1, lambda value: False) == 1
    assert len(memo) == 0  # ``keep`` said no
    with pytest.raises(ValueError):
        BoundedMemo(0)


# -- A-ASSOCIATE-RQ/AC encode and decode ------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.one_of(pst.associate_rqs(), pst.associate_acs()))
def test_encode_memo_equals_the_general_path(pdu: AssociateRQ | AssociateAC) -> None:
    try:
        expected = _general_encode(pdu)
    except LocalProtocolError:
        for _ in range(2):  # a refused PDU is refused every time, never remembered
            with pytest.raises(LocalProtocolError):
                encode_pdu(pdu)
        return
    assert encode_pdu(pdu) == expected  # miss
    assert encode_pdu(pdu) == expected  # hit (or not kept)
    kept = _memo_holds(pdu_associate._ENCODED, pdu)
    assert kept == without_identity(pdu.user_information)


@settings(max_examples=150, deadline=None)
@given(st.one_of(pst.associate_rqs(), pst.associate_acs()))
def test_decode_memo_equals_the_general_path(pdu: AssociateRQ | AssociateAC) -> None:
    try:
        data = _general_encode(pdu)
    except LocalProtocolError:
        return
    pdu_type, body = data[0], data[6:]
    expected = pdu_associate._decode_associate(pdu_type, body)
    first = PDUDecoder(max_pdu_length=0).feed(data)
    second = PDUDecoder(max_pdu_length=0).feed(data)
    assert first == second == [expected]
    kept = _memo_holds(pdu_associate._DECODED, (pdu_type, body))
    assert kept == without_identity(expected.user_information)
    if kept:
        assert first[0] is second[0]  # the hit returns the remembered (immutable) PDU


def test_decode_memo_never_remembers_an_invalid_pdu() -> None:
    rq = AssociateRQ("SCP", "SCU", (PresentationContextRQ(1, WORKLIST, (EXPLICIT_LE,)),))
    data = bytearray(encode_pdu(rq))
    data[74] = 0x20 + 0x0F  # application context item type -> unknown type 0x2F is skipped
    bad = bytes(data)
    for _ in range(2):
        with pytest.raises(ProtocolError):
            PDUDecoder().feed(bad)  # no application context item left (PS3.8 9.3.2)
    assert not _memo_holds(pdu_associate._DECODED, (PDUType.A_ASSOCIATE_RQ, bad[6:]))


def test_an_rq_with_a_user_identity_is_never_remembered() -> None:
    identity = UserIdentityRQ(2, False, b"user", b"secret passcode")
    rq = AssociateRQ(
        "SCP",
        "SCU",
        (PresentationContextRQ(1, WORKLIST, (EXPLICIT_LE,)),),
        UserInformation(max_length=16384, user_identity_rq=identity),
    )
    data = encode_pdu(rq)
    assert PDUDecoder().feed(data) == [rq]
    assert not _memo_holds(pdu_associate._ENCODED, rq)
    assert not _memo_holds(pdu_associate._DECODED, (1, data[6:]))


# -- negotiation ----------------------------------------------------------------------


_POLICIES = st.sampled_from(
    [
        default_policy(),
        default_policy(transfer_syntaxes=(IMPLICIT_LE,), max_pdu_length=0),
        AcceptorPolicy(
            {WORKLIST: (EXPLICIT_LE,), VERIFICATION_SOP_CLASS: (IMPLICIT_LE,)},
            async_ops_window=(4, 0),
            extended_negotiation={WORKLIST: b"\x01\x00\x01"},
            user_identity=lambda identity: b"ok" if identity.primary_field else None,
        ),
    ]
)


@settings(max_examples=150, deadline=None)
@given(pst.realistic_associate(True), _POLICIES)
def test_negotiation_memo_equals_negotiate(rq: AssociateRQ, policy: AcceptorPolicy) -> None:
    memo = NegotiationMemo(policy)
    identity = check_user_identity(rq, policy)
    expected = negotiate(rq, policy, identity=identity)
    first = memo.negotiate(rq, identity)
    assert first == expected
    assert memo.negotiate(rq, identity) == expected
    assert (memo.negotiate(rq, identity) is first) == without_identity(rq.user_information)


def test_negotiation_memo_follows_the_policy_it_was_made_for() -> None:
    rq = AssociateRQ(
        "SCP", "SCU", (PresentationContextRQ(1, WORKLIST, (IMPLICIT_LE, EXPLICIT_LE)),)
    )
    identity = check_user_identity(rq, default_policy())
    implicit_first = NegotiationMemo(default_policy(transfer_syntaxes=(IMPLICIT_LE,)))
    explicit_only = NegotiationMemo(default_policy(transfer_syntaxes=(EXPLICIT_LE,)))
    chosen = [
        memo.negotiate(rq, identity).presentation_contexts[0].transfer_syntax
        for memo in (implicit_first, explicit_only, implicit_first)
    ]
    assert chosen == [IMPLICIT_LE, EXPLICIT_LE, IMPLICIT_LE]


# -- DIMSE command sets -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(commands, st.booleans())
def test_command_encode_memo_equals_encode_command(command: DimseCommand, flag: bool) -> None:
    expected = encode_command(command, has_data_set=flag)
    assert encode_command_memo(command, flag) == expected
    assert encode_command_memo(command, flag) == expected


@settings(max_examples=200, deadline=None)
@given(commands, st.booleans())
def test_command_decode_memo_equals_the_decoder(command: DimseCommand, flag: bool) -> None:
    data = encode_command(command, has_data_set=flag)
    try:
        expected = decode_command_and_flag(data)
    except ProtocolError:  # e.g. a C-FIND-RQ without identifier: refused every time
        for _ in range(2):
            with pytest.raises(ProtocolError):
                dimse._decode_command(data)
        return
    assert dimse._decode_command(data) == expected
    assert dimse._decode_command(data) == expected


def test_assembler_results_do_not_depend_on_the_memo() -> None:
    data = encode_command(CEchoRQ(1))
    for _ in range(3):
        assert MessageAssembler().add(PDV(1, True, True, data)) == (1, CEchoRQ(1), None)
    broken = data[:-2]
    for _ in range(2):  # malformed input raises each time, nothing is remembered
        with pytest.raises(ProtocolError):
            MessageAssembler().add(PDV(1, True, True, broken))


def test_pending_template_builds_each_status_on_first_use() -> None:
    template = dimse.PendingFindTemplate(7, WORKLIST)
    for status in (0xFF01, 0xFF00, 0xFF01):
        expected = encode_command(CFindRSP(7, WORKLIST, status, has_data_set=True))
        assert template.encode(status) == expected
    with pytest.raises(LocalProtocolError):
        template.encode(0x0000)
