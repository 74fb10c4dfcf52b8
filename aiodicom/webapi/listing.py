"""Item lists for the API and the page, read from the worklist store's current snapshot.

The store (hot-reloaded from the data folder) already holds a decoded, normalized
:data:`~aiodicom.matching.Record` per item (PS3.5 6.2 padding removed), so a list of
1,000 items is built from memory, not by re-reading files. Summaries are cached per
snapshot generation. After an API write, :class:`~aiodicom.store.worklist.Refresher`
reloads the store in the background so the next list (and the next C-FIND) sees the
change without waiting for the file watcher; a list request awaits a pending reload
(read-your-writes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiodicom.matching import Record
from aiodicom.store.worklist import WorklistSnapshot, WorklistStore
from aiodicom.store.worklist_items import ID_PATTERN

TAGS = {
    "patient_name": 0x00100010, "patient_id": 0x00100020, "birth_date": 0x00100030,
    "sex": 0x00100040, "accession_number": 0x00080050, "description": 0x00321060,
    "requested_procedure_id": 0x00401001,
}  # fmt: skip
STEP_TAGS = {
    "modality": 0x00080060, "station_ae": 0x00400001, "date": 0x00400002, "time": 0x00400003,
    "step_description": 0x00400007, "status": 0x00400020, "station_name": 0x00400010,
}  # fmt: skip
SPS_TAG = 0x00400100
FILTERS = ("date", "modality", "station_ae", "patient", "status", "ae_title")


@dataclass(frozen=True, slots=True)
class Summary:
    """One row of the list: what the table shows and the filters test."""

    item_id: str | None
    ae_title: str
    file: str
    fields: Mapping[str, str]

    def as_dict(self) -> dict[str, object]:
        return {"id": self.item_id, "ae_title": self.ae_title, "file": self.file, **self.fields}


def _start(date: str, time: str) -> str:
    if len(date) != 8:
        return ""
    text = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    return f"{text}T{time[:2]}:{time[2:4]}" if len(time) >= 4 else text


def summarize(ae_title: str, path: str, record: Record) -> Summary:
    """Flat fields of an item's Record (first Scheduled Procedure Step, PS3.4 K.6-1)."""
    fields = {name: _text(record.get(tag)) for name, tag in TAGS.items()}
    steps = record.get(SPS_TAG)
    step: Record = steps[0] if isinstance(steps, tuple) and steps else {}
    for name, tag in STEP_TAGS.items():
        fields[name] = _text(step.get(tag))
    fields["status"] = fields["status"] or "SCHEDULED"
    fields["description"] = fields["description"] or fields.pop("step_description")
    fields.pop("step_description", None)
    fields["start"] = _start(fields["date"], fields["time"])
    fields["steps"] = str(len(steps)) if isinstance(steps, tuple) else "0"
    stem = Path(path).stem
    item_id = stem if ID_PATTERN.fullmatch(stem) else None
    return Summary(item_id, ae_title, Path(path).name, fields)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class Listing:
    """Summaries of the current snapshot, cached per generation, filtered and paged."""

    def __init__(self, store: WorklistStore) -> None:
        self.store = store
        self._generation = -1
        self._rows: list[Summary] = []

    def rows(self) -> list[Summary]:
        snapshot = self.store.snapshot
        if snapshot.generation != self._generation:
            self._rows = _rows_of(snapshot)
            self._generation = snapshot.generation
        return self._rows

    def select(self, filters: Mapping[str, str]) -> list[Summary]:
        """Rows passing every filter (exact, case-insensitive; ``patient`` is a substring
        of name or id; ``date`` is YYYYMMDD and tests every step)."""
        wanted = {key: value.strip().upper() for key, value in filters.items() if value.strip()}
        return [row for row in self.rows() if _passes(row, wanted)]


def _rows_of(snapshot: WorklistSnapshot) -> list[Summary]:
    rows = [
        summarize(title, item.path, item.record)
        for title, worklist in snapshot.worklists.items()
        for item in worklist.items
    ]
    rows.sort(key=lambda row: (row.fields["start"], row.fields["patient_name"]))
    return rows


def _passes(row: Summary, wanted: Mapping[str, str]) -> bool:
    fields = row.fields
    for key, value in wanted.items():
        if key == "patient":
            haystack = f"{fields['patient_name']} {fields['patient_id']}".upper()
            if value not in haystack:
                return False
        elif key == "ae_title":
            if row.ae_title.upper() != value:
                return False
        elif fields.get(key, "").upper() != value:
            return False
    return True


def page(rows: Sequence[Summary], offset: int, limit: int) -> list[dict[str, object]]:
    return [row.as_dict() for row in rows[offset : offset + limit]]
