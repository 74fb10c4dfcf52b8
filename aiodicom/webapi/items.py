"""Worklist item bodies: the friendly flat form and the DICOM JSON model, both to Dataset.

The DICOM JSON model is PS3.18 F.2 (attributes keyed by 8-hex-digit tags, each with
``vr`` and ``Value``); the flat form names the usual Modality Worklist attributes of
PS3.4 Table K.6-1 (``patient_name``, ``modality``, ``start``...). Both become a pydicom
:class:`Dataset` with one Scheduled Procedure Step, are checked with
:func:`aiodicom.store.worklist_validate.check_dataset`, and get generated identifiers when absent.
Errors are collected as :class:`FieldError` lists, never raised one at a time.
"""

from __future__ import annotations

import datetime
import re
import warnings
from collections.abc import Mapping
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.errors import DataError
from aiodicom.store.worklist_items import ID_PATTERN
from aiodicom.store.worklist_rules import SPS, STATUSES, fill_generated
from aiodicom.store.worklist_validate import FieldError, check_dataset

PRIORITIES = ("STAT", "HIGH", "ROUTINE", "MEDIUM", "LOW")

TOP_FIELDS = {
    "patient_name": "PatientName", "patient_id": "PatientID", "birth_date": "PatientBirthDate",
    "sex": "PatientSex", "accession_number": "AccessionNumber",
    "requested_procedure_id": "RequestedProcedureID", "study_instance_uid": "StudyInstanceUID",
    "referring_physician": "ReferringPhysicianName", "priority": "RequestedProcedurePriority",
    "description": "RequestedProcedureDescription",
}  # fmt: skip
STEP_FIELDS = {
    "modality": "Modality", "station_ae": "ScheduledStationAETitle",
    "station_name": "ScheduledStationName", "performing_physician":
    "ScheduledPerformingPhysicianName", "location": "ScheduledProcedureStepLocation",
    "sps_id": "ScheduledProcedureStepID", "status": "ScheduledProcedureStepStatus",
}  # fmt: skip
PN_FIELDS = frozenset({"patient_name", "referring_physician", "performing_physician"})
_TRAILING_PN = re.compile(r"[\s=]+$")
"""PS3.5 6.2.1: empty trailing component groups (and padding) may be omitted, and are."""
META_FIELDS = ("id", "ae_title", "start")
REQUIRED_FLAT = ("patient_name", "patient_id", "modality", "start")
FIELD_OF_PATH = {
    **{keyword: field for field, keyword in TOP_FIELDS.items()},
    **{f"{SPS}[0].{keyword}": field for field, keyword in STEP_FIELDS.items()},
    f"{SPS}[0].ScheduledProcedureStepStartDate": "start",
    f"{SPS}[0].ScheduledProcedureStepStartTime": "start",
    f"{SPS}[0].ScheduledProcedureStepDescription": "description",
}


class ItemInvalid(DataError):
    """A request body with bad fields; ``errors`` lists every one of them (HTTP 400)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("request body", "; ".join(f"{e.field}: {e.rule}" for e in errors))
        self.errors = errors


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def parse_iso_date(text: str) -> str | None:
    """``YYYY-MM-DD`` or ``YYYYMMDD`` -> DICOM DA (PS3.5 6.2), None when not a date."""
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.datetime.strptime(text, pattern).strftime("%Y%m%d")
        except ValueError:
            continue
    return None


def parse_start(text: str) -> tuple[str, str] | None:
    """ISO 8601 date-time (``2026-11-25T14:30``) -> (DA, TM), None when unparsable."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")


def _flat_start(step: Dataset, errors: list[FieldError], body: Mapping[str, Any]) -> None:
    parsed = parse_start(_text(body.get("start")))
    if parsed is None:
        errors.append(FieldError("start", "ISO 8601 date-time, e.g. 2026-11-25T14:30"))
        return
    step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime = parsed


