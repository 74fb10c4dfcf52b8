"""The link between a Modality Performed Procedure Step and the worklist it performs.

PS3.4 F.4 / Annex K: an MPPS names the scheduled steps it performs in its Scheduled Step
Attributes Sequence (0040,0270): Study Instance UID, Accession Number, Requested
Procedure ID and Scheduled Procedure Step ID. :func:`find_steps` looks them up in the
worklist store's snapshot (every identifier the sequence item gives must be equal; an
item without any is "unscheduled", IHE RAD TF-1 4.3.1); :func:`apply_state` then writes
the step's Scheduled Procedure Step Status (0040,0020) into its item file through the
same path as the REST API (:class:`~aiodicom.store.worklist_items.ItemFiles`: atomic writes):
STARTED on IN PROGRESS; on COMPLETED or DISCONTINUED the step leaves the worklist (its
sequence item is removed, the item file with its last step) unless ``keep_final``, which
keeps it with that final status.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import structlog
from pydicom import Dataset
from pydicom.sequence import Sequence

from aiodicom.errors import DataError
from aiodicom.matching import Record
from aiodicom.store.mpps import StepLink
from aiodicom.store.worklist import WorklistSnapshot
from aiodicom.store.worklist_items import ID_PATTERN, ItemFiles
from aiodicom.worklist.mpps import COMPLETED, DISCONTINUED, IN_PROGRESS

log = structlog.get_logger("aiodicom.mpps")

STUDY_INSTANCE_UID, ACCESSION_NUMBER, REQUESTED_PROCEDURE_ID = 0x0020000D, 0x00080050, 0x00401001
SPS_SEQUENCE, SPS_ID = 0x00400100, 0x00400009
STEP_STATUS = {IN_PROGRESS: "STARTED", COMPLETED: "COMPLETED", DISCONTINUED: "DISCONTINUED"}
"""Performed (PS3.3 C.4.14) -> Scheduled Procedure Step Status (PS3.3 C.4.10)."""


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip(" \x00")


def _keys(step: Dataset) -> tuple[dict[int, str], str]:
    """The identifying values a Scheduled Step Attributes Sequence item gives."""
    keys = {
        STUDY_INSTANCE_UID: _text(step, "StudyInstanceUID"),
        ACCESSION_NUMBER: _text(step, "AccessionNumber"),
        REQUESTED_PROCEDURE_ID: _text(step, "RequestedProcedureID"),
    }
    return {tag: value for tag, value in keys.items() if value}, _text(
        step, "ScheduledProcedureStepID"
    )


def _matching_steps(record: Record, keys: dict[int, str], sps_id: str) -> list[str]:
    """SPS IDs of the steps of ``record`` matching; empty when the item does not match."""
    if any(record.get(tag) != value for tag, value in keys.items()):
        return []
    steps = record.get(SPS_SEQUENCE)
    found: list[str] = []
    for step in steps if isinstance(steps, tuple) else ():
        step_id = step.get(SPS_ID)
        step_id = step_id if isinstance(step_id, str) else ""
        if not sps_id or step_id == sps_id:
            found.append(step_id)
    return found


def find_steps(snapshot: WorklistSnapshot, scheduled: Iterable[Dataset]) -> tuple[StepLink, ...]:
    """The worklist steps the Scheduled Step Attributes Sequence items name (none: an
    unscheduled procedure step). Items whose file name is not an item id are skipped."""
    links: list[StepLink] = []
    for step in scheduled:
        keys, sps_id = _keys(step)
        if not keys and not sps_id:
            continue
        for title, worklist in snapshot.worklists.items():
            for item in worklist.items:
                stem = Path(item.path).stem
                for step_id in _matching_steps(item.record, keys, sps_id):
                    if ID_PATTERN.fullmatch(stem):
                        links.append(StepLink(title, stem, step_id))
    return tuple(dict.fromkeys(links))


def _changed(ds: Dataset, sps_ids: set[str], status: str, remove: bool) -> Dataset:
    """``ds`` with the linked steps' status set, or without them when ``remove``."""
    kept = []
    for step in ds.get("ScheduledProcedureStepSequence") or []:
        if _text(step, "ScheduledProcedureStepID") in sps_ids:
            if remove:
                continue
            step.ScheduledProcedureStepStatus = status
        kept.append(step)
    ds.ScheduledProcedureStepSequence = Sequence(kept)
    return ds


async def apply_state(
    items: ItemFiles, links: Iterable[StepLink], state: str, *, keep_final: bool
) -> int:
    """Write the performed ``state`` into the linked worklist steps; returns how many
    item files changed. A step already gone (deleted by hand) is logged, not an error."""
    status = STEP_STATUS.get(state)
    if status is None:
        return 0
    remove = state != IN_PROGRESS and not keep_final
    by_item: dict[str, set[str]] = {}
    for link in links:
        by_item.setdefault(link.item_id, set()).add(link.sps_id)
    changed = 0
    for item_id, sps_ids in by_item.items():
        try:
            await _apply_one(items, item_id, sps_ids, status, remove)
        except DataError as exc:
            log.warning("worklist step not updated", item=item_id, reason=exc.reason)
            continue
        changed += 1
    return changed


async def _apply_one(
    items: ItemFiles, item_id: str, sps_ids: set[str], status: str, remove: bool
) -> None:
    """Read and write the item under its lock: two instances linked to one item (or the
    REST API) never overwrite each other's change."""

    def change(ds: Dataset) -> Dataset | None:
        ds = _changed(ds, sps_ids, status, remove)
        if remove and not ds.ScheduledProcedureStepSequence:
            return None  # its last step left the worklist: the file goes
        return ds

    await items.rewrite(item_id, change)
