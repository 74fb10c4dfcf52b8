"""DIMSE status codes and status classes for C-ECHO, C-FIND, C-CANCEL, N-CREATE and N-SET.

PS3.7 Annex C defines the status classes (Success, Warning, Failure, Cancel, Pending) and
the general status codes shared by all services; PS3.4 C.4.1.1.4 (Query/Retrieve C-FIND)
and K.4.1.1.4 (Modality Worklist C-FIND) define the service-specific ones.
"""

from __future__ import annotations

from enum import Enum


class StatusCategory(Enum):
    """PS3.7 Annex C: the status class a status code belongs to."""

    SUCCESS = "success"
    PENDING = "pending"
    WARNING = "warning"
    CANCEL = "cancel"
    FAILURE = "failure"


# PS3.7 C.1 and PS3.4 C.4.1.1.4 / K.4.1.1.4
SUCCESS = 0x0000
PENDING = 0xFF00
PENDING_WARNING = 0xFF01
CANCEL = 0xFE00
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000
# PS3.7 C.4 / C.5 general statuses
WARNING = 0x0001
ATTRIBUTE_LIST_ERROR = 0x0107
ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
REFUSED_NOT_AUTHORIZED = 0x0124
DUPLICATE_INVOCATION = 0x0210
UNRECOGNIZED_OPERATION = 0x0211
MISTYPED_ARGUMENT = 0x0212
RESOURCE_LIMITATION = 0x0213
# PS3.7 C.4 / C.5: the DIMSE-N failures N-CREATE and N-SET use (PS3.7 10.1.5.1.6, 10.1.3.1.6)
NO_SUCH_ATTRIBUTE = 0x0105
INVALID_ATTRIBUTE_VALUE = 0x0106
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_SOP_INSTANCE = 0x0112
NO_SUCH_SOP_CLASS = 0x0118
INVALID_OBJECT_INSTANCE = 0x0117
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121

STATUS_NAMES: dict[int, str] = {
    SUCCESS: "Success",
    PENDING: "Pending: matches are continuing",
    PENDING_WARNING: "Pending: matches are continuing, optional keys not supported",
    CANCEL: "Cancel: matching terminated due to cancel request",
    WARNING: "Warning",
    ATTRIBUTE_LIST_ERROR: "Warning: attribute list error",
    ATTRIBUTE_VALUE_OUT_OF_RANGE: "Warning: attribute value out of range",
    OUT_OF_RESOURCES: "Refused: out of resources",
    IDENTIFIER_DOES_NOT_MATCH: "Identifier does not match SOP Class",
    NO_SUCH_ATTRIBUTE: "No such attribute",
    INVALID_ATTRIBUTE_VALUE: "Invalid attribute value",
    PROCESSING_FAILURE: "Processing failure",
    DUPLICATE_SOP_INSTANCE: "Duplicate SOP instance",
    NO_SUCH_SOP_INSTANCE: "No such SOP instance",
    0x0113: "No such event type",
    0x0114: "No such argument",
    0x0115: "Invalid argument value",
    0x0117: "Invalid object instance",
    NO_SUCH_SOP_CLASS: "No such SOP Class",
    0x0119: "Class-instance conflict",
    MISSING_ATTRIBUTE: "Missing attribute",
    MISSING_ATTRIBUTE_VALUE: "Missing attribute value",
    SOP_CLASS_NOT_SUPPORTED: "Refused: SOP Class not supported",
    0x0123: "No such action",
    REFUSED_NOT_AUTHORIZED: "Refused: not authorized",
    DUPLICATE_INVOCATION: "Duplicate invocation",
    UNRECOGNIZED_OPERATION: "Unrecognized operation",
    MISTYPED_ARGUMENT: "Mistyped argument",
    RESOURCE_LIMITATION: "Resource limitation",
}
"""Exact status codes with a name. Ranges are handled in :func:`describe`."""

_WARNING_01XX = frozenset({ATTRIBUTE_LIST_ERROR, ATTRIBUTE_VALUE_OUT_OF_RANGE})


def category_of(status: int) -> StatusCategory:
    """Return the status class of ``status`` per the PS3.7 Annex C ranges.

    Success 0000; Warning 0001, Bxxx, 0107, 0116; Failure Axxx, Cxxx, 01xx (other than
    0107 and 0116), 02xx; Cancel FE00; Pending FF00, FF01. Codes outside every range are
    treated as Failure: an SCU must not mistake an unknown code for success or pending.
    """
    if status == SUCCESS:
        return StatusCategory.SUCCESS
    if status in (PENDING, PENDING_WARNING):
        return StatusCategory.PENDING
    if status == CANCEL:
        return StatusCategory.CANCEL
    high = status >> 12
    if status == WARNING or high == 0xB or status in _WARNING_01XX:
        return StatusCategory.WARNING
    return StatusCategory.FAILURE


def _range_name(status: int) -> str | None:
    """PS3.4 C.4.1.1.4: names for service-specific status ranges."""
    high = status >> 8
    if high == 0xA7:
        return "Refused: out of resources"
    if high == 0xA9:
        return "Identifier does not match SOP Class"
    if status >> 12 == 0xC:
        return "Unable to process"
    if status >> 12 == 0xB:
        return "Warning"
    return None


def describe(status: int) -> str:
    """Return a human name, e.g. ``"0xA900 Identifier does not match SOP Class"``."""
    name = STATUS_NAMES.get(status) or _range_name(status)
    if name is None:
        name = f"Unknown status ({category_of(status).value})"
    return f"0x{status:04X} {name}"


def is_final(status: int) -> bool:
    """PS3.7 9.1.2.1.6: every status other than Pending ends a C-FIND operation."""
    return category_of(status) is not StatusCategory.PENDING
