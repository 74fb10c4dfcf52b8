"""The rules of a worklist item shared by the REST API and the HL7 feed.

The status of a Scheduled Procedure Step (0040,0020; PS3.3 C.4.10) and its transitions,
and the identifiers generated for an item that has none (the return keys of PS3.4
Table K.6-1: Accession Number, Requested Procedure ID, Study Instance UID, Scheduled
Procedure Step ID).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from aiodicom.store.worklist_validate import walk

SPS = "ScheduledProcedureStepSequence"
STATUSES = ("SCHEDULED", "ARRIVED", "READY", "STARTED", "COMPLETED", "DISCONTINUED")
FINAL_STATUSES = frozenset({"COMPLETED", "DISCONTINUED"})
GENERATED: dict[str, Callable[[], str]] = {
    "AccessionNumber": lambda: "A" + secrets.token_hex(7).upper(),
    "RequestedProcedureID": lambda: "RP" + secrets.token_hex(7).upper(),
    "StudyInstanceUID": lambda: str(generate_uid()),
}
STEP_GENERATED: dict[str, Callable[[], str]] = {
    "ScheduledProcedureStepID": lambda: "SPS" + secrets.token_hex(6).upper()
}


def fill_generated(ds: Dataset, previous: Dataset | None = None) -> None:
    """Keep identifiers of ``previous`` (an edit), else generate them (PS3.4 K.6-1 keys)."""
    for keyword, make in GENERATED.items():
        if not ds.get(keyword):
            old = previous.get(keyword) if previous is not None else None
            setattr(ds, keyword, str(old) if old else make())
    old_steps = previous.get(SPS) if previous is not None else None
    for index, step in enumerate(ds.get(SPS) or []):
        old_step = old_steps[index] if old_steps and index < len(old_steps) else None
        for keyword, make in STEP_GENERATED.items():
            if not step.get(keyword):
                old = old_step.get(keyword) if old_step is not None else None
                setattr(step, keyword, str(old) if old else make())
        if not step.get("ScheduledProcedureStepStatus"):
            step.ScheduledProcedureStepStatus = "SCHEDULED"
    if any(not str(value).isascii() for _, _, value in walk(ds)):
        ds.SpecificCharacterSet = ds.get("SpecificCharacterSet") or "ISO_IR 192"


def item_status(ds: Dataset) -> str:
    """The item status: the first step's (0040,0020), SCHEDULED when absent."""
    steps = ds.get(SPS) or []
    return str(steps[0].get("ScheduledProcedureStepStatus", "") or "SCHEDULED") if steps else ""


def check_transition(current: str, new: str) -> str | None:
    """The reason ``current -> new`` is illegal, or None.

    The order SCHEDULED -> ARRIVED -> READY -> STARTED -> COMPLETED follows PS3.3
    C.4.10 (Scheduled Procedure Step Status defined terms) with PS3.4 Annex F's
    performed step lifecycle: steps may be skipped forward, never moved back;
    DISCONTINUED is allowed from any open state; COMPLETED only from STARTED;
    COMPLETED and DISCONTINUED are final.
    """
    if new not in STATUSES:
        return f"unknown status {new!r}; expected one of {', '.join(STATUSES)}"
    if current not in STATUSES:
        return None  # a hand-written non-standard status: any standard one fixes it
    if current in FINAL_STATUSES:
        return f"{current} is final"
    if new == "DISCONTINUED":
        return None
    if new == "COMPLETED" and current != "STARTED":
        return f"COMPLETED requires STARTED, the item is {current}"
    if STATUSES.index(new) <= STATUSES.index(current):
        return f"cannot go back from {current} to {new}"
    return None


def set_status(ds: Dataset, status: str) -> None:
    """Set (0040,0020) on every Scheduled Procedure Step of the item."""
    for step in ds.get(SPS) or []:
        step.ScheduledProcedureStepStatus = status
