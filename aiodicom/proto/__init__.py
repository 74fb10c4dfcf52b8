"""Sans-IO DICOM upper layer (PS3.8) and DIMSE (PS3.7). Never imports asyncio or socket.

The names applications need: the query models and transfer syntaxes (PS3.4 C.6,
PS3.5 Annex A), the DIMSE status codes and categories (PS3.7 C, PS3.4 C.4.1.1.4) and the
A-ASSOCIATE PDUs an association trace shows (PS3.8 9.3.2, 9.3.3).
"""

from aiodicom.proto.negotiation import (
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    QueryModel,
)
from aiodicom.proto.pdus import AssociateAC, AssociateRQ, PDUType, PresentationContextResult
from aiodicom.proto.status import (
    CANCEL,
    PENDING_WARNING,
    StatusCategory,
    category_of,
    describe,
    is_final,
)

__all__ = [
    "CANCEL",
    "DEFLATED_EXPLICIT_VR_LE",
    "EXPLICIT_VR_BE",
    "EXPLICIT_VR_LE",
    "IMPLICIT_VR_LE",
    "PENDING_WARNING",
    "AssociateAC",
    "AssociateRQ",
    "PDUType",
    "PresentationContextResult",
    "QueryModel",
    "StatusCategory",
    "category_of",
    "describe",
    "is_final",
]
