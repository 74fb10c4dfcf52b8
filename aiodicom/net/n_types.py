"""Value types of the DIMSE-N services N-CREATE and N-SET (PS3.7 10.1.5, 10.1.3), shared
by the client (:meth:`~aiodicom.net.client.ClientAssociation.n_create`) and the server
side (:mod:`aiodicom.net.n_scp`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from pydicom import Dataset

from aiodicom.proto.status import SUCCESS

NKind = Literal["N-CREATE", "N-SET"]


@dataclass(slots=True, frozen=True)
class NResult:
    """The final response of an N-CREATE or N-SET (PS3.7 10.1.5.1, 10.1.3.1).

    ``status``: Success or a Warning (failures raise :class:`~aiodicom.DimseStatusError`
    on the client side). ``attributes``: the response's Attribute List, if the peer sent
    one. ``sop_instance_uid``: the Affected SOP Instance UID (N-CREATE: the UID the SCP
    assigned when the request had none).
    """

    status: int
    attributes: Dataset | None = None
    sop_instance_uid: str | None = None
    error_comment: str | None = None
    error_id: int | None = None
    attribute_identifiers: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class NRequest:
    """One N-CREATE-RQ or N-SET-RQ as a handler sees it (PS3.7 10.1.5.1, 10.1.3.1).

    ``sop_instance_uid``: Affected (N-CREATE; None when the SCU left it to the SCP) or
    Requested (N-SET) SOP Instance UID. ``data_set``: the Attribute List (N-CREATE) or
    Modification List (N-SET), decoded and structure-checked (PS3.5 7.1, 7.5); an empty
    Dataset when the N-CREATE had none.
    """

    kind: NKind
    sop_class_uid: str
    sop_instance_uid: str | None
    data_set: Dataset
    transfer_syntax: str
    message_id: int
    calling_ae: str = ""
    called_ae: str = ""
    peer: tuple[str, int] = ("", 0)
    association_id: str = ""


@dataclass(slots=True, frozen=True)
class NOutcome:
    """What an N-CREATE / N-SET handler answers: the response's status and its optional
    fields (PS3.7 10.3.5.2, 10.3.3.2 and the status-related fields of Annex C).

    ``attributes``: the Attribute List sent back (None: no data set).
    ``sop_instance_uid``: the Affected SOP Instance UID of the response (default: the
    request's). ``attribute_identifiers``: Attribute Identifier List (0000,1005), tags as
    int, naming the attributes a failure is about.
    """

    status: int = SUCCESS
    attributes: Dataset | None = None
    sop_instance_uid: str | None = None
    error_comment: str | None = None
    error_id: int | None = None
    attribute_identifiers: tuple[int, ...] = field(default=())


NHandler = Callable[[NRequest], Awaitable[NOutcome]]
"""An N-CREATE or N-SET handler: the request in, the response's outcome out. An exception
it raises becomes 0x0110 (Processing failure, PS3.7 C.4) with its text as Error Comment."""


@dataclass(slots=True, frozen=True)
class NEnd:
    """One N-CREATE / N-SET, reported to the server's observers when it ends
    (``ServerObserver.operation_ended``), before its response is sent."""

    request: NRequest
    outcome: NOutcome
    seconds: float


NObserver = Callable[[NEnd], None]
"""Hears of each N-CREATE / N-SET of a SOP class as it ends (``register_n_service``)."""
