"""PS3.8 9.2 state machine table: every (state, event) cell, checked against a second,
independent transcription of Table 9-10 written as the standard prints it (columns Sta1..13).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import LocalProtocolError
from aiodicom.proto.fsm import (
    ALTERNATE_NEXT_STATE,
    CONNECTED_STATES,
    LOCAL_PRIMITIVE_EVENTS,
    NEXT_STATE,
    PDU_EVENTS,
    TRANSITIONS,
    Action,
    Event,
    State,
    transition,
)

# Table 9-10 as printed: one line per event, one column per state Sta1..Sta13, "." = empty.
TABLE_9_10 = """
Evt1   AE-1 .    .    .    .    .    .    .    .    .     .    .    .
Evt2   .    .    .    AE-2 .    .    .    .    .    .     .    .    .
Evt3   .    AA-1 AA-8 .    AE-3 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt4   .    AA-1 AA-8 .    AE-4 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt5   AE-5 .    .    .    .    .    .    .    .    .     .    .    .
Evt6   .    AE-6 AA-8 .    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-7
Evt7   .    .    AE-7 .    .    .    .    .    .    .     .    .    .
Evt8   .    .    AE-8 .    .    .    .    .    .    .     .    .    .
Evt9   .    .    .    .    .    DT-1 .    AR-7 .    .     .    .    .
Evt10  .    AA-1 AA-8 .    AA-8 DT-2 AR-6 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt11  .    .    .    .    .    AR-1 .    .    .    .     .    .    .
Evt12  .    AA-1 AA-8 .    AA-8 AR-2 AR-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt13  .    AA-1 AA-8 .    AA-8 AA-8 AR-3 AA-8 AA-8 AR-10 AR-3 AA-8 AA-6
Evt14  .    .    .    .    .    .    .    AR-4 AR-9 .     .    AR-4 .
Evt15  .    .    AA-1 AA-2 AA-1 AA-1 AA-1 AA-1 AA-1 AA-1  AA-1 AA-1 .
Evt16  .    AA-2 AA-3 .    AA-3 AA-3 AA-3 AA-3 AA-3 AA-3  AA-3 AA-3 AA-2
Evt17  .    AA-5 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4  AA-4 AA-4 AR-5
Evt18  .    AA-2 .    .    .    .    .    .    .    .     .    .    AA-2
Evt19  .    AA-1 AA-8 .    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-7
"""

# Tables 9-6 to 9-9, "Next state is ..."
ACTION_NEXT = {
    "AE-1": "Sta4", "AE-2": "Sta5", "AE-3": "Sta6", "AE-4": "Sta1", "AE-5": "Sta2",
    "AE-6": "Sta3", "AE-7": "Sta6", "AE-8": "Sta13", "DT-1": "Sta6", "DT-2": "Sta6",
    "AR-1": "Sta7", "AR-2": "Sta8", "AR-3": "Sta1", "AR-4": "Sta13", "AR-5": "Sta1",
    "AR-6": "Sta7", "AR-7": "Sta8", "AR-8": "Sta9", "AR-9": "Sta11", "AR-10": "Sta12",
    "AA-1": "Sta13", "AA-2": "Sta1", "AA-3": "Sta1", "AA-4": "Sta1", "AA-5": "Sta1",
    "AA-6": "Sta13", "AA-7": "Sta13", "AA-8": "Sta13",
}  # fmt: skip


def _parse_table() -> dict[tuple[str, str], str]:
    cells: dict[tuple[str, str], str] = {}
    for line in TABLE_9_10.strip().splitlines():
        event, *columns = line.split()
        assert len(columns) == 13, line
        for index, code in enumerate(columns, start=1):
            if code != ".":
                cells[f"Sta{index}", event] = code
    return cells


EXPECTED = _parse_table()
ALL_PAIRS = [(state, event) for state in State for event in Event]


def test_transcriptions_have_the_same_cells() -> None:
    got = {(s.value, e.value): a.code for (s, e), (a, _) in TRANSITIONS.items()}
    assert got == EXPECTED


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda x: x.value)
def test_every_cell(state: State, event: Event) -> None:
    code = EXPECTED.get((state.value, event.value))
    if code is None:
        with pytest.raises(LocalProtocolError, match=event.value):
            transition(state, event)
        return
    action, next_state = transition(state, event)
    assert action.code == code
    assert next_state.value == ACTION_NEXT[code]


def test_action_codes_and_next_states() -> None:
    assert {a.code for a in Action} == set(ACTION_NEXT)
    assert {a.code: s.value for a, s in NEXT_STATE.items()} == ACTION_NEXT
    assert all(a.value.startswith(a.code + ": ") for a in Action)
    # the conditional alternatives of PS3.8 9.2.2
    assert ALTERNATE_NEXT_STATE == {Action.AE_6: State.STA13, Action.AR_8: State.STA10}


def test_peer_events_are_always_specified_once_connected() -> None:
    for state in CONNECTED_STATES:
        for event in PDU_EVENTS:
            assert (state, event) in TRANSITIONS, (state, event)
        assert (state, Event.EVT17) in TRANSITIONS


def test_empty_cells_are_local_or_unconnected() -> None:
    transport_or_timer = {Event.EVT2, Event.EVT5, Event.EVT17, Event.EVT18}
    for state, event in ALL_PAIRS:
        if (state, event) in TRANSITIONS:
            continue
        assert (
            event in LOCAL_PRIMITIVE_EVENTS
            or event in transport_or_timer
            or state not in CONNECTED_STATES
        ), (state, event)


def test_every_action_is_used() -> None:
    assert {action for action, _ in TRANSITIONS.values()} == set(Action)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Event)), st.booleans()), max_size=40))
def test_random_walk_follows_the_table(steps: list[tuple[Event, bool]]) -> None:
    """Random events from Sta1; ``alternate`` takes the other branch of AE-6 / AR-8."""
    state = State.STA1
    for event, alternate in steps:
        try:
            action, next_state = transition(state, event)
        except LocalProtocolError:
            assert (state.value, event.value) not in EXPECTED
            continue
        assert EXPECTED[state.value, event.value] == action.code
        assert next_state is NEXT_STATE[action]
        if alternate and action in ALTERNATE_NEXT_STATE:
            next_state = ALTERNATE_NEXT_STATE[action]
        state = next_state
