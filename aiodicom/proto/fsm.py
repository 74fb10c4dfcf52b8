"""The DICOM Upper Layer state machine as a table (PS3.8 9.2).

States are PS3.8 9.2.1 (Tables 9-1 to 9-5), events PS3.8 9.2.3 (Table 9-10, rows),
actions PS3.8 9.2.2 (Tables 9-6 to 9-9). :data:`TRANSITIONS` is Table 9-10 written out
cell by cell, one row (event) at a time, so it can be checked line by line against the
standard. Every cell maps to the action and the next state stated in the action's
definition.

Conditional next states. Three actions name more than one next state; the table holds the
first alternative of the standard's text, and :class:`~aiodicom.proto.association.Association`
resolves the condition (see :data:`ALTERNATE_NEXT_STATE`):

* AE-6: Sta3 if the A-ASSOCIATE-RQ is acceptable by the service provider, else the RJ is
  sent and the next state is Sta13.
* AR-8: Sta9 if the local side is the association-requestor, else Sta10.

AA-3 has a condition too (A-ABORT indication for a service-user abort, A-P-ABORT otherwise)
but its next state is always Sta1; the Association reports the source either way.

Empty cells. The standard leaves a cell empty where the event cannot happen: a local
primitive (Evt1, 7, 8, 9, 11, 14, 15) or a local transport event (Evt2, Evt5) in a state
that does not allow it, or a PDU / transport / timer event in a state without a transport
connection (Sta1, Sta4) or without a running ARTIM timer. :func:`transition` raises
:class:`~aiodicom.errors.LocalProtocolError` for all of them: they can only be reached by a
local misuse of the machine. Every PDU event (Evt3, 4, 6, 10, 12, 13, 16, 19) in every state
that has a transport connection (Sta2, 3, 5-13) is specified by the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from aiodicom.errors import LocalProtocolError
from aiodicom.proto.pdus import (
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    ReleaseRP,
    ReleaseRQ,
)


class State(Enum):
    """PS3.8 9.2.1, Tables 9-1 to 9-5: the thirteen states."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    STA1 = "Sta1"  # Idle
    STA2 = "Sta2"  # Transport connection open (awaiting A-ASSOCIATE-RQ PDU)
    STA3 = "Sta3"  # Awaiting local A-ASSOCIATE response primitive (from local user)
    STA4 = "Sta4"  # Awaiting transport connection opening to complete (local transport)
    STA5 = "Sta5"  # Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU
    STA6 = "Sta6"  # Association established and ready for data transfer
    STA7 = "Sta7"  # Awaiting A-RELEASE-RP PDU
    STA8 = "Sta8"  # Awaiting local A-RELEASE response primitive (from local user)
    STA9 = "Sta9"  # Release collision requestor side; awaiting A-RELEASE response (local user)
    STA10 = "Sta10"  # Release collision acceptor side; awaiting A-RELEASE-RP PDU
    STA11 = "Sta11"  # Release collision requestor side; awaiting A-RELEASE-RP PDU
    STA12 = "Sta12"  # Release collision acceptor side; awaiting A-RELEASE response primitive
    STA13 = "Sta13"  # Awaiting transport connection close indication (association gone)


