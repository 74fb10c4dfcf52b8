"""Sans-IO association scenarios: a requestor and an acceptor wired together in memory."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest

from aiodicom.errors import AbortReason, AbortSource, LocalProtocolError, ProtocolError
from aiodicom.proto.association import PROTOCOL_VERSION_RJ, Association
from aiodicom.proto.dimse import PendingFindTemplate, encode_command, fragment
from aiodicom.proto.events import (
    Aborted,
    AcceptedContext,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequested,
    ConnectionClosed,
    MessageReceived,
    Mode,
    ReleaseCompleted,
    ReleaseRequested,
)
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CEchoRQ, CEchoRSP, CFindRQ, CFindRSP
from aiodicom.proto.negotiation import EXPLICIT_VR_LE
from aiodicom.proto.pdu import encode_pdu
from aiodicom.proto.pdus import (
    PDV,
    Abort,
    AssociateAC,
    PDataTF,
    PresentationContextAC,
    ReleaseRP,
    ReleaseRQ,
)
from tests.proto.assoc_support import (
    AC,
    RJ,
    RQ,
    VERIFICATION_CTX,
    WORKLIST,
    WORKLIST_CTX,
    build,
    established,
    make_ac,
    make_rq,
    pump,
    sent_pdus,
    state_of,
)


def test_establishment_negotiates_contexts_and_max_lengths() -> None:
    req = Association(Mode.REQUESTOR, max_pdu_length=4000)
    acc = Association(Mode.ACCEPTOR, max_pdu_length=9000)
    req.connection_made()  # connecting first, requesting later, is allowed
    assert state_of(req) is State.STA1 and req.data_to_send() == b""
    rq = make_rq(max_length=4000)
    req.request(rq)
    assert state_of(req) is State.STA5
    acc.connection_made()
    assert state_of(acc) is State.STA2 and acc.artim_running
    assert pump(req, acc) == [AssociationRequested(rq)]
    assert state_of(acc) is State.STA3 and not acc.artim_running
    ac = make_ac(rq, max_length=9000)
    acc.accept(ac)
    assert pump(acc, req) == [AssociationAccepted(ac)]
    expected = {
        VERIFICATION_CTX: AcceptedContext(VERIFICATION_CTX, "1.2.840.10008.1.1", EXPLICIT_VR_LE),
        WORKLIST_CTX: AcceptedContext(WORKLIST_CTX, WORKLIST, EXPLICIT_VR_LE),
    }
    assert req.contexts == expected == acc.contexts
    assert req.peer_max_pdu_length == 9000
    assert acc.peer_max_pdu_length == 4000
    assert (state_of(req), state_of(acc)) == (State.STA6, State.STA6)
    assert not (req.wants_close or acc.wants_close)


def test_reject_then_requestor_closes() -> None:
    req, acc = build(Mode.REQUESTOR, State.STA5), build(Mode.ACCEPTOR, State.STA3)
    acc.reject(RJ)
    assert state_of(acc) is State.STA13 and acc.artim_running and not acc.wants_close
    assert pump(acc, req) == [AssociationRejected(RJ)]
    assert state_of(req) is State.STA1 and req.wants_close
    assert acc.connection_lost() == [ConnectionClosed()]
    assert state_of(acc) is State.STA1 and not acc.artim_running


def test_unsupported_protocol_version_is_rejected_by_the_provider() -> None:
    acc = build(Mode.ACCEPTOR, State.STA2)
    events = acc.receive_data(encode_pdu(make_rq(protocol_version=2)))
    assert events == [AssociationRejected(PROTOCOL_VERSION_RJ)]
    assert sent_pdus(acc) == [PROTOCOL_VERSION_RJ]
    assert state_of(acc) is State.STA13 and acc.artim_running


def test_normal_release() -> None:
    req, acc = established()
    req.release()
    assert state_of(req) is State.STA7
    assert pump(req, acc) == [ReleaseRequested()]
    assert state_of(acc) is State.STA8
    acc.release_response()
    assert state_of(acc) is State.STA13 and acc.artim_running
    assert pump(acc, req) == [ReleaseCompleted()]
    assert state_of(req) is State.STA1 and req.wants_close
    assert req.connection_lost() == [ConnectionClosed()]
    assert acc.connection_lost() == [ConnectionClosed()]
    assert state_of(acc) is State.STA1 and not acc.artim_running


def test_acceptor_may_still_send_after_release_request() -> None:
    req, acc = established()
    req.release()
    pump(req, acc)
    acc.send_message(VERIFICATION_CTX, CEchoRSP(5))  # AR-7 in Sta8
    acc.release_response()
    events = pump(acc, req)  # AR-6 then AR-3
    assert events == [MessageReceived(VERIFICATION_CTX, CEchoRSP(5), None), ReleaseCompleted()]


def test_release_collision() -> None:
    req, acc = established()
    req.release()
    acc.release()
    to_acc, to_req = req.data_to_send(), acc.data_to_send()
    assert req.receive_data(to_req) == [ReleaseRequested()]
    assert acc.receive_data(to_acc) == [ReleaseRequested()]
    assert (state_of(req), state_of(acc)) == (State.STA9, State.STA10)
    acc.release_response()  # deferred until the requestor's A-RELEASE-RP (AR-10)
    assert state_of(acc) is State.STA10 and acc.data_to_send() == b""
    req.release_response()
    assert state_of(req) is State.STA11
    assert pump(req, acc) == [ReleaseCompleted()]
    assert state_of(acc) is State.STA13 and acc.artim_running
    assert pump(acc, req) == [ReleaseCompleted()]
    assert state_of(req) is State.STA1 and req.wants_close


def test_release_collision_acceptor_answers_after_confirmation() -> None:
    req, acc = established()
    req.release()
    acc.release()
    req.receive_data(acc.data_to_send())
    acc.receive_data(req.data_to_send())
    req.release_response()
    assert pump(req, acc) == [ReleaseCompleted()]
    assert state_of(acc) is State.STA12
    acc.release_response()  # AR-4
    assert sent_pdus(acc) == [ReleaseRP()]
    assert state_of(acc) is State.STA13


def test_user_abort() -> None:
    req, acc = established()
    req.abort()
    assert state_of(req) is State.STA13 and req.wants_close and req.artim_running
    assert pump(req, acc) == [Aborted(0, 0, by_peer=True, error=None)]
    assert state_of(acc) is State.STA1 and acc.wants_close
    assert req.connection_lost() == [ConnectionClosed()]
    assert state_of(req) is State.STA1 and not req.artim_running


def test_abort_before_connecting_just_closes() -> None:
    req = build(Mode.REQUESTOR, State.STA4)
    req.abort()
    assert state_of(req) is State.STA1 and req.wants_close and req.data_to_send() == b""


def test_artim_expiry_waiting_for_rq() -> None:
    acc = build(Mode.ACCEPTOR, State.STA2)
    events = acc.artim_expired()
    assert events == [Aborted(AbortSource.SERVICE_PROVIDER, 0, by_peer=False, error=None)]
    assert state_of(acc) is State.STA1 and acc.wants_close and not acc.artim_running
    assert acc.data_to_send() == b""
    assert acc.artim_expired() == []  # a stale timer firing again changes nothing


def test_artim_expiry_in_sta13() -> None:
    acc = build(Mode.ACCEPTOR, State.STA13)
    assert acc.artim_running and not acc.wants_close
    assert acc.artim_expired() == []
    assert state_of(acc) is State.STA1 and acc.wants_close and not acc.artim_running


def test_connection_lost_while_established() -> None:
    req, _acc = established()
    events = req.connection_lost()
    assert events == [Aborted(2, 0, by_peer=False, error=None), ConnectionClosed()]
    assert state_of(req) is State.STA1
    assert req.receive_data(encode_pdu(ReleaseRQ())) == []


def _pdu_lengths(data: bytes) -> list[int]:
    lengths, pos = [], 0
    while pos < len(data):
        pdu_type, _, length = struct.unpack_from(">BBI", data, pos)
        assert pdu_type == 0x04
        lengths.append(length)
        pos += 6 + length
    return lengths


def test_pdata_fragmented_to_small_peer_maximum() -> None:
    req, acc = established(requestor_max=200, acceptor_max=120)
    identifier = bytes(range(256)) * 4
    req.send_message(WORKLIST_CTX, CFindRQ(1, WORKLIST), identifier)
    data = req.data_to_send()
    lengths = _pdu_lengths(data)
    assert len(lengths) > 8 and max(lengths) <= 120
    events = []
    for start in range(0, len(data), 37):  # arbitrary TCP segmentation
        events.extend(acc.receive_data(data[start : start + 37]))
    assert events == [MessageReceived(WORKLIST_CTX, CFindRQ(1, WORKLIST), identifier)]
    template = PendingFindTemplate(1, WORKLIST)
    for _ in range(3):
        acc.send_raw_message(WORKLIST_CTX, template.encode(), identifier[:500])
    acc.send_message(WORKLIST_CTX, CFindRSP(1, WORKLIST, 0x0000))
    data = acc.data_to_send()
    assert max(_pdu_lengths(data)) <= 200
    events = req.receive_data(data)
    pending = MessageReceived(
        WORKLIST_CTX, CFindRSP(1, WORKLIST, 0xFF00, has_data_set=True), identifier[:500]
    )
    final = MessageReceived(WORKLIST_CTX, CFindRSP(1, WORKLIST, 0), None)
    assert events == [pending] * 3 + [final]


def test_send_on_unknown_context_is_a_local_error() -> None:
    req, _acc = established()
    with pytest.raises(LocalProtocolError, match="context 5"):
        req.send_message(5, CEchoRQ(1))
    with pytest.raises(LocalProtocolError, match="context 7"):
        req.send_raw_message(7, encode_command(CEchoRQ(1)), None)
    assert state_of(req) is State.STA6 and req.data_to_send() == b""


def test_send_before_establishment_is_a_local_error() -> None:
    req = build(Mode.REQUESTOR, State.STA5)
    with pytest.raises(LocalProtocolError, match="Evt9"):
        req.send_message(VERIFICATION_CTX, CEchoRQ(1))


def _assert_provider_abort(
    assoc: Association, events: Sequence[object], reason: int, peer: Association
) -> None:
    assert len(events) == 1 and isinstance(events[0], Aborted)
    aborted = events[0]
    assert (aborted.source, aborted.reason, aborted.by_peer) == (2, reason, False)
    assert isinstance(aborted.error, ProtocolError) and aborted.error.reason == reason
    assert state_of(assoc) is State.STA13 and assoc.wants_close and assoc.artim_running
    assert pump(assoc, peer) == [Aborted(2, reason, by_peer=True, error=None)]


def test_pdv_on_unknown_context_aborts() -> None:
    req, acc = established()
    data = fragment(5, encode_command(CEchoRQ(1)), None, 0)[0]
    events = acc.receive_data(data)
    _assert_provider_abort(acc, events, AbortReason.INVALID_PDU_PARAMETER_VALUE, req)


def test_data_before_command_aborts() -> None:
    req, acc = established()
    pdata = PDataTF((PDV(WORKLIST_CTX, is_command=False, is_last=True, data=b"\x00" * 8),))
    events = acc.receive_data(encode_pdu(pdata))
    _assert_provider_abort(acc, events, AbortReason.UNEXPECTED_PDU_PARAMETER, req)


def test_garbage_from_peer_aborts_and_later_bytes_are_ignored() -> None:
    req, acc = established()
    events = acc.receive_data(b"\xff" * 12)
    _assert_provider_abort(acc, events, AbortReason.UNRECOGNIZED_PDU, req)
    assert acc.receive_data(encode_pdu(ReleaseRQ())) == []
    assert acc.data_to_send() == b""


def test_unexpected_pdu_aborts() -> None:
    req, acc = established()
    events = req.receive_data(encode_pdu(RQ))  # an A-ASSOCIATE-RQ in Sta6: AA-8
    _assert_provider_abort(req, events, AbortReason.UNEXPECTED_PDU, acc)


def test_pdata_before_rq_aborts_in_sta2() -> None:
    acc = build(Mode.ACCEPTOR, State.STA2)
    events = acc.receive_data(encode_pdu(ReleaseRP()))  # AA-1
    assert isinstance(events[0], Aborted) and events[0].reason == AbortReason.UNEXPECTED_PDU
    assert sent_pdus(acc) == [Abort(2, AbortReason.UNEXPECTED_PDU)]
    assert state_of(acc) is State.STA13 and acc.wants_close


def test_ac_answering_an_unproposed_context_aborts() -> None:
    req = build(Mode.REQUESTOR, State.STA5)
    bad = AssociateAC(
        "ANY-SCP", "TEST-SCU", (PresentationContextAC(9, 0, EXPLICIT_VR_LE),), AC.user_information
    )
    events = req.receive_data(encode_pdu(bad))
    assert isinstance(events[0], Aborted) and "unproposed context id 9" in str(events[0].error)
    assert state_of(req) is State.STA13 and req.contexts == {}
    assert sent_pdus(req) == [Abort(2, AbortReason.INVALID_PDU_PARAMETER_VALUE)]


def test_accept_with_inconsistent_ac_is_a_local_error() -> None:
    acc = build(Mode.ACCEPTOR, State.STA3)
    bad = AssociateAC("ANY-SCP", "TEST-SCU", (PresentationContextAC(1, 0, "1.2.3"),))
    with pytest.raises(LocalProtocolError, match="not proposed"):
        acc.accept(bad)
    assert state_of(acc) is State.STA3 and acc.data_to_send() == b""


def test_pdus_after_close_in_the_same_chunk_are_dropped() -> None:
    req, _acc = established()
    data = encode_pdu(Abort(0, 0)) + encode_pdu(ReleaseRQ())
    events = req.receive_data(data)
    assert events == [Aborted(0, 0, by_peer=True, error=None)]
    assert state_of(req) is State.STA1 and req.data_to_send() == b""


def test_message_split_across_pdus_then_release_in_same_chunk() -> None:
    req, acc = established(acceptor_max=60)
    req.send_message(VERIFICATION_CTX, CEchoRQ(3))
    req_bytes = req.data_to_send()
    req.release()
    events = acc.receive_data(req_bytes + req.data_to_send())
    assert events == [MessageReceived(VERIFICATION_CTX, CEchoRQ(3), None), ReleaseRequested()]
    assert state_of(acc) is State.STA8
    assert acc.data_to_send() == b""
