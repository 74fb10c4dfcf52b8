"""Secondary indexes over worklist Records and a planner that picks the most selective one.

Indexes only narrow the candidate set: every candidate is still checked with
``CompiledQuery.match`` (PS3.4 C.2.2.2 is implemented once, in :mod:`aiodicom.matching`).
So an index must return a *superset* of the matches: values are normalised (trimmed,
case-folded), multi-valued values are indexed per value and whole, and records with an
absent, empty or unparsable value are always candidates.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiodicom.matching import CompiledQuery
from aiodicom.matching.model import Record

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
ACCESSION_NUMBER = 0x00080050
REQUESTED_PROCEDURE_ID = 0x00401001
STUDY_INSTANCE_UID = 0x0020000D
SPS_SEQUENCE = 0x00400100
MODALITY = 0x00080060
STATION_AE = 0x00400001
SPS_START_DATE = 0x00400002

TOP_EXACT = (PATIENT_ID, ACCESSION_NUMBER, REQUESTED_PROCEDURE_ID, STUDY_INSTANCE_UID)
SPS_EXACT = (MODALITY, STATION_AE)
KEY_NAMES = {
    PATIENT_ID: "PatientID",
    ACCESSION_NUMBER: "AccessionNumber",
    REQUESTED_PROCEDURE_ID: "RequestedProcedureID",
    STUDY_INSTANCE_UID: "StudyInstanceUID",
    MODALITY: "SPS.Modality",
    STATION_AE: "SPS.ScheduledStationAETitle",
    SPS_START_DATE: "SPS.ScheduledProcedureStepStartDate",
    PATIENT_NAME: "PatientName",
}
WILDCARDS = frozenset("*?")


def normalize(value: str) -> str:
    """Index form of a value: insignificant spaces removed, case folded (superset-safe)."""
    return value.strip(" \0").casefold()


def _keys_of(value: str) -> set[str]:
    keys = {normalize(value)}
    if "\\" in value:
        keys.update(normalize(part) for part in value.split("\\"))
    return keys


@dataclass(slots=True)
class ExactIndex:
    """value -> record ids, plus the ids that must always be candidates."""

    by_value: dict[str, list[int]] = field(default_factory=dict)
    always: list[int] = field(default_factory=list)

    def add(self, record_id: int, values: Iterable[str | None]) -> None:
        keys: set[str] = set()
        unknown = False
        for value in values:
            if not value:
                unknown = True
            else:
                keys |= _keys_of(value)
        if unknown or not keys:
            self.always.append(record_id)
        for key in keys:
            self.by_value.setdefault(key, []).append(record_id)

    def add_column(self, values: Iterable[object]) -> None:
        """``add`` of one value per record, for record ids 0, 1, 2... (the bulk build)."""
        by_value = self.by_value
        for record_id, value in enumerate(values):
            if value.__class__ is not str or not value or "\\" in value:
                self.add(record_id, [value if isinstance(value, str) else None])
                continue
            key = value.strip(" \0").casefold()
            found = by_value.get(key)
            if found is None:
                by_value[key] = [record_id]
            else:
                found.append(record_id)

    def add_steps(self, steps_of_records: Iterable[tuple[Record, ...]], tag: int) -> None:
        """``add`` of the ``tag`` values of each record's items, record ids 0, 1, 2..."""
        by_value = self.by_value
        memo: dict[str, set[str]] = {}  # items repeat values: normalise each one once
        for record_id, steps in enumerate(steps_of_records):
            keys: set[str] = set()
            unknown = False
            for step in steps:
                value = step.get(tag)
                if not isinstance(value, str) or not value:
                    unknown = True
                    continue
                found = memo.get(value)
                if found is None:
                    found = memo[value] = _keys_of(value)
                keys |= found
            if unknown or not keys:
                self.always.append(record_id)
            for key in keys:
                ids = by_value.get(key)
                if ids is None:
                    by_value[key] = [record_id]
                else:
                    ids.append(record_id)

    def lookup(self, query_value: str) -> list[int] | None:
        if not query_value or WILDCARDS & set(query_value):
            return None
        found: list[int] = list(self.always)
        for key in _keys_of(query_value):
            found.extend(self.by_value.get(key, ()))
        return found


@dataclass(slots=True)
class SortedIndex:
    """Sorted (key, id) pairs for range (dates) and prefix (names) lookups via bisect."""

    pairs: list[tuple[str, int]] = field(default_factory=list)
    always: list[int] = field(default_factory=list)

    def finish(self) -> None:
        """Sort by key; ids were appended in ascending order, so the stable sort gives the
        same order as sorting the (key, id) pairs (and compares only the keys)."""
        self.pairs.sort(key=_first)

    def between(self, low: str, high: str) -> list[int]:
        start = bisect.bisect_left(self.pairs, (low, -1))
        stop = bisect.bisect_right(self.pairs, (high, 1 << 62))
        return [record_id for _, record_id in self.pairs[start:stop]] + self.always


