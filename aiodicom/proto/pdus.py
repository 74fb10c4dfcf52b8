"""PDU and item value types of the DICOM upper layer (PS3.8 9.3) and user information
sub-items (PS3.7 Annex D). Pure data: the codec lives in :mod:`aiodicom.proto.pdu`.

AE titles are kept as ``str`` with trailing spaces stripped; UIDs as ``str`` without
padding. Every field is what goes on the wire, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

APPLICATION_CONTEXT_NAME = "1.2.840.10008.3.1.1.1"
"""PS3.7 Annex A.2.1: the DICOM application context name."""


class PDUType(IntEnum):
    """PS3.8 9.3.1: PDU types."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class ItemType(IntEnum):
    """PS3.8 9.3.2 / 9.3.3 and PS3.7 Annex D: variable item and sub-item types."""

    APPLICATION_CONTEXT = 0x10
    PRESENTATION_CONTEXT_RQ = 0x20
    PRESENTATION_CONTEXT_AC = 0x21
    ABSTRACT_SYNTAX = 0x30
    TRANSFER_SYNTAX = 0x40
    USER_INFORMATION = 0x50
    MAXIMUM_LENGTH = 0x51
    IMPLEMENTATION_CLASS_UID = 0x52
    ASYNCHRONOUS_OPERATIONS_WINDOW = 0x53
    SCP_SCU_ROLE_SELECTION = 0x54
    IMPLEMENTATION_VERSION_NAME = 0x55
    SOP_CLASS_EXTENDED_NEGOTIATION = 0x56
    SOP_CLASS_COMMON_EXTENDED_NEGOTIATION = 0x57
    USER_IDENTITY_RQ = 0x58
    USER_IDENTITY_AC = 0x59


class PresentationContextResult(IntEnum):
    """PS3.8 9.3.3.2, Table 9-18: Result/Reason of a presentation context AC item."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    NO_REASON = 2
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


class UserIdentityType(IntEnum):
    """PS3.7 D.3.3.7.1, Table D.3-14: user identity type."""

    USERNAME = 1
    USERNAME_AND_PASSCODE = 2
    KERBEROS = 3
    SAML = 4
    JWT = 5


@dataclass(slots=True, frozen=True)
class PresentationContextRQ:
    """PS3.8 9.3.2.2: presentation context item of an A-ASSOCIATE-RQ (id is odd, 1-255)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class PresentationContextAC:
    """PS3.8 9.3.3.2: presentation context item of an A-ASSOCIATE-AC.

    ``transfer_syntax`` is meaningful only when ``result`` is ACCEPTANCE; it is "" otherwise
    (the standard says the sub-item is present but its value is not significant).
    """

    context_id: int
    result: int
    transfer_syntax: str


@dataclass(slots=True, frozen=True)
class RoleSelection:
    """PS3.7 D.3.3.4: SCP/SCU role selection sub-item (0x54)."""

    sop_class_uid: str
    scu_role: bool
    scp_role: bool


@dataclass(slots=True, frozen=True)
class SOPClassExtendedNegotiation:
    """PS3.7 D.3.3.5: SOP class extended negotiation sub-item (0x56).

    For C-FIND (PS3.4 C.5.1.1.3) byte 0 is relational-queries, 1 combined date-time,
    2 fuzzy semantic PN matching, 3 timezone adjustment, 4 enhanced multi-frame, ...
    """

    sop_class_uid: str
    application_info: bytes


@dataclass(slots=True, frozen=True)
class SOPClassCommonExtendedNegotiation:
    """PS3.7 D.3.3.6: SOP class common extended negotiation sub-item (0x57)."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_class_uids: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class UserIdentityRQ:
    """PS3.7 D.3.3.7.1: user identity negotiation request sub-item (0x58)."""

    identity_type: int
    positive_response_requested: bool
    primary_field: bytes
    secondary_field: bytes = b""


@dataclass(slots=True, frozen=True)
class UserIdentityAC:
    """PS3.7 D.3.3.7.2: user identity negotiation response sub-item (0x59)."""

    server_response: bytes


@dataclass(slots=True, frozen=True)
class UserInformation:
    """PS3.8 9.3.2.3 / PS3.7 Annex D: the user information item (0x50) and its sub-items.

    ``max_length`` 0 means "no limit" (PS3.8 D.1); None means the sub-item is absent.
    ``async_ops_window`` is (max invoked, max performed), PS3.7 D.3.3.3.
    Unknown sub-items are kept verbatim in ``unknown`` as (type, value).
    """

    max_length: int | None = None
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    async_ops_window: tuple[int, int] | None = None
    role_selections: tuple[RoleSelection, ...] = ()
    sop_class_extended: tuple[SOPClassExtendedNegotiation, ...] = ()
    sop_class_common_extended: tuple[SOPClassCommonExtendedNegotiation, ...] = ()
    user_identity_rq: UserIdentityRQ | None = None
    user_identity_ac: UserIdentityAC | None = None
    unknown: tuple[tuple[int, bytes], ...] = ()


@dataclass(slots=True, frozen=True)
class AssociateRQ:
    """PS3.8 9.3.2: A-ASSOCIATE-RQ PDU."""

    called_ae: str
    calling_ae: str
    presentation_contexts: tuple[PresentationContextRQ, ...]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context: str = APPLICATION_CONTEXT_NAME
    protocol_version: int = 1


@dataclass(slots=True, frozen=True)
class AssociateAC:
    """PS3.8 9.3.3: A-ASSOCIATE-AC PDU. AE titles echo the request (not tested by peers)."""

    called_ae: str
    calling_ae: str
    presentation_contexts: tuple[PresentationContextAC, ...]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context: str = APPLICATION_CONTEXT_NAME
    protocol_version: int = 1


@dataclass(slots=True, frozen=True)
class AssociateRJ:
    """PS3.8 9.3.4: A-ASSOCIATE-RJ PDU. result 1 permanent / 2 transient; source 1-3."""

    result: int
    source: int
    reason: int


@dataclass(slots=True, frozen=True)
class PDV:
    """PS3.8 9.3.5.1 / Annex E.2: one presentation data value item of a P-DATA-TF."""

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes


@dataclass(slots=True, frozen=True)
class PDataTF:
    """PS3.8 9.3.5: P-DATA-TF PDU, one or more PDVs."""

    pdvs: tuple[PDV, ...]


@dataclass(slots=True, frozen=True)
class ReleaseRQ:
    """PS3.8 9.3.6: A-RELEASE-RQ PDU."""


@dataclass(slots=True, frozen=True)
class ReleaseRP:
    """PS3.8 9.3.7: A-RELEASE-RP PDU."""


@dataclass(slots=True, frozen=True)
class Abort:
    """PS3.8 9.3.8: A-ABORT PDU. source 0 user / 2 provider; reason per Table 9-26."""

    source: int
    reason: int = 0


PDU = AssociateRQ | AssociateAC | AssociateRJ | PDataTF | ReleaseRQ | ReleaseRP | Abort

PDU_NAMES: dict[type, str] = {
    AssociateRQ: "A-ASSOCIATE-RQ",
    AssociateAC: "A-ASSOCIATE-AC",
    AssociateRJ: "A-ASSOCIATE-RJ",
    PDataTF: "P-DATA-TF",
    ReleaseRQ: "A-RELEASE-RQ",
    ReleaseRP: "A-RELEASE-RP",
    Abort: "A-ABORT",
}
"""The PS3.8 9.3 name of each PDU type (Table 9-11), for messages naming a PDU."""
