"""Events emitted by the sans-IO :class:`~aiodicom.proto.association.Association`.

Each event is the upper-layer service primitive (PS3.8 7) that the state machine issues to
the local user: indications and confirmations of A-ASSOCIATE, P-DATA, A-RELEASE, A-ABORT and
A-P-ABORT, plus the closing of the transport connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from aiodicom.errors import ProtocolError
from aiodicom.proto.messages import DimseCommand
from aiodicom.proto.pdus import AssociateAC, AssociateRJ, AssociateRQ


class Mode(Enum):
    """Which end of the association we are (PS3.8 9.2: requestor = calling side)."""

    REQUESTOR = "requestor"
    ACCEPTOR = "acceptor"


@dataclass(slots=True, frozen=True)
class AcceptedContext:
    """A presentation context accepted during negotiation (PS3.8 9.3.3.2)."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str


@dataclass(slots=True, frozen=True)
class AssociationRequested:
    """A-ASSOCIATE indication (AE-6, acceptor): decide with ``accept()`` or ``reject()``."""

    rq: AssociateRQ


@dataclass(slots=True, frozen=True)
class AssociationAccepted:
    """A-ASSOCIATE confirmation, accept (AE-3, requestor)."""

    ac: AssociateAC


@dataclass(slots=True, frozen=True)
class AssociationRejected:
    """A-ASSOCIATE confirmation, reject (AE-4, requestor).

    On the acceptor side it reports an A-ASSOCIATE-RJ the service provider sent on its own
    (AE-6 "not acceptable" branch, e.g. protocol version not supported, PS3.8 9.3.4).
    """

    rj: AssociateRJ


@dataclass(slots=True, frozen=True)
class MessageReceived:
    """P-DATA indication (DT-2 / AR-6) assembled into one complete DIMSE message (PS3.7 6.3)."""

    context_id: int
    command: DimseCommand
    data_set: bytes | None


@dataclass(slots=True, frozen=True)
class DataSetFragment:
    """P-DATA indication of one data set fragment of a *streamed* message (PS3.8 E.2).

    For the Command Fields the association streams (``Association.stream_commands``), a
    data set that arrives in several PDVs is not assembled: each PDV's bytes are handed on
    as they arrive, in order, ``first`` on the first and ``last`` on the last, so the
    receiver can write them out (C-STORE of a large instance) with bounded memory. A data
    set in one PDV still arrives whole, as a :class:`MessageReceived`.
    """

    context_id: int
    command: DimseCommand
    data: bytes
    first: bool
    last: bool


@dataclass(slots=True, frozen=True)
class ReleaseRequested:
    """A-RELEASE indication (AR-2, or AR-8 on a release collision): call release_response()."""


@dataclass(slots=True, frozen=True)
class ReleaseCompleted:
    """A-RELEASE confirmation (AR-3, or AR-10 on the acceptor side of a collision)."""


@dataclass(slots=True, frozen=True)
class Aborted:
    """A-ABORT (``by_peer`` True, AA-3) or A-P-ABORT indication (AA-3/AA-4/AA-8).

    ``source``/``reason`` are the A-ABORT PDU fields (PS3.8 9.3.8, Table 9-26): those
    received when ``by_peer``, those we sent otherwise. ``error`` is the peer's protocol
    violation that made us abort (AA-8), None for an abort by the peer or a lost connection.
    """

    source: int
    reason: int
    by_peer: bool
    error: ProtocolError | None


@dataclass(slots=True, frozen=True)
class ConnectionClosed:
    """Transport connection closed indication (Evt17) was processed."""


Event = (
    AssociationRequested
    | AssociationAccepted
    | AssociationRejected
    | MessageReceived
    | DataSetFragment
    | ReleaseRequested
    | ReleaseCompleted
    | Aborted
    | ConnectionClosed
)
