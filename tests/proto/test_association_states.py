"""The Association driven over every (state, event) pair of PS3.8 Table 9-10.

Each reachable (mode, state) is built by a real exchange, then each event is produced
through the public API (a local primitive call, received PDU bytes, a transport or timer
notification). The outcome must be the table's next state and the action's PDU, or a
LocalProtocolError with nothing changed: never any other exception.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import LocalProtocolError
from aiodicom.proto.association import Association
from aiodicom.proto.events import (
    Aborted,
    ConnectionClosed,
    MessageReceived,
    Mode,
    ReleaseRequested,
)
from aiodicom.proto.events import Event as AssocEvent
from aiodicom.proto.fsm import PDU_EVENTS, TRANSITIONS, Action, Event, State
from aiodicom.proto.messages import CEchoRQ
from aiodicom.proto.pdu import PDUDecoder, encode_pdu
from aiodicom.proto.pdus import (
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    ReleaseRP,
    ReleaseRQ,
)
from tests.proto.assoc_support import (
    ABORT_PDU,
    AC,
    BUILDERS,
    ECHO_PDATA,
    GARBAGE,
    RJ,
    RQ,
    VERIFICATION_CTX,
    build,
)

Apply = Callable[[Association], list[AssocEvent]]


def _call(method: Callable[[], object]) -> list[AssocEvent]:
    method()
    return []


PDU_BYTES: dict[Event, bytes] = {
    Event.EVT3: encode_pdu(AC),
    Event.EVT4: encode_pdu(RJ),
    Event.EVT6: encode_pdu(RQ),
    Event.EVT10: ECHO_PDATA,
    Event.EVT12: encode_pdu(ReleaseRQ()),
    Event.EVT13: encode_pdu(ReleaseRP()),
    Event.EVT16: encode_pdu(ABORT_PDU),
    Event.EVT19: GARBAGE,
}
"""The bytes of one PDU producing each PDU event (PS3.8 9.2.3)."""

APPLY: dict[Event, Apply] = {
    Event.EVT1: lambda a: _call(lambda: a.request(RQ)),
    Event.EVT2: lambda a: _call(a.connection_made),
    Event.EVT3: lambda a: a.receive_data(PDU_BYTES[Event.EVT3]),
    Event.EVT4: lambda a: a.receive_data(PDU_BYTES[Event.EVT4]),
    Event.EVT5: lambda a: _call(a.connection_made),
    Event.EVT6: lambda a: a.receive_data(PDU_BYTES[Event.EVT6]),
    Event.EVT7: lambda a: _call(lambda: a.accept(AC)),
    Event.EVT8: lambda a: _call(lambda: a.reject(RJ)),
    Event.EVT9: lambda a: _call(lambda: a.send_message(VERIFICATION_CTX, CEchoRQ(9))),
    Event.EVT10: lambda a: a.receive_data(PDU_BYTES[Event.EVT10]),
    Event.EVT11: lambda a: _call(a.release),
    Event.EVT12: lambda a: a.receive_data(PDU_BYTES[Event.EVT12]),
    Event.EVT13: lambda a: a.receive_data(PDU_BYTES[Event.EVT13]),
    Event.EVT14: lambda a: _call(a.release_response),
    Event.EVT15: lambda a: _call(a.abort),
    Event.EVT16: lambda a: a.receive_data(PDU_BYTES[Event.EVT16]),
    Event.EVT17: lambda a: a.connection_lost(),
    Event.EVT18: lambda a: a.artim_expired(),
    Event.EVT19: lambda a: a.receive_data(PDU_BYTES[Event.EVT19]),
}

SENT_BY_ACTION: dict[Action, list[type]] = {
    Action.AE_2: [AssociateRQ],
    Action.AE_7: [AssociateAC],
    Action.AE_8: [AssociateRJ],
    Action.DT_1: [PDataTF],
    Action.AR_7: [PDataTF],
    Action.AR_1: [ReleaseRQ],
    Action.AR_4: [ReleaseRP],
    Action.AR_9: [ReleaseRP],
    Action.AA_1: [Abort],
    Action.AA_7: [Abort],
    Action.AA_8: [Abort],
}

# connection_made() produces Evt2 on a requestor and Evt5 on an acceptor
CONNECT_EVENT = {Mode.REQUESTOR: Event.EVT2, Mode.ACCEPTOR: Event.EVT5}

CASES = [
    (mode, state, event)
    for (mode, state) in BUILDERS
    for event in Event
    if event not in (Event.EVT2, Event.EVT5) or CONNECT_EVENT[mode] is event
]


def _sent_types(assoc: Association) -> list[type]:
    return [type(pdu) for pdu in PDUDecoder(0).feed(assoc.data_to_send())]


def _no_table_cell_outcome(assoc: Association, mode: Mode, state: State, event: Event) -> None:
    """Empty cell: LocalProtocolError, except the documented no-op inputs."""
    no_transport = state in (State.STA1, State.STA4)
    noop = (
        (event in PDU_EVENTS and no_transport)  # bytes without a connection are dropped
        or (event is Event.EVT17 and state is State.STA1)  # we had closed it already
        or event is Event.EVT18  # a stale ARTIM timer: it is not running in this state
        or (event is Event.EVT14 and state is State.STA10)  # response deferred to AR-10
        or (event is Event.EVT2 and state is State.STA1)  # connected before request()
    )
    if noop:
        events = APPLY[event](assoc)
        assert all(isinstance(e, ConnectionClosed) for e in events)
    else:
        with pytest.raises(LocalProtocolError):
            APPLY[event](assoc)
    assert assoc.state is state
    assert assoc.data_to_send() == b""


@pytest.mark.parametrize(("mode", "state", "event"), CASES, ids=str)
def test_every_state_event_pair(mode: Mode, state: State, event: Event) -> None:
    assoc = build(mode, state)
    cell = TRANSITIONS.get((state, event))
    if event is Event.EVT1 and mode is Mode.ACCEPTOR:
        cell = None  # an acceptor never issues an A-ASSOCIATE request
    if cell is None:
        _no_table_cell_outcome(assoc, mode, state, event)
        return
    action, next_state = cell
    if action is Action.AR_8 and mode is Mode.ACCEPTOR:
        next_state = State.STA10  # PS3.8 9.2.2 AR-8: Sta10 when not the requestor
    events = APPLY[event](assoc)
    assert assoc.state is next_state
    assert _sent_types(assoc) == SENT_BY_ACTION.get(action, [])
    if action in (Action.AA_8, Action.AA_4) or (action is Action.AA_1 and event != Event.EVT15):
        assert [type(e) for e in events][:1] == [Aborted]
        assert isinstance(events[0], Aborted) and not events[0].by_peer
    if action is Action.AA_3:
        assert isinstance(events[0], Aborted) and events[0].by_peer
    if action in (Action.DT_2, Action.AR_6):
        assert events == [MessageReceived(VERIFICATION_CTX, CEchoRQ(7), None)]
    if next_state in (State.STA2, State.STA13):
        assert assoc.artim_running
    if next_state is State.STA1:
        assert not assoc.artim_running


OPERATIONS = sorted(APPLY, key=lambda e: int(e.value[3:]))
PDU_ORDER = sorted(PDU_BYTES, key=lambda e: int(e.value[3:]))


def _answer_release(assoc: Association, events: list[AssocEvent]) -> None:
    """Answer each A-RELEASE indication as the SCP does: only while a response is due
    (a later PDU of the same read may have aborted the association meanwhile)."""
    for event in events:
        if isinstance(event, ReleaseRequested) and assoc.awaiting_release_response:
            assoc.release_response()


@pytest.mark.parametrize("event", PDU_ORDER, ids=str)
@pytest.mark.parametrize("mode", [Mode.REQUESTOR, Mode.ACCEPTOR], ids=str)
def test_release_request_then_another_pdu_in_one_read(mode: Mode, event: Event) -> None:
    """A-RELEASE-RQ and another PDU in one read (issue 15.1).

    PS3.8 Table 9-10: the A-RELEASE-RQ in Sta6 is AR-2 (A-RELEASE indication, Sta8); the
    next PDU is an event in Sta8, where every PDU but A-ABORT is AA-8 (A-ABORT sent,
    Sta13) and A-ABORT is AA-3 (Sta1); undecodable bytes abort the whole read (AA-8 from
    Sta6, same outcome). Either way no A-RELEASE response is due any
    more, and answering the indication as the SCP does raises nothing.
    """
    assoc = build(mode, State.STA6)
    events = assoc.receive_data(PDU_BYTES[Event.EVT12] + PDU_BYTES[event])
    action, next_state = TRANSITIONS[State.STA8, event]
    if event is not Event.EVT19:  # an unframeable read is refused whole (PDUDecoder.feed)
        assert isinstance(events[0], ReleaseRequested)
    assert assoc.state is next_state
    assert _sent_types(assoc) == SENT_BY_ACTION.get(action, [])
    assert isinstance(events[-1], Aborted)
    assert events[-1].by_peer is (action is Action.AA_3)
    assert not assoc.awaiting_release_response
    _answer_release(assoc, events)
    assert assoc.state is next_state
    assert assoc.data_to_send() == b""


def test_release_response_is_due_only_in_the_release_states() -> None:
    """PS3.8 Table 9-10, Evt14 column: Sta8, Sta9, Sta12 (and Sta10, deferred to AR-10)."""
    for (mode, state), _builder in BUILDERS.items():
        due = state in (State.STA8, State.STA9, State.STA10, State.STA12)
        assert build(mode, state).awaiting_release_response is due, (mode, state)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Mode.REQUESTOR, Mode.ACCEPTOR]),
    st.lists(
        st.one_of(
            st.sampled_from(OPERATIONS),
            st.binary(min_size=1, max_size=40),
            st.lists(st.sampled_from(PDU_ORDER), min_size=2, max_size=3),
        ),
        max_size=25,
    ),
)
def test_random_inputs_never_raise_anything_else(
    mode: Mode, steps: list[Event | bytes | list[Event]]
) -> None:
    """Random primitives, PDUs (several in one read too) and raw bytes, each A-RELEASE
    indication answered as the SCP does: only LocalProtocolError may escape, from a
    primitive, and the bytes produced always decode as valid PDUs."""
    assoc = Association(mode)
    decoder = PDUDecoder(0)
    for step in steps:
        before = assoc.state
        if isinstance(step, list):
            step = b"".join(PDU_BYTES[event] for event in step)
        if isinstance(step, bytes):
            _answer_release(assoc, assoc.receive_data(step))
        else:
            try:
                _answer_release(assoc, APPLY[step](assoc))
            except LocalProtocolError:
                assert assoc.state is before
        decoder.feed(assoc.data_to_send())
        assert isinstance(assoc.state, State)
        if assoc.artim_running:
            assert assoc.state in (State.STA2, State.STA13)
