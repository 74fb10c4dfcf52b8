"""Shared helpers for the sans-IO association tests: PDUs, a wired pair, state builders."""

from __future__ import annotations

from collections.abc import Callable

from aiodicom.proto.association import Association
from aiodicom.proto.dimse import encode_command, fragment
from aiodicom.proto.events import Event, Mode
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import VERIFICATION_SOP_CLASS, CEchoRQ
from aiodicom.proto.negotiation import (
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    QueryModel,
    default_policy,
    negotiate,
    requestor_contexts,
)
from aiodicom.proto.pdata_fast import FastPath, receive_whole_pdata
from aiodicom.proto.pdu import PDUDecoder, encode_pdu
from aiodicom.proto.pdus import (
    PDU,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    ReleaseRP,
    ReleaseRQ,
    UserInformation,
)

WORKLIST = QueryModel.WORKLIST.sop_class_uid
VERIFICATION_CTX = 1
WORKLIST_CTX = 3


def make_rq(max_length: int = 16384, protocol_version: int = 1) -> AssociateRQ:
    """An RQ proposing Verification (context 1) and MWL FIND (context 3)."""
    return AssociateRQ(
        called_ae="ANY-SCP",
        calling_ae="TEST-SCU",
        presentation_contexts=requestor_contexts(
            [VERIFICATION_SOP_CLASS, WORKLIST], [EXPLICIT_VR_LE, IMPLICIT_VR_LE]
        ),
        user_information=UserInformation(max_length=max_length),
        protocol_version=protocol_version,
    )


def make_ac(rq: AssociateRQ, max_length: int = 16384) -> AssociateAC:
    return negotiate(rq, default_policy(max_pdu_length=max_length))


RQ = make_rq()
AC = make_ac(RQ)
RJ = AssociateRJ(result=1, source=1, reason=7)
ECHO_PDATA = fragment(VERIFICATION_CTX, encode_command(CEchoRQ(7)), None, 0)[0]
GARBAGE = b"\x09\x00\x00\x00\x00\x00"  # PDU type 0x09 does not exist (PS3.8 9.3.1)


def sent_pdus(assoc: Association) -> list[PDU]:
    """Drain and decode what the association wants to send."""
    return PDUDecoder(0).feed(assoc.data_to_send())


def pump(src: Association, dst: Association) -> list[Event]:
    """Deliver everything ``src`` queued to ``dst``."""
    data = src.data_to_send()
    return dst.receive_data(data) if data else []


def established(
    requestor_max: int = 16384,
    acceptor_max: int = 16384,
    *,
    fast_path: FastPath | None = receive_whole_pdata,
) -> tuple[Association, Association]:
    """A requestor and an acceptor wired in memory, both in Sta6 (``fast_path=None``: both
    built on the general P-DATA-TF path only)."""
    req = Association(Mode.REQUESTOR, max_pdu_length=requestor_max, fast_path=fast_path)
    acc = Association(Mode.ACCEPTOR, max_pdu_length=acceptor_max, fast_path=fast_path)
    rq = make_rq(requestor_max)
    req.request(rq)
    req.connection_made()
    acc.connection_made()
    pump(req, acc)
    acc.accept(make_ac(rq, acceptor_max))
    pump(acc, req)
    assert req.state is State.STA6 and acc.state is State.STA6
    return req, acc


def _feed(assoc: Association, pdu: PDU) -> Association:
    assoc.receive_data(encode_pdu(pdu))
    return assoc


def _acceptor_sta2() -> Association:
    acc = Association(Mode.ACCEPTOR)
    acc.connection_made()
    return acc


def _acceptor_sta3() -> Association:
    return _feed(_acceptor_sta2(), RQ)


def _requestor_sta4() -> Association:
    req = Association(Mode.REQUESTOR)
    req.request(RQ)
    return req


def _requestor_sta5() -> Association:
    req = _requestor_sta4()
    req.connection_made()
    return req


def _sta6(mode: Mode) -> Association:
    if mode is Mode.REQUESTOR:
        return _feed(_requestor_sta5(), AC)
    acc = _acceptor_sta3()
    acc.accept(AC)
    return acc


def _sta7(mode: Mode) -> Association:
    assoc = _sta6(mode)
    assoc.release()
    return assoc


def _collision(mode: Mode) -> Association:
    """Sta9 (requestor) or Sta10 (acceptor): both sides sent an A-RELEASE-RQ."""
    return _feed(_sta7(mode), ReleaseRQ())


def _requestor_sta11() -> Association:
    req = _collision(Mode.REQUESTOR)
    req.release_response()
    return req


def _requestor_sta13() -> Association:
    req = _sta6(Mode.REQUESTOR)
    req.abort()
    return req


def _acceptor_sta13() -> Association:
    acc = _acceptor_sta3()
    acc.reject(RJ)
    return acc


R, A = Mode.REQUESTOR, Mode.ACCEPTOR
BUILDERS: dict[tuple[Mode, State], Callable[[], Association]] = {
    (R, State.STA1): lambda: Association(R),
    (A, State.STA1): lambda: Association(A),
    (A, State.STA2): _acceptor_sta2,
    (A, State.STA3): _acceptor_sta3,
    (R, State.STA4): _requestor_sta4,
    (R, State.STA5): _requestor_sta5,
    (R, State.STA6): lambda: _sta6(R),
    (A, State.STA6): lambda: _sta6(A),
    (R, State.STA7): lambda: _sta7(R),
    (A, State.STA7): lambda: _sta7(A),
    (R, State.STA8): lambda: _feed(_sta6(R), ReleaseRQ()),
    (A, State.STA8): lambda: _feed(_sta6(A), ReleaseRQ()),
    (R, State.STA9): lambda: _collision(R),
    (A, State.STA10): lambda: _collision(A),
    (R, State.STA11): _requestor_sta11,
    (A, State.STA12): lambda: _feed(_collision(A), ReleaseRP()),
    (R, State.STA13): _requestor_sta13,
    (A, State.STA13): _acceptor_sta13,
}


def build(mode: Mode, state: State) -> Association:
    """A fresh association of ``mode`` in ``state`` with nothing left to send."""
    assoc = BUILDERS[mode, state]()
    assert assoc.state is state, (mode, state, assoc.state)
    assoc.data_to_send()
    return assoc


ABORT_PDU = Abort(source=0, reason=0)


def state_of(assoc: Association) -> State:
    """The current state, read through a call so mypy does not narrow it between steps."""
    return assoc.state
