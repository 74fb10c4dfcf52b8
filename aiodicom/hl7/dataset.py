"""HL7 v2 values to Modality Worklist attributes: one order group -> one item per step.

Each :class:`~aiodicom.hl7.mapping.Rule` reads its first non-empty location and converts
the value by its kind (HL7 v2.5 2.A data types: XPN, XCN, DT/DTM, CE; Tables 0001 and
0027). The item is built as the loader's keyword mapping
(:func:`aiodicom.store.worklist_loader.dataset_from_mapping`) and checked with
:func:`aiodicom.store.worklist_validate.check_dataset`, the checks every REST API item
passes; a value DICOM refuses is reported against the HL7 field it came from.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import hl7
from pydicom.dataset import Dataset

from aiodicom.errors import DataError, Hl7Error
from aiodicom.hl7.mapping import SPS, Location, Rule
from aiodicom.hl7.message import OrderGroup, text_at
from aiodicom.store.worklist_loader import dataset_from_mapping
from aiodicom.store.worklist_validate import check_dataset

SEX = {"M": "M", "F": "F", "O": "O", "A": "O", "N": "O", "U": ""}
"""HL7 Table 0001 -> Patient's Sex (0010,0040), PS3.3 C.7.1.1 (U: unknown, left empty)."""
PRIORITY = {"S": "STAT", "A": "HIGH", "T": "HIGH", "R": "ROUTINE", "P": "MEDIUM", "C": "ROUTINE"}
"""HL7 Table 0027 -> Requested Procedure Priority (0040,1003) defined terms, PS3.3 C.4.11."""
DIGITS = re.compile(r"\d{8}(\d{2}(\d{2}(\d{2})?)?)?")
_TRAILING = re.compile(r"\^+$")
REQUIRED = {
    "PatientID": Location("PID", 3),
    "ScheduledProcedureStepStartDate": Location("ORC", 7, 4),
}
"""Type 1 in PS3.4 Table K.6-1 and never generated: an order without them is refused."""


class Segments:
    """The segments one item is read from: the patient's, its order group's, one IPC."""

    def __init__(
        self, patient: Mapping[str, hl7.Segment], group: OrderGroup, ipc: hl7.Segment | None
    ) -> None:
        self.found = {**patient, **group.segments}
        if ipc is not None:
            self.found["IPC"] = ipc

    def text(self, location: Location, component: int | None = None) -> str:
        segment = self.found.get(location.segment)
        if segment is None:
            return ""
        part = location.component if component is None else component
        return text_at(segment, location.field, part, location.sub)

    def first(self, rule: Rule) -> tuple[Location, str]:
        """The first location with a value (the last one when none has)."""
        for location in rule.locations:
            value = self.text(location)
            if value:
                return location, value
        return rule.locations[-1], ""


def _person_name(parts: list[str]) -> str:
    """family, given, middle, suffix, prefix -> PN ``family^given^middle^prefix^suffix``
    (PS3.5 6.2.1.1: the DICOM order puts the prefix before the suffix)."""
    family, given, middle, suffix, prefix = (parts + [""] * 5)[:5]
    return _TRAILING.sub("", "^".join([family, given, middle, prefix, suffix]))


def _date(location: Location, value: str) -> tuple[str, str]:
    """HL7 DT/DTM ``YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]`` -> (DA, TM); Hl7Error 102 if not."""
    digits = value.split(".", 1)[0].split("+", 1)[0].split("-", 1)[0]
    if DIGITS.fullmatch(digits) is None or not _valid_day(digits[:8]):
        raise Hl7Error(
            location.segment, location.field, 102,
            f"{location}: {value!r} is not a date YYYYMMDD[HHMM[SS]]",
        )  # fmt: skip
    time = digits[8:]
    hours, minutes, seconds = (int(time[i : i + 2] or 0) for i in (0, 2, 4))
    if hours > 23 or minutes > 59 or seconds > 59:
        raise Hl7Error(location.segment, location.field, 102, f"{location}: bad time {value!r}")
    return digits[:8], (time + "00")[:6] if len(time) == 4 else time


def _valid_day(text: str) -> bool:
    try:
        datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return True


def _table(location: Location, value: str, table: Mapping[str, str], name: str) -> str:
    key = value.upper()
    if key not in table:
        raise Hl7Error(
            location.segment, location.field, 103,
            f"{location}: {value!r} is not in HL7 Table {name} ({', '.join(table)})",
        )  # fmt: skip
    return table[key]


def _code(found: Segments, location: Location) -> list[dict[str, str]]:
    value = found.text(location)
    if not value:
        return []
    meaning = found.text(location, location.component + 1) or value
    scheme = found.text(location, location.component + 2) or "L"
    return [{"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}]


def apply_rule(rule: Rule, found: Segments, top: dict[str, Any], step: dict[str, Any]) -> None:
    """Set the rule's attribute(s) in ``top`` or ``step`` (nothing when no value)."""
    location, value = found.first(rule)
    if not value:
        return
    target = step if rule.in_step else top
    if rule.kind == "code":
        target[rule.keyword] = _code(found, location)
    elif rule.kind in {"xpn", "xcn"}:
        first = 2 if rule.kind == "xcn" else 1
        parts = [found.text(location, first + i) for i in range(5)]
        target[rule.keyword] = _person_name(parts)
    elif rule.kind == "date":
        target[rule.keyword] = _date(location, value)[0]
    elif rule.kind == "start":
        date, time = _date(location, value)
        step["ScheduledProcedureStepStartDate"] = date
        if time:
            step["ScheduledProcedureStepStartTime"] = time
    elif rule.kind == "sex":
        target[rule.keyword] = _table(location, value, SEX, "0001")
    elif rule.kind == "priority":
        target[rule.keyword] = _table(location, value, PRIORITY, "0027")
    else:
        target[rule.keyword] = value
    if target.get(rule.keyword) in ("", []):
        del target[rule.keyword]


def _located(rules: tuple[Rule, ...], path: str) -> Location | None:
    keyword = re.split(r"[\[.]", path.removeprefix(f"{SPS}[0].")).pop(0)
    if keyword == "ScheduledProcedureStepStartTime":
        keyword = "ScheduledProcedureStepStartDate"
    return next((rule.locations[0] for rule in rules if rule.keyword == keyword), None)


def build_item(rules: tuple[Rule, ...], found: Segments, charset: str) -> Dataset:
    """The item of one Scheduled Procedure Step; Hl7Error for a missing or bad value."""
    top: dict[str, Any] = {"SpecificCharacterSet": charset} if charset else {}
    step: dict[str, Any] = {}
    for rule in rules:
        apply_rule(rule, found, top, step)
    for keyword, fallback in REQUIRED.items():
        if keyword not in top and keyword not in step:
            where = _located(rules, keyword) or fallback
            raise Hl7Error(
                where.segment, where.field, 101, f"{where}: required ({keyword}) is empty"
            )
    top[SPS] = [step]
    try:
        ds = dataset_from_mapping(top, "HL7 message")
    except DataError as exc:  # pragma: no cover - rules name dictionary keywords only
        raise Hl7Error("MSH", 0, 207, exc.reason) from None
    for error in check_dataset(ds):
        where = _located(rules, error.field) or Location("MSH", 0)
        raise Hl7Error(where.segment, where.field, 102, f"{where}: {error.field}: {error.rule}")
    return ds