class Event(Enum):
    """PS3.8 9.2.3, Table 9-10: the nineteen events (rows of the table)."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    EVT1 = "Evt1"  # A-ASSOCIATE request (local user)
    EVT2 = "Evt2"  # Transport connect confirmation (local transport service)
    EVT3 = "Evt3"  # A-ASSOCIATE-AC PDU (received on transport connection)
    EVT4 = "Evt4"  # A-ASSOCIATE-RJ PDU (received on transport connection)
    EVT5 = "Evt5"  # Transport connection indication (local transport service)
    EVT6 = "Evt6"  # A-ASSOCIATE-RQ PDU (received on transport connection)
    EVT7 = "Evt7"  # A-ASSOCIATE response primitive (accept)
    EVT8 = "Evt8"  # A-ASSOCIATE response primitive (reject)
    EVT9 = "Evt9"  # P-DATA request primitive
    EVT10 = "Evt10"  # P-DATA-TF PDU
    EVT11 = "Evt11"  # A-RELEASE request primitive
    EVT12 = "Evt12"  # A-RELEASE-RQ PDU (received on open transport connection)
    EVT13 = "Evt13"  # A-RELEASE-RP PDU (received on transport connection)
    EVT14 = "Evt14"  # A-RELEASE response primitive
    EVT15 = "Evt15"  # A-ABORT request primitive
    EVT16 = "Evt16"  # A-ABORT PDU (received on open transport connection)
    EVT17 = "Evt17"  # Transport connection closed indication (local transport service)
    EVT18 = "Evt18"  # ARTIM timer expired (association reject/release timer)
    EVT19 = "Evt19"  # Unrecognized or invalid PDU received


LOCAL_PRIMITIVE_EVENTS: frozenset[Event] = frozenset(
    {Event.EVT1, Event.EVT7, Event.EVT8, Event.EVT9, Event.EVT11, Event.EVT14, Event.EVT15}
)
"""Events caused by the local service user (PS3.8 7): illegal ones are a local error."""

PDU_EVENTS: frozenset[Event] = frozenset(
    {
        Event.EVT3,
        Event.EVT4,
        Event.EVT6,
        Event.EVT10,
        Event.EVT12,
        Event.EVT13,
        Event.EVT16,
        Event.EVT19,
    }
)
"""Events caused by a PDU received from the peer: always specified once connected."""

EVENT_OF_PDU: dict[type, Event] = {
    AssociateAC: Event.EVT3,
    AssociateRJ: Event.EVT4,
    AssociateRQ: Event.EVT6,
    PDataTF: Event.EVT10,
    ReleaseRQ: Event.EVT12,
    ReleaseRP: Event.EVT13,
    Abort: Event.EVT16,
}
"""The Table 9-10 event a well-formed received PDU of each type is (PS3.8 9.2.3)."""

CONNECTED_STATES: frozenset[State] = frozenset(State) - {State.STA1, State.STA4}
"""States in which a transport connection exists (PDUs can be received)."""


class Action(Enum):
    """PS3.8 9.2.2, Tables 9-6 to 9-9: the actions. Values are the standard's text."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    # Table 9-6: association establishment related actions
    AE_1 = "AE-1: issue TRANSPORT CONNECT request primitive to local transport service"
    AE_2 = "AE-2: send A-ASSOCIATE-RQ PDU"
    AE_3 = "AE-3: issue A-ASSOCIATE confirmation (accept) primitive"
    AE_4 = "AE-4: issue A-ASSOCIATE confirmation (reject) primitive, close transport"
    AE_5 = "AE-5: issue transport connection response primitive; start ARTIM timer"
    AE_6 = (
        "AE-6: stop ARTIM timer; if A-ASSOCIATE-RQ acceptable by service provider issue "
        "A-ASSOCIATE indication (Sta3), otherwise send A-ASSOCIATE-RJ PDU and start ARTIM (Sta13)"
    )
    AE_7 = "AE-7: send A-ASSOCIATE-AC PDU"
    AE_8 = "AE-8: send A-ASSOCIATE-RJ PDU and start ARTIM timer"
    # Table 9-7: data transfer related actions
    DT_1 = "DT-1: send P-DATA-TF PDU"
    DT_2 = "DT-2: send P-DATA indication primitive"
    # Table 9-8: association release related actions
    AR_1 = "AR-1: send A-RELEASE-RQ PDU"
    AR_2 = "AR-2: issue A-RELEASE indication primitive"
    AR_3 = "AR-3: issue A-RELEASE confirmation primitive, and close transport connection"
    AR_4 = "AR-4: issue A-RELEASE-RP PDU and start ARTIM timer"
    AR_5 = "AR-5: stop ARTIM timer"
    AR_6 = "AR-6: issue P-DATA indication"
    AR_7 = "AR-7: issue P-DATA-TF PDU"
    AR_8 = (
        "AR-8: issue A-RELEASE indication (release collision): Sta9 if association-requestor, "
        "Sta10 if not"
    )
    AR_9 = "AR-9: send A-RELEASE-RP PDU"
    AR_10 = "AR-10: issue A-RELEASE confirmation primitive"
    # Table 9-9: association abort related actions
    AA_1 = (
        "AA-1: send A-ABORT PDU (service-user source) and start (or restart if already "
        "started) ARTIM timer"
    )
    AA_2 = "AA-2: stop ARTIM timer if running; close transport connection"
    AA_3 = (
        "AA-3: if service-user initiated abort issue A-ABORT indication, otherwise issue "
        "A-P-ABORT indication; close transport connection"
    )
    AA_4 = "AA-4: issue A-P-ABORT indication primitive"
    AA_5 = "AA-5: stop ARTIM timer"
    AA_6 = "AA-6: ignore PDU"
    AA_7 = "AA-7: send A-ABORT PDU"
    AA_8 = (
        "AA-8: send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, "
        "and start ARTIM timer"
    )

    @property
    def code(self) -> str:
        """The standard's short name, e.g. ``"AA-8"``."""
        return self.value.split(":", 1)[0]


