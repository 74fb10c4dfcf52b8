"""The Modality Performed Procedure Step rules of PS3.4 Annex F as data and pure checks.

PS3.4 F.7.2.1 (N-CREATE) and F.7.2.2 (N-SET), with the attribute requirements of Table
F.7.2-1: what an N-CREATE must carry (Type 1: present with a value; Type 2: present,
possibly empty), what it must not (the SOP Class and Instance UIDs travel in the command,
PS3.7 10.1.5.1), which attributes an N-SET may not touch ("Not allowed" in the N-SET
column) and what the final state (COMPLETED / DISCONTINUED) requires. Each check returns
the refusal the standard prescribes, or None:

* status other than IN PROGRESS on N-CREATE: 0106 Invalid Attribute Value, with the
  attribute in the response's Attribute List (F.7.2.1.3);
* a Type 1 or Type 2 attribute absent: 0120 Missing Attribute; a Type 1 one empty:
  0121 Missing Attribute Value; an attribute not allowed: 0105 No Such Attribute; each
  with the Attribute Identifier List (0000,1005) and an Error Comment naming it (PS3.7 C);
* any N-SET once the step is COMPLETED or DISCONTINUED: 0110 Processing Failure, Error
  Comment "Performed Procedure Step Object may no longer be updated", Error ID A710
  (F.7.2.2.4, Table F.7.2-2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.datadict import keyword_for_tag

from aiodicom.proto.status import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    NO_SUCH_ATTRIBUTE,
    PROCESSING_FAILURE,
)

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"
"""PS3.4 F.7.1: Modality Performed Procedure Step SOP Class."""

IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
STATES = (IN_PROGRESS, COMPLETED, DISCONTINUED)
"""PS3.3 C.4.14: Performed Procedure Step Status (0040,0252) defined terms."""
FINAL_STATES = frozenset({COMPLETED, DISCONTINUED})

STATUS_TAG = 0x00400252
SCHEDULED_STEP_ATTRIBUTES = 0x00400270
NO_LONGER_UPDATABLE = "Performed Procedure Step Object may no longer be updated"
NO_LONGER_UPDATABLE_ID = 0xA710
"""PS3.4 Table F.7.2-2: the Error Comment and Error ID of an N-SET after the final state."""

# PS3.4 Table F.7.2-1, N-CREATE column (SCU/SCP requirement type).
CREATE_TYPE_1 = (
    0x00400270,  # Scheduled Step Attributes Sequence
    0x00400253,  # Performed Procedure Step ID
    0x00400241,  # Performed Station AE Title
    0x00400244,  # Performed Procedure Step Start Date
    0x00400245,  # Performed Procedure Step Start Time
    0x00400252,  # Performed Procedure Step Status
    0x00080060,  # Modality
)
CREATE_TYPE_2 = (
    0x00100010,  # Patient's Name
    0x00100020,  # Patient ID
    0x00100030,  # Patient's Birth Date
    0x00100040,  # Patient's Sex
    0x00081120,  # Referenced Patient Sequence
    0x00400242,  # Performed Station Name
    0x00400243,  # Performed Location
    0x00400254,  # Performed Procedure Step Description
    0x00400255,  # Performed Procedure Type Description
    0x00081032,  # Procedure Code Sequence
    0x00400250,  # Performed Procedure Step End Date
    0x00400251,  # Performed Procedure Step End Time
    0x00200010,  # Study ID
    0x00400260,  # Performed Protocol Code Sequence
    0x00400340,  # Performed Series Sequence
)
STEP_TYPE_1 = (0x0020000D,)  # >Study Instance UID
STEP_TYPE_2 = (
    0x00081110,  # >Referenced Study Sequence
    0x00080050,  # >Accession Number
    0x00401001,  # >Requested Procedure ID
    0x00321060,  # >Requested Procedure Description
    0x00400009,  # >Scheduled Procedure Step ID
    0x00400007,  # >Scheduled Procedure Step Description
    0x00400008,  # >Scheduled Protocol Code Sequence
)
COMMAND_ONLY = (0x00080016, 0x00080018)
"""SOP Class UID and SOP Instance UID: conveyed by the command (Affected / Requested SOP
Class and Instance UID, PS3.7 10.1.5.1, 10.1.3.1), not in an Attribute List."""
SET_NOT_ALLOWED = frozenset(
    {
        *COMMAND_ONLY,
        0x00400270,  # Scheduled Step Attributes Sequence
        0x00100010,  # Patient's Name
        0x00100020,  # Patient ID
        0x00100030,  # Patient's Birth Date
        0x00100040,  # Patient's Sex
        0x00081120,  # Referenced Patient Sequence
        0x00400253,  # Performed Procedure Step ID
        0x00400241,  # Performed Station AE Title
        0x00400242,  # Performed Station Name
        0x00400243,  # Performed Location
        0x00400244,  # Performed Procedure Step Start Date
        0x00400245,  # Performed Procedure Step Start Time
        0x00080060,  # Modality
        0x00200010,  # Study ID
    }
)
"""PS3.4 Table F.7.2-1: "Not allowed" in the N-SET column."""
FINAL_TYPE_1 = (
    0x00400250,  # Performed Procedure Step End Date
    0x00400251,  # Performed Procedure Step End Time
    0x00400340,  # Performed Series Sequence
)
"""PS3.4 Table F.7.2-1, Final State column: Type 1 once COMPLETED or DISCONTINUED."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A failure response: status, Error Comment, Error ID, Attribute Identifier List and
    the Attribute List to send back (PS3.7 10.3.5.2 / 10.3.3.2, Annex C)."""

    status: int
    comment: str
    error_id: int | None = None
    tags: tuple[int, ...] = ()
    attributes: Dataset | None = None


def tag_name(tag: int) -> str:
    """``Keyword (gggg,eeee)``, as the Error Comment names an attribute."""
    keyword = keyword_for_tag(tag) or "Attribute"
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _is_empty(ds: Dataset, tag: int) -> bool:
    value = ds[tag].value
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(" \x00")
    if isinstance(value, bytes):
        return not value.strip(b" \x00")
    return len(value) == 0 if hasattr(value, "__len__") else False


def _required(
    ds: Dataset, type_1: tuple[int, ...], type_2: tuple[int, ...], where: str
) -> Refusal | None:
    """PS3.4 F.7.2.1: every Type 1 and Type 2 attribute present, every Type 1 one valued."""
    for tag in (*type_1, *type_2):
        if tag not in ds:
            kind = "Type 1" if tag in type_1 else "Type 2"
            return Refusal(MISSING_ATTRIBUTE, f"missing {kind} {where}{tag_name(tag)}", tags=(tag,))
    for tag in type_1:
        if _is_empty(ds, tag):
            comment = f"empty Type 1 {where}{tag_name(tag)}"
            return Refusal(MISSING_ATTRIBUTE_VALUE, comment, tags=(tag,))
    return None


def _not_allowed(ds: Dataset, forbidden: Iterable[int], service: str) -> Refusal | None:
    found = tuple(tag for tag in forbidden if tag in ds)
    if not found:
        return None
    return Refusal(NO_SUCH_ATTRIBUTE, f"{tag_name(found[0])} not allowed in {service}", tags=found)


def _bad_status(ds: Dataset, allowed: Iterable[str]) -> Refusal | None:
    """The Performed Procedure Step Status, if present, must be one of ``allowed``."""
    if STATUS_TAG not in ds:
        return None
    value = str(ds[STATUS_TAG].value or "").strip()
    if value in allowed:
        return None
    echo = Dataset()
    echo.PerformedProcedureStepStatus = value
    comment = f"{tag_name(STATUS_TAG)} {value!r} not allowed"
    return Refusal(INVALID_ATTRIBUTE_VALUE, comment, tags=(STATUS_TAG,), attributes=echo)


def check_create(ds: Dataset) -> Refusal | None:
    """PS3.4 F.7.2.1: the N-CREATE Attribute List of a new MPPS instance."""
    refusal = _not_allowed(ds, COMMAND_ONLY, "N-CREATE") or _required(
        ds, CREATE_TYPE_1, CREATE_TYPE_2, ""
    )
    if refusal is not None:
        return refusal
    refusal = _bad_status(ds, (IN_PROGRESS,))  # F.7.2.1.3: only IN PROGRESS
    if refusal is not None:
        return refusal
    for item in ds[SCHEDULED_STEP_ATTRIBUTES].value:
        refusal = _required(item, STEP_TYPE_1, STEP_TYPE_2, "ScheduledStepAttributesSequence>")
        if refusal is not None:
            return refusal
    return None


def check_set(current: Dataset, modifications: Dataset) -> Refusal | None:
    """PS3.4 F.7.2.2: an N-SET on ``current``: only while IN PROGRESS, only settable
    attributes, to a defined state; the final state then needs its Type 1 attributes."""
    if state_of(current) in FINAL_STATES:
        return Refusal(PROCESSING_FAILURE, NO_LONGER_UPDATABLE, NO_LONGER_UPDATABLE_ID)
    refusal = _not_allowed(modifications, SET_NOT_ALLOWED, "N-SET") or _bad_status(
        modifications, STATES
    )
    if refusal is not None:
        return refusal
    merged = merge(current, modifications)
    if state_of(merged) in FINAL_STATES:
        return _required(merged, FINAL_TYPE_1, (), "final state: ")
    return None


def merge(current: Dataset, modifications: Dataset) -> Dataset:
    """``current`` with the Modification List applied (PS3.7 10.1.3.1.4: the attributes
    given replace the SOP Instance's; a zero-length value empties one)."""
    merged = Dataset()
    merged.update(current)
    for element in modifications:
        merged[element.tag] = element
    return merged


def state_of(ds: Dataset) -> str:
    """The Performed Procedure Step Status (0040,0252) of ``ds`` ("" when absent)."""
    return str(ds.get("PerformedProcedureStepStatus", "") or "").strip()
