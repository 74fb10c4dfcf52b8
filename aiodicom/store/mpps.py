"""Modality Performed Procedure Step instances on disk: one JSON file per SOP instance.

``<folder>/<SOP Instance UID>.json`` holds the instance's attributes in the DICOM JSON
model (PS3.18 F.2) plus what the server recorded about it: the worklist steps it is
linked to, who sent it and when. Every write is atomic (:func:`aiodicom.store.atomic.
atomic_write`: temporary file, fsync, rename, fsync of the folder) and finishes before
the N-CREATE / N-SET response is sent, so an acknowledged change survives a crash or a
kill -9; a write cut short leaves the previous file and a temporary file that the next
start removes. Instances are loaded once at start and then kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from pydicom import Dataset

from aiodicom.errors import DataError
from aiodicom.store.atomic import atomic_write
from aiodicom.store.locks import KeyedLocks

UID_NAME = re.compile(r"[0-9]+(\.[0-9]+)*")
"""A SOP Instance UID (PS3.5 9.1) is a safe file name: digits and dots only."""
TEMP_NAME = re.compile(r"\.[0-9.]{1,64}\.json\.[0-9a-f]{8}\.tmp")
STALE_AFTER = 30.0

log = structlog.get_logger("aiodicom.mpps")


@dataclass(frozen=True, slots=True)
class StepLink:
    """One worklist step an MPPS instance performs (PS3.4 F.4 / K: its Scheduled Step
    Attributes Sequence item matched the item file ``item_id`` of ``ae_title``)."""

    ae_title: str
    item_id: str
    sps_id: str

    def as_dict(self) -> dict[str, str]:
        return {"ae_title": self.ae_title, "item_id": self.item_id, "sps_id": self.sps_id}


@dataclass(slots=True)
class MppsRecord:
    """One MPPS SOP instance and what the server recorded about it."""

    sop_instance_uid: str
    dataset: Dataset
    links: tuple[StepLink, ...] = ()
    calling_ae: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def document(self) -> dict[str, Any]:
        """The JSON document of the file."""
        return {
            "sop_instance_uid": self.sop_instance_uid,
            "calling_ae": self.calling_ae,
            "created": self.created,
            "updated": self.updated,
            "links": [link.as_dict() for link in self.links],
            "dataset": self.dataset.to_json_dict(),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> MppsRecord:
        return cls(
            sop_instance_uid=str(document["sop_instance_uid"]),
            dataset=Dataset.from_json(document["dataset"]),
            links=tuple(StepLink(**link) for link in document.get("links", ())),
            calling_ae=str(document.get("calling_ae", "")),
            created=float(document.get("created", 0.0)),
            updated=float(document.get("updated", 0.0)),
        )


class MppsStore:
    """The MPPS instances of ``folder`` (created when missing), in memory and on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.records: dict[str, MppsRecord] = {}
        self.locks = KeyedLocks()  # one N-CREATE / N-SET per instance at a time

    def load(self) -> int:
        """Read every instance file (an unreadable one is logged and skipped) and remove
        temporary files left by a killed write; returns the number of instances."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sweep()
        for path in sorted(self.folder.glob("*.json")):
            try:
                record = MppsRecord.from_document(json.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable mpps file skipped", file=str(path), reason=str(exc))
                continue
            self.records[record.sop_instance_uid] = record
        return len(self.records)

    def _sweep(self) -> None:
        limit = time.time() - STALE_AFTER
        for entry in os.scandir(self.folder):
            if TEMP_NAME.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime <= limit:
                        os.unlink(entry.path)

    def path_of(self, uid: str) -> Path:
        if not UID_NAME.fullmatch(uid) or len(uid) > 64:
            raise DataError(uid, "not a SOP Instance UID (PS3.5 9.1)")
        return self.folder / f"{uid}.json"

    def get(self, uid: str) -> MppsRecord | None:
        """The instance as this process last wrote or read it (the listing's view)."""
        return self.records.get(uid)

    async def current(self, uid: str) -> MppsRecord | None:
        """The instance as its file holds it now: the disk is the shared truth when
        several worker processes serve the port (``--workers``)."""
        path = self.path_of(uid)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        record = MppsRecord.from_document(json.loads(data))
        self.records[uid] = record
        return record

    def all(self) -> list[MppsRecord]:
        """Every instance, the most recently changed first."""
        return sorted(self.records.values(), key=lambda record: record.updated, reverse=True)

    async def save(self, record: MppsRecord) -> None:
        """Write ``record`` durably, then make it the instance's current state."""
        path = self.path_of(record.sop_instance_uid)
        data = json.dumps(record.document(), separators=(",", ":")).encode("utf-8")
        await asyncio.to_thread(atomic_write, path, data)
        self.records[record.sop_instance_uid] = record