def _flat_fields(body: Mapping[str, Any], errors: list[FieldError]) -> dict[str, str]:
    """The flat body's known text fields; unknown or missing required ones are errors."""
    known = set(TOP_FIELDS) | set(STEP_FIELDS) | set(META_FIELDS)
    for name in body:
        if name not in known:
            errors.append(FieldError(str(name), "unknown field"))
    values = {name: _text(value) for name, value in body.items() if name in known}
    for name in PN_FIELDS.intersection(values):
        values[name] = _TRAILING_PN.sub("", values[name])
    for name in REQUIRED_FLAT:
        if not values.get(name):
            errors.append(FieldError(name, "required"))
    if values.get("birth_date"):
        date = parse_iso_date(values["birth_date"])
        if date is None:
            errors.append(FieldError("birth_date", "a date YYYY-MM-DD"))
        values["birth_date"] = date or ""
    if values.get("sex") and values["sex"] not in {"M", "F", "O"}:
        errors.append(FieldError("sex", "one of M, F, O (PS3.3 C.7.1.1)"))
    if values.get("status") and values["status"] not in STATUSES:
        errors.append(FieldError("status", "one of " + ", ".join(STATUSES)))
    if values.get("priority") and values["priority"] not in PRIORITIES:
        errors.append(FieldError("priority", "one of " + ", ".join(PRIORITIES)))
    return values


def dataset_from_flat(body: Mapping[str, Any]) -> tuple[Dataset, list[FieldError]]:
    """The flat form -> an item with one Scheduled Procedure Step (PS3.4 Table K.6-1)."""
    errors: list[FieldError] = []
    values = _flat_fields(body, errors)
    ds, step = Dataset(), Dataset()
    for name, keyword in TOP_FIELDS.items():
        if values.get(name):
            setattr(ds, keyword, values[name])
    for name, keyword in STEP_FIELDS.items():
        if values.get(name):
            setattr(step, keyword, values[name])
    if values.get("description"):
        step.ScheduledProcedureStepDescription = values["description"]
    if values.get("start"):
        _flat_start(step, errors, values)
    ds.ScheduledProcedureStepSequence = Sequence([step])
    return ds, errors


def _json_value(vr: str, value: object, path: str) -> str:
    if vr == "PN":
        if not isinstance(value, Mapping):
            raise ValueError(f"{path}: PN values are objects with Alphabetic (PS3.18 F.2.2)")
        groups = [_text(value.get(key)) for key in ("Alphabetic", "Ideographic", "Phonetic")]
        return "=".join(groups).rstrip("=")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{path}: expected a string or number value")
    return str(value)


def _json_element(ds: Dataset, tag_text: str, entry: object, path: str) -> None:
    tag = int(tag_text, 16)
    keyword = keyword_for_tag(tag)
    if not keyword:
        raise ValueError(f"{path}{tag_text}: not a known public attribute (PS3.6)")
    where = f"{path}{keyword}"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("vr"), str):
        raise ValueError(f"{where}: expected an object with 'vr' (PS3.18 F.2.2)")
    vr, allowed = entry["vr"], str(dictionary_VR(tag)).split(" or ")
    if vr not in allowed:
        raise ValueError(f"{where}: VR {vr} but the data dictionary says {'/'.join(allowed)}")
    if "InlineBinary" in entry or "BulkDataURI" in entry:
        raise ValueError(f"{where}: binary values are not supported in worklist items")
    values = entry.get("Value", [])
    if not isinstance(values, list):
        raise ValueError(f"{where}: 'Value' must be an array (PS3.18 F.2.4)")
    if vr == "SQ":
        items = [_json_dataset(item, f"{where}[{i}].") for i, item in enumerate(values)]
        ds.add_new(tag, vr, Sequence(items))
        return
    texts = [_json_value(vr, value, where) for value in values]
    ds.add_new(tag, vr, texts[0] if len(texts) == 1 else (texts or None))


def _json_dataset(document: object, path: str = "") -> Dataset:
    if not isinstance(document, Mapping):
        raise ValueError(f"{path or 'body'}: expected a DICOM JSON object (PS3.18 F.2)")
    ds = Dataset()
    for tag_text, entry in document.items():
        if not isinstance(tag_text, str) or not re.fullmatch(r"[0-9A-Fa-f]{8}", tag_text):
            raise ValueError(f"{path}{tag_text}: attribute keys are 8 hex digits (PS3.18 F.2.1)")
        _json_element(ds, tag_text, entry, path)
    return ds