A = Action
S = State
E = Event

NEXT_STATE: Mapping[Action, State] = MappingProxyType(
    {
        # PS3.8 Tables 9-6 to 9-9, "Next state is ..." (first alternative for AE-6, AR-8)
        A.AE_1: S.STA4,
        A.AE_2: S.STA5,
        A.AE_3: S.STA6,
        A.AE_4: S.STA1,
        A.AE_5: S.STA2,
        A.AE_6: S.STA3,
        A.AE_7: S.STA6,
        A.AE_8: S.STA13,
        A.DT_1: S.STA6,
        A.DT_2: S.STA6,
        A.AR_1: S.STA7,
        A.AR_2: S.STA8,
        A.AR_3: S.STA1,
        A.AR_4: S.STA13,
        A.AR_5: S.STA1,
        A.AR_6: S.STA7,
        A.AR_7: S.STA8,
        A.AR_8: S.STA9,
        A.AR_9: S.STA11,
        A.AR_10: S.STA12,
        A.AA_1: S.STA13,
        A.AA_2: S.STA1,
        A.AA_3: S.STA1,
        A.AA_4: S.STA1,
        A.AA_5: S.STA1,
        A.AA_6: S.STA13,
        A.AA_7: S.STA13,
        A.AA_8: S.STA13,
    }
)

ALTERNATE_NEXT_STATE: Mapping[Action, State] = MappingProxyType(
    {
        A.AE_6: S.STA13,  # A-ASSOCIATE-RQ not acceptable by the service provider: RJ sent
        A.AR_8: S.STA10,  # release collision seen by the association-acceptor
    }
)
"""The second alternative of the conditional actions, chosen by the Association."""

