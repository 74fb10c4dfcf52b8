"""Where each Modality Worklist attribute comes from in an HL7 v2 order message.

The default tables follow IHE RAD TF-2x Appendix B ("HL7 Order Mapping to DICOM MWL"):
Table B-1 for ORM^O01 in HL7 v2.3.1 (RAD-4/RAD-13 as in RAD TF-2 4.4.4.1 and 4.13.4.1,
Study Instance UID in the ZDS segment), and the HL7 v2.5.1 OMI^O23 option (RAD TF-2
4.4.4.2: the IPC segment carries Accession Number, Requested Procedure ID, Study Instance
UID, Scheduled Procedure Step ID, Modality, protocol code, station name, location and AE
title; TQ1 the start and priority). A site that puts a value elsewhere changes one entry
in ``hl7.mapping`` (:func:`build_rules`); docs/worklist.md prints the table.

A location is ``SEG-field[.component[.subcomponent]]`` (HL7 numbering, first
repetition); several locations separated by commas are tried in order; ``:kind`` after
them names the conversion (:data:`KINDS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_dict

SPS = "ScheduledProcedureStepSequence"
STEP_KEYWORDS = frozenset({
    "ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "Modality",
    "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
    "ScheduledStationName", "ScheduledProcedureStepLocation", "ScheduledProtocolCodeSequence",
    "PreMedication", "ScheduledProcedureStepID", "RequestedContrastAgent",
    "CommentsOnTheScheduledProcedureStep",
})  # fmt: skip
"""Attributes of the Scheduled Procedure Step Sequence item (PS3.4 Table K.6-1)."""

KINDS = {
    "text": "the value as it is",
    "xpn": "an HL7 XPN person name (family^given^middle^suffix^prefix) as DICOM PN",
    "xcn": "an HL7 XCN (id^family^given^middle^suffix^prefix) as DICOM PN",
    "date": "an HL7 DT/DTM as DICOM DA (YYYYMMDD)",
    "start": "an HL7 DTM as the step's start date and time (DA, TM)",
    "sex": "HL7 Table 0001 (M, F, O, U, A, N) as DICOM M, F, O",
    "priority": "HL7 Table 0027 (S, A, T, R, P, C) as STAT, HIGH, ROUTINE, MEDIUM",
    "code": "an HL7 CE triplet from this component (value^meaning^scheme) as a code item",
}
LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})-(\d{1,3})(?:\.(\d{1,2}))?(?:\.(\d{1,2}))?")


@dataclass(frozen=True, slots=True)
class Location:
    """One HL7 position; ``str()`` gives it back as written (``OBR-4.4``)."""

    segment: str
    field: int
    component: int = 1
    sub: int = 1

    def __str__(self) -> str:
        text = f"{self.segment}-{self.field}"
        if self.component != 1 or self.sub != 1:
            text += f".{self.component}"
        return text + (f".{self.sub}" if self.sub != 1 else "")


@dataclass(frozen=True, slots=True)
class Rule:
    """One DICOM attribute (by keyword) and where its value comes from."""

    keyword: str
    locations: tuple[Location, ...]
    kind: str

    @property
    def in_step(self) -> bool:
        return self.keyword in STEP_KEYWORDS

    def spec(self) -> str:
        suffix = "" if self.kind == "text" else f":{self.kind}"
        return ", ".join(map(str, self.locations)) + suffix


COMMON: dict[str, str] = {
    "PatientName": "PID-5:xpn",
    "PatientID": "PID-3.1",
    "IssuerOfPatientID": "PID-3.4",
    "PatientBirthDate": "PID-7:date",
    "PatientSex": "PID-8:sex",
    "AdmissionID": "PV1-19.1",
    "CurrentPatientLocation": "PV1-3.1",
    "ReferringPhysicianName": "PV1-8:xcn",
    "PlacerOrderNumberImagingServiceRequest": "ORC-2.1, OBR-2.1",
    "FillerOrderNumberImagingServiceRequest": "ORC-3.1, OBR-3.1",
    "OrderEnteredBy": "ORC-10:xcn",
    "OrderCallbackPhoneNumber": "ORC-14",
    "ReasonForTheRequestedProcedure": "OBR-31.2, OBR-31.1",
    "PatientTransportArrangements": "OBR-30",
    "RequestedProcedureDescription": "OBR-44.2, OBR-4.2",
    "RequestedProcedureCodeSequence": "OBR-44.1, OBR-4.1:code",
}
"""PID, PV1, ORC and OBR: the same in both versions (IHE RAD TF-2x Table B-1)."""

V231: dict[str, str] = {
    **COMMON,
    "RequestingPhysician": "OBR-16, ORC-12:xcn",
    "AccessionNumber": "OBR-18",
    "RequestedProcedureID": "OBR-19",
    "ScheduledProcedureStepID": "OBR-20",
    "Modality": "OBR-24",
    "StudyInstanceUID": "ZDS-1.1",
    "ScheduledProcedureStepStartDate": "ORC-7.4, OBR-27.4:start",
    "RequestedProcedurePriority": "ORC-7.6, OBR-27.6:priority",
    "ScheduledProcedureStepDescription": "OBR-4.5, OBR-4.2",
    "ScheduledProtocolCodeSequence": "OBR-4.4:code",
}
"""ORM^O01, HL7 v2.3.1 (IHE RAD-4/RAD-13, RAD TF-2x Table B-1)."""

V251: dict[str, str] = {
    **COMMON,
    "RequestingPhysician": "ORC-12, OBR-16:xcn",
    "AccessionNumber": "IPC-1.1, OBR-18",
    "RequestedProcedureID": "IPC-2.1, OBR-19",
    "StudyInstanceUID": "IPC-3.1",
    "ScheduledProcedureStepID": "IPC-4.1, OBR-20",
    "Modality": "IPC-5.1, OBR-24",
    "ScheduledProtocolCodeSequence": "IPC-6.1, OBR-4.4:code",
    "ScheduledProcedureStepDescription": "IPC-6.2, OBR-4.5, OBR-4.2",
    "ScheduledStationName": "IPC-7.1",
    "ScheduledProcedureStepLocation": "IPC-8.1",
    "ScheduledStationAETitle": "IPC-9",
    "ScheduledProcedureStepStartDate": "TQ1-7, ORC-7.4, OBR-27.4:start",
    "RequestedProcedurePriority": "TQ1-9, ORC-7.6:priority",
}
"""OMI^O23, HL7 v2.5.1 (IHE RAD TF-2 4.4.4.2 and RAD TF-2x Appendix B)."""

TABLES = {"2.3.1": V231, "2.5.1": V251}


def parse_spec(keyword: str, spec: str) -> Rule:
    """``"ORC-7.4, OBR-27.4:start"`` -> Rule; ValueError saying what is wrong."""
    text, _, kind = spec.partition(":")
    kind = kind.strip() or "text"
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    locations = []
    for part in text.split(","):
        match = LOCATION.fullmatch(part.strip().upper())
        if match is None:
            raise ValueError(f"{part.strip()!r} is not SEG-field[.component[.sub]]")
        segment, field, component, sub = match.groups()
        locations.append(Location(segment, int(field), int(component or 1), int(sub or 1)))
    return Rule(keyword, tuple(locations), kind)


def check_keyword(keyword: str) -> str | None:
    """Why ``keyword`` cannot be a mapping target, or None."""
    if keyword not in keyword_dict:
        return f"{keyword!r} is not a DICOM attribute keyword (PS3.6)"
    vr = str(dictionary_VR(keyword))
    if vr == "SQ" and not keyword.endswith("CodeSequence"):
        return f"{keyword} is a sequence: only code sequences (kind code) can be mapped"
    return None


def build_rules(version: str, overrides: Mapping[str, str]) -> tuple[Rule, ...]:
    """The default table of ``version`` with the site's ``hl7.mapping`` on top (an empty
    value drops an attribute). ValueError names the first bad entry."""
    specs = dict(TABLES[version])
    for keyword, spec in overrides.items():
        problem = check_keyword(keyword)
        if problem is not None:
            raise ValueError(problem)
        if spec.strip():
            specs[keyword] = spec
        else:
            specs.pop(keyword, None)
    rules = []
    for keyword, spec in specs.items():
        try:
            rules.append(parse_spec(keyword, spec))
        except ValueError as exc:
            raise ValueError(f"{keyword}: {exc}") from None
    return tuple(rules)


def table_rows() -> list[tuple[str, str, str]]:
    """(DICOM keyword, v2.3.1 location, v2.5.1 location): the documented table."""
    keys = list(dict.fromkeys([*V231, *V251]))
    return [(key, V231.get(key, ""), V251.get(key, "")) for key in keys]