def dataset_from_dicom_json(document: object) -> tuple[Dataset, list[FieldError]]:
    """The DICOM JSON model (PS3.18 F.2) -> Dataset; structural problems become errors."""
    try:
        ds = _json_dataset(document)
    except ValueError as exc:
        field, _, rule = str(exc).partition(": ")
        return Dataset(), [FieldError(field, rule)]
    errors = []
    steps = ds.get(SPS)
    if not steps:
        errors.append(FieldError(SPS, "required with at least one item (PS3.4 K.6.1)"))
    for keyword in ("PatientID", "PatientName"):
        if not ds.get(keyword):
            errors.append(FieldError(keyword, "required"))
    return ds, errors


def is_dicom_json(body: Mapping[str, Any]) -> bool:
    """True when the keys look like PS3.18 F.2 tags rather than flat field names."""
    return bool(body) and all(re.fullmatch(r"[0-9A-Fa-f]{8}", str(key)) for key in body)


def to_flat_errors(errors: list[FieldError]) -> list[FieldError]:
    """Name errors by flat field when the attribute came from one (for the web form); a
    field stored in two attributes (``description``) reports a broken rule once."""
    named = (FieldError(FIELD_OF_PATH.get(e.field, e.field), e.rule) for e in errors)
    return list(dict.fromkeys(named))


def item_from_body(body: object, previous: Dataset | None = None) -> tuple[Dataset, dict[str, str]]:
    """Body -> item (see :func:`_item_from_body`). pydicom's own value warnings are
    silenced: every value is checked here and reported as a field error instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _item_from_body(body, previous)


def _item_from_body(
    body: object, previous: Dataset | None = None
) -> tuple[Dataset, dict[str, str]]:
    """Body (flat, DICOM JSON, or ``{"dicom": ..., "id": ..., "ae_title": ...}``) -> item.

    Returns the dataset and the meta fields (``id``, ``ae_title``); raises
    :class:`ItemInvalid` listing every bad field.
    """
    if not isinstance(body, Mapping):
        raise ItemInvalid([FieldError("body", "expected a JSON object")])
    meta = {key: _text(body.get(key)) for key in ("id", "ae_title") if body.get(key)}
    flat = False
    if "dicom" in body:
        ds, errors = dataset_from_dicom_json(body["dicom"])
        extra = set(body) - {"dicom", "id", "ae_title"}
        errors += [FieldError(str(name), "unknown field") for name in sorted(extra)]
    elif is_dicom_json(body):
        ds, errors = dataset_from_dicom_json(body)
    else:
        flat = True
        ds, errors = dataset_from_flat(body)
    if "id" in meta and not ID_PATTERN.fullmatch(meta["id"]):
        errors.append(FieldError("id", "1-64 characters A-Z a-z 0-9 _ -"))
    if not errors:
        fill_generated(ds, previous)
    errors += check_dataset(ds)
    if errors:
        raise ItemInvalid(to_flat_errors(errors) if flat else errors)
    return ds, meta


def _iso_start(date: str, time: str) -> str:
    if len(date) != 8:
        return ""
    text = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    digits = time.split(".", maxsplit=1)[0]
    if len(digits) >= 4:
        text += f"T{digits[:2]}:{digits[2:4]}"
        if len(digits) >= 6:
            text += f":{digits[4:6]}"
    return text


def _flat_text(ds: Dataset, keyword: str) -> str:
    """One attribute as flat text: several values joined by backslashes (PS3.5 6.4), so
    the flat form posted back gives the same values (single-valued ones refuse it)."""
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(part) for part in value)
    return str(value)


def flat_from_dataset(ds: Dataset) -> dict[str, str]:
    """The flat view of an item (first Scheduled Procedure Step only)."""
    flat = {name: _flat_text(ds, keyword) for name, keyword in TOP_FIELDS.items()}
    steps = ds.get(SPS) or [Dataset()]
    step = steps[0]
    flat.update({name: _flat_text(step, kw) for name, kw in STEP_FIELDS.items()})
    flat["status"] = flat["status"] or "SCHEDULED"
    flat["description"] = flat["description"] or _flat_text(
        step, "ScheduledProcedureStepDescription"
    )
    flat["start"] = _iso_start(
        _flat_text(step, "ScheduledProcedureStepStartDate"),
        _flat_text(step, "ScheduledProcedureStepStartTime"),
    )
    return flat