_CELLS: dict[Event, dict[State, Action]] = {
    # Table 9-10, one row per event: {state: action}; absent states are empty cells.
    E.EVT1: {S.STA1: A.AE_1},
    E.EVT2: {S.STA4: A.AE_2},
    E.EVT3: {
        S.STA2: A.AA_1,
        S.STA3: A.AA_8,
        S.STA5: A.AE_3,
        S.STA6: A.AA_8,
        S.STA7: A.AA_8,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AA_8,
        S.STA11: A.AA_8,
        S.STA12: A.AA_8,
        S.STA13: A.AA_6,
    },
    E.EVT4: {
        S.STA2: A.AA_1,
        S.STA3: A.AA_8,
        S.STA5: A.AE_4,
        S.STA6: A.AA_8,
        S.STA7: A.AA_8,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AA_8,
        S.STA11: A.AA_8,
        S.STA12: A.AA_8,
        S.STA13: A.AA_6,
    },
    E.EVT5: {S.STA1: A.AE_5},
    E.EVT6: {
        S.STA2: A.AE_6,
        S.STA3: A.AA_8,
        S.STA5: A.AA_8,
        S.STA6: A.AA_8,
        S.STA7: A.AA_8,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AA_8,
        S.STA11: A.AA_8,
        S.STA12: A.AA_8,
        S.STA13: A.AA_7,
    },
    E.EVT7: {S.STA3: A.AE_7},
    E.EVT8: {S.STA3: A.AE_8},
    E.EVT9: {S.STA6: A.DT_1, S.STA8: A.AR_7},
    E.EVT10: {
        S.STA2: A.AA_1,
        S.STA3: A.AA_8,
        S.STA5: A.AA_8,
        S.STA6: A.DT_2,
        S.STA7: A.AR_6,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AA_8,
        S.STA11: A.AA_8,
        S.STA12: A.AA_8,
        S.STA13: A.AA_6,
    },
    E.EVT11: {S.STA6: A.AR_1},
    E.EVT12: {
        S.STA2: A.AA_1,
        S.STA3: A.AA_8,
        S.STA5: A.AA_8,
        S.STA6: A.AR_2,
        S.STA7: A.AR_8,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AA_8,
        S.STA11: A.AA_8,
        S.STA12: A.AA_8,
        S.STA13: A.AA_6,
    },
    E.EVT13: {
        S.STA2: A.AA_1,
        S.STA3: A.AA_8,
        S.STA5: A.AA_8,
        S.STA6: A.AA_8,
        S.STA7: A.AR_3,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AR_10,
        S.STA11: A.AR_3,
        S.STA12: A.AA_8,
        S.STA13: A.AA_6,
    },
    E.EVT14: {S.STA8: A.AR_4, S.STA9: A.AR_9, S.STA12: A.AR_4},
    E.EVT15: {
        S.STA3: A.AA_1,
        S.STA4: A.AA_2,
        S.STA5: A.AA_1,
        S.STA6: A.AA_1,
        S.STA7: A.AA_1,
        S.STA8: A.AA_1,
        S.STA9: A.AA_1,
        S.STA10: A.AA_1,
        S.STA11: A.AA_1,
        S.STA12: A.AA_1,
    },
    E.EVT16: {
        S.STA2: A.AA_2,
        S.STA3: A.AA_3,
        S.STA5: A.AA_3,
        S.STA6: A.AA_3,
        S.STA7: A.AA_3,
        S.STA8: A.AA_3,
        S.STA9: A.AA_3,
        S.STA10: A.AA_3,
        S.STA11: A.AA_3,
        S.STA12: A.AA_3,
        S.STA13: A.AA_2,
    },
    E.EVT17: {
        S.STA2: A.AA_5,
        S.STA3: A.AA_4,
        S.STA4: A.AA_4,
        S.STA5: A.AA_4,
        S.STA6: A.AA_4,
        S.STA7: A.AA_4,
        S.STA8: A.AA_4,
        S.STA9: A.AA_4,
        S.STA10: A.AA_4,
        S.STA11: A.AA_4,
        S.STA12: A.AA_4,
        S.STA13: A.AR_5,
    },
    E.EVT18: {S.STA2: A.AA_2, S.STA13: A.AA_2},
    E.EVT19: {
        S.STA2: A.AA_1,
        S.STA3: A.AA_8,
        S.STA5: A.AA_8,
        S.STA6: A.AA_8,
        S.STA7: A.AA_8,
        S.STA8: A.AA_8,
        S.STA9: A.AA_8,
        S.STA10: A.AA_8,
        S.STA11: A.AA_8,
        S.STA12: A.AA_8,
        S.STA13: A.AA_7,
    },
}

TRANSITIONS: Mapping[tuple[State, Event], tuple[Action, State]] = MappingProxyType(
    {
        (state, event): (action, NEXT_STATE[action])
        for event, row in _CELLS.items()
        for state, action in row.items()
    }
)
"""PS3.8 Table 9-10: (state, event) -> (action, next state) for every non-empty cell."""

del A, S, E


def transition(state: State, event: Event) -> tuple[Action, State]:
    """Look up PS3.8 Table 9-10 for ``event`` occurring in ``state``.

    Returns (action, next state); for AE-6 and AR-8 the next state is the first alternative
    (see :data:`ALTERNATE_NEXT_STATE`). Raises :class:`LocalProtocolError` for an empty cell,
    which only a local misuse can reach (see the module docstring).
    """
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise LocalProtocolError(
            f"{event.value} is not allowed in {state.value} (PS3.8 Table 9-10 has no action)"
        ) from None
