"""DIMSE message (command set) value types: C-ECHO, C-FIND, C-CANCEL, C-STORE (PS3.7 9.3),
N-CREATE and N-SET (PS3.7 10.3.5, 10.3.3).

Pure data: the command-set codec (always Implicit VR Little Endian, PS3.7 6.3.1) lives in
:mod:`aiodicom.proto.dimse`. A data set, when present, travels separately as bytes
encoded in the presentation context's transfer syntax. Each class names its Command Field
(0000,0100), by which the network layer dispatches a request to its operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"


class CommandField(IntEnum):
    """PS3.7 E.1-1: Command Field (0000,0100) values used here."""

    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_CANCEL_RQ = 0x0FFF
    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    N_SET_RQ = 0x0120
    N_SET_RSP = 0x8120
    N_CREATE_RQ = 0x0140
    N_CREATE_RSP = 0x8140


NO_DATA_SET = 0x0101
"""PS3.7 E.1-1: Command Data Set Type (0000,0800) value meaning "no data set"."""

DATA_SET_PRESENT = 0x0000
"""Any value other than 0x0101 means a data set follows; 0x0000 is what we send."""


class Priority(IntEnum):
    """PS3.7 9.1.1.1.x: Priority (0000,0700)."""

    MEDIUM = 0x0000
    HIGH = 0x0001
    LOW = 0x0002


@dataclass(slots=True, frozen=True)
class CEchoRQ:
    """PS3.7 9.3.5.1: C-ECHO-RQ."""

    command_field: ClassVar[int] = CommandField.C_ECHO_RQ

    message_id: int
    affected_sop_class_uid: str = VERIFICATION_SOP_CLASS


@dataclass(slots=True, frozen=True)
class CEchoRSP:
    """PS3.7 9.3.5.2: C-ECHO-RSP."""

    command_field: ClassVar[int] = CommandField.C_ECHO_RSP

    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str = VERIFICATION_SOP_CLASS


@dataclass(slots=True, frozen=True)
class CFindRQ:
    """PS3.7 9.3.2.1: C-FIND-RQ. Always followed by an identifier data set."""

    command_field: ClassVar[int] = CommandField.C_FIND_RQ

    message_id: int
    affected_sop_class_uid: str
    priority: int = Priority.MEDIUM


@dataclass(slots=True, frozen=True)
class CFindRSP:
    """PS3.7 9.3.2.2: C-FIND-RSP.

    ``has_data_set`` is True for pending responses carrying an identifier. Failure
    responses may carry ``error_comment`` (0000,0902) and ``offending_elements`` (0000,0901).
    """

    command_field: ClassVar[int] = CommandField.C_FIND_RSP

    message_id_being_responded_to: int
    affected_sop_class_uid: str
    status: int
    has_data_set: bool = False
    error_comment: str | None = None
    offending_elements: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class CCancelRQ:
    """PS3.7 9.3.2.3: C-CANCEL-FIND-RQ."""

    command_field: ClassVar[int] = CommandField.C_CANCEL_RQ

    message_id_being_responded_to: int


@dataclass(slots=True, frozen=True)
class CStoreRQ:
    """PS3.7 9.3.1.1: C-STORE-RQ. Always followed by the data set of the instance.

    ``move_originator_ae_title`` / ``move_originator_message_id``: set when the store is a
    sub-operation of a C-MOVE (PS3.7 9.1.1.1.9-10); None otherwise.
    """

    command_field: ClassVar[int] = CommandField.C_STORE_RQ

    message_id: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    priority: int = Priority.MEDIUM
    move_originator_ae_title: str | None = None
    move_originator_message_id: int | None = None


@dataclass(slots=True, frozen=True)
class CStoreRSP:
    """PS3.7 9.3.1.2: C-STORE-RSP (no data set). Statuses: PS3.4 B.2.3; a failure may
    carry ``error_comment`` (0000,0902) and ``offending_elements`` (0000,0901)."""

    command_field: ClassVar[int] = CommandField.C_STORE_RSP

    message_id_being_responded_to: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    status: int = 0x0000
    error_comment: str | None = None
    offending_elements: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class NCreateRQ:
    """PS3.7 10.3.5.1: N-CREATE-RQ. The Affected SOP Instance UID (0000,1000) is optional
    (U: the SCP then assigns one), and so is the Attribute List data set."""

    command_field: ClassVar[int] = CommandField.N_CREATE_RQ

    message_id: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str | None = None
    has_data_set: bool = True


@dataclass(slots=True, frozen=True)
class NSetRQ:
    """PS3.7 10.3.3.1: N-SET-RQ; always followed by its Modification List data set."""

    command_field: ClassVar[int] = CommandField.N_SET_RQ

    message_id: int
    requested_sop_class_uid: str
    requested_sop_instance_uid: str


@dataclass(slots=True, frozen=True)
class NCreateRSP:
    """PS3.7 10.3.5.2: N-CREATE-RSP.

    ``has_data_set``: an Attribute List follows. On failure the status-related fields
    of PS3.7 Annex C may be present: Error Comment (0000,0902), Error ID (0000,0903) and
    Attribute Identifier List (0000,1005) (``attribute_identifiers``, tags as int).
    """

    command_field: ClassVar[int] = CommandField.N_CREATE_RSP

    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_data_set: bool = False
    error_comment: str | None = None
    error_id: int | None = None
    attribute_identifiers: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class NSetRSP:
    """PS3.7 10.3.3.2: N-SET-RSP; the same fields as :class:`NCreateRSP`."""

    command_field: ClassVar[int] = CommandField.N_SET_RSP

    message_id_being_responded_to: int
    status: int
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_data_set: bool = False
    error_comment: str | None = None
    error_id: int | None = None
    attribute_identifiers: tuple[int, ...] = ()


NResponse = NCreateRSP | NSetRSP
"""The DIMSE-N responses handled here; both carry the same fields."""

DimseCommand = (
    CEchoRQ
    | CEchoRSP
    | CFindRQ
    | CFindRSP
    | CCancelRQ
    | CStoreRQ
    | CStoreRSP
    | NCreateRQ
    | NCreateRSP
    | NSetRQ
    | NSetRSP
)