def _first(pair: tuple[str, int]) -> str:
    return pair[0]


def _steps_of(record: Record) -> tuple[Record, ...]:
    items = record.get(SPS_SEQUENCE)
    return items if isinstance(items, tuple) else ()


def _date_bounds(value: str) -> tuple[str, str] | None:
    """PS3.4 C.2.2.2.5: "D", "D1-D2", "-D2" or "D1-" -> inclusive bounds, else None."""
    low, _, high = value.partition("-") if "-" in value else (value, "", value)
    low, high = low.strip(), high.strip()
    for bound in (low, high):
        if bound and not (len(bound) == 8 and bound.isdigit()):
            return None
    if not low and not high:
        return None
    return low or "00000000", high or "99999999"


def _name_prefix(value: str) -> str | None:
    """The literal part of a PN query before any wildcard or component group delimiter."""
    cut = len(value)
    for stop in ("*", "?", "="):
        position = value.find(stop)
        if position >= 0:
            cut = min(cut, position)
    prefix = normalize(value[:cut]).rstrip("^ ")
    return prefix or None


class WorklistIndex:
    """All indexes of one AE title's worklist (PS3.4 K.6 keys most queries use)."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.size = len(records)
        self.exact: dict[int, ExactIndex] = {tag: ExactIndex() for tag in TOP_EXACT + SPS_EXACT}
        self.dates = SortedIndex()
        self.names = SortedIndex()
        for tag in TOP_EXACT:
            self.exact[tag].add_column(record.get(tag) for record in records)
        steps = [_steps_of(record) for record in records]
        for tag in SPS_EXACT:
            self.exact[tag].add_steps(steps, tag)
        self._add_dates(steps)
        self._add_names(records)
        self.dates.finish()
        self.names.finish()

    def _add_names(self, records: Sequence[Record]) -> None:
        pairs, always = self.names.pairs, self.names.always
        memo: dict[str, str] = {}  # names repeat: share one normalised key per name
        for record_id, record in enumerate(records):
            name = record.get(PATIENT_NAME)
            if isinstance(name, str) and name.strip():
                key = memo.get(name)
                if key is None:
                    key = memo[name] = normalize(name)
                pairs.append((key, record_id))
            else:
                always.append(record_id)

    def _add_dates(self, steps_of_records: list[tuple[Record, ...]]) -> None:
        pairs, always = self.dates.pairs, self.dates.always
        for record_id, steps in enumerate(steps_of_records):
            dates: set[str] = set()
            unknown = not steps
            for step in steps:
                value = step.get(SPS_START_DATE)
                if isinstance(value, str) and len(value) == 8 and value.isdigit():
                    dates.add(value)
                else:
                    unknown = True
            if unknown:
                always.append(record_id)
            pairs.extend((date, record_id) for date in dates)

    def plan(self, query: CompiledQuery, *, fuzzy_pn: bool = False) -> tuple[list[int] | None, str]:
        """Candidate record ids (sorted, a superset of the matches) and the key used.

        Reads the compiled keys' decoded, padding-free values (PS3.5 6.2). ``None`` means
        no usable key: the caller scans every record.
        """
        keys = query.keys
        options: list[tuple[int, str, list[int]]] = []
        for tag in TOP_EXACT:
            spec = keys.get(tag)
            if spec is not None and spec.sub is None:
                found = self.exact[tag].lookup(spec.text.strip())
                if found is not None:
                    options.append((len(found), KEY_NAMES[tag], found))
        step = keys.get(SPS_SEQUENCE)
        if step is not None and step.sub is not None:
            options.extend(self._step_options(step.sub))
        name = keys.get(PATIENT_NAME)
        if name is not None and name.sub is None and not fuzzy_pn:
            prefix = _name_prefix(name.text)
            if prefix is not None:
                found = self.names.between(prefix, prefix + "\U0010ffff")
                options.append((len(found), KEY_NAMES[PATIENT_NAME], found))
        if not options:
            return None, "scan"
        _, used, found = min(options, key=lambda option: option[0])
        if len(found) >= self.size:
            return None, "scan"
        return sorted(set(found)), used

    def _step_options(self, step: CompiledQuery) -> list[tuple[int, str, list[int]]]:
        options: list[tuple[int, str, list[int]]] = []
        for tag in SPS_EXACT:
            spec = step.keys.get(tag)
            if spec is not None and spec.sub is None:
                found = self.exact[tag].lookup(spec.text.strip())
                if found is not None:
                    options.append((len(found), KEY_NAMES[tag], found))
        date = step.keys.get(SPS_START_DATE)
        if date is not None and date.sub is None:
            bounds = _date_bounds(date.text)
            if bounds is not None:
                found = self.dates.between(*bounds)
                options.append((len(found), KEY_NAMES[SPS_START_DATE], found))
        return options
