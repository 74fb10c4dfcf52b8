"""Value checks for worklist items: the HTTP API, the CLI and hand-written item files.

Every rule comes from PS3.5 6.2 (Table 6.2-1, value representations): maximum lengths,
the allowed character repertoire of each VR (PS3.5 6.1: the default repertoire is
ISO 646 unless Specific Character Set (0008,0005) extends it) and the formats of DA, TM,
DT, AS, IS, DS and UI. :func:`check_dataset` returns one :class:`FieldError` per bad value,
naming the attribute path and the rule it broke, so an API client sees all of them at once.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from pydicom import charset as pydicom_charset
from pydicom.datadict import dictionary_VM
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

MAX_LENGTHS = {"AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64,
               "LT": 10240, "SH": 16, "ST": 1024, "TM": 16, "UI": 64}  # fmt: skip
"""PS3.5 Table 6.2-1: maximum characters per value (PN: 64 per component group)."""

TEXT_WITH_CONTROLS = frozenset({"LT", "ST", "UT"})
"""PS3.5 6.1.3: these VRs may hold CR, LF, FF and TAB (and ESC with code extensions)."""
MULTI_VALUE_FREE = frozenset({"LT", "ST", "UT", "UR"})
"""PS3.5 6.4: single-valued VRs, where a backslash is an ordinary character."""
MULTIPLE_VALUES = "one value only (VM 1, PS3.6); a backslash would make it several (PS3.5 6.4)"
INTEGER_RANGES = {"US": (0, 0xFFFF), "SS": (-0x8000, 0x7FFF), "UL": (0, 0xFFFFFFFF),
                  "SL": (-0x80000000, 0x7FFFFFFF), "IS": (-(2**31), 2**31 - 1)}  # fmt: skip

_CS = re.compile(r"[A-Z0-9 _]*")
_AS = re.compile(r"\d{3}[DWMY]")
_DS = re.compile(r" *[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? *")
_IS = re.compile(r" *[+-]?\d+ *")
_UI = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))*")
_TM = re.compile(r"(\d{2})((\d{2})((\d{2})(\.\d{1,6})?)?)?")
_DT = re.compile(
    r"(\d{4})((\d{2})((\d{2})((\d{2})((\d{2})((\d{2})(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?"
)
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f-\x9f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad value: where it is and which rule it broke."""

    field: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule}


def _date_ok(text: str) -> bool:
    try:
        datetime.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return len(text) == 8


def _time_ok(text: str) -> str | None:
    match = _TM.fullmatch(text)
    if match is None:
        return "TM must be HH[MM[SS[.FFFFFF]]] (PS3.5 6.2)"
    hours, minutes, seconds = match.group(1), match.group(3), match.group(5)
    if int(hours) > 23 or (minutes and int(minutes) > 59) or (seconds and int(seconds) > 60):
        return "TM hour 00-23, minute 00-59, second 00-60 (PS3.5 6.2)"
    return None


def _datetime_ok(text: str) -> str | None:
    match = _DT.fullmatch(text)
    if match is None:
        return "DT must be YYYY[MM[DD[HH[MM[SS[.FFFFFF]]]]]][&ZZXX] (PS3.5 6.2)"
    month, day = match.group(3), match.group(5)
    if month and not 1 <= int(month) <= 12:
        return "DT month must be 01-12 (PS3.5 6.2)"
    if day and not _date_ok(text[:8]):
        return "DT date is not a calendar date (PS3.5 6.2)"
    clock = re.split(r"[+-]", text[8:], maxsplit=1)[0]
    return _time_ok(clock) if clock else None


def _check_uid(text: str) -> str | None:
    if not _UI.fullmatch(text):
        return "UI is digits and dots, no leading zeros in a component (PS3.5 9.1)"
    return None


def _check_number(vr: str, text: str) -> str | None:
    if vr == "DS":
        return None if _DS.fullmatch(text) else "DS must be a decimal number (PS3.5 6.2)"
    if vr in {"FL", "FD"}:
        try:
            float(text)
        except ValueError:
            return f"{vr} must be a number"
        return None
    if not _IS.fullmatch(text):
        return f"{vr} must be an integer (PS3.5 6.2)"
    low, high = INTEGER_RANGES.get(vr, (-(2**63), 2**64 - 1))
    if not low <= int(text) <= high:
        return f"{vr} must be from {low} to {high}"
    return None


def _check_formatted(vr: str, text: str) -> str | None:
    """DA, TM, DT, AS, CS, AE, UI and the numeric string VRs."""
    result: str | None = None
    if vr == "DA":
        result = None if _date_ok(text) else "DA must be a calendar date YYYYMMDD (PS3.5 6.2)"
    elif vr == "TM":
        result = _time_ok(text.rstrip())
    elif vr == "DT":
        result = _datetime_ok(text.rstrip())
    elif vr == "AS":
        result = None if _AS.fullmatch(text) else "AS must be nnnD, nnnW, nnnM or nnnY (PS3.5 6.2)"
    elif vr == "CS":
        result = None if _CS.fullmatch(text) else "CS allows A-Z, 0-9, space and _ (PS3.5 6.2)"
    elif vr == "AE":
        if not text.isascii() or _CONTROL.search(text) or not text.strip():
            result = "AE is 1-16 printable ASCII characters, not only spaces (PS3.5 6.2)"
    elif vr == "UI":
        result = _check_uid(text)
    else:
        result = _check_number(vr, text.strip())
    return result


def _check_pn(text: str) -> str | None:
    groups = text.split("=")
    if len(groups) > 3:
        return "PN has at most 3 component groups (PS3.5 6.2.1)"
    for group in groups:
        if len(group) > 64:
            return "PN component group longer than 64 characters (PS3.5 6.2)"
        if group.count("^") > 4:
            return "PN has at most 5 components separated by ^ (PS3.5 6.2.1)"
    if _CONTROL.search(text):
        return "PN must not contain control characters (PS3.5 6.2)"
    return None


def check_value(vr: str, text: str) -> str | None:
    """The rule one value of ``vr`` breaks, or None (PS3.5 6.2, Table 6.2-1)."""
    if "\\" in text and vr not in MULTI_VALUE_FREE:
        return "a backslash separates values and cannot be part of one (PS3.5 6.4)"
    limit = MAX_LENGTHS.get(vr)
    if limit is not None and len(text) > limit:
        return f"{vr} value longer than {limit} characters (PS3.5 6.2)"
    if vr == "PN":
        return _check_pn(text)
    if vr in {"SH", "LO", "UC"}:
        return "control characters are not allowed (PS3.5 6.2)" if _CONTROL.search(text) else None
    if vr in TEXT_WITH_CONTROLS or vr == "UR":
        bad = _CONTROL_TEXT.search(text)
        return "only CR, LF, FF, TAB control characters allowed (PS3.5 6.1.3)" if bad else None
    if not text.isascii():
        return f"{vr} allows only the default character repertoire (PS3.5 6.1.2.1)"
    return _check_formatted(vr, text)


def _values(element_value: object, vr: str) -> list[str]:
    if element_value is None:
        return []
    if isinstance(element_value, list | tuple) or type(element_value).__name__ == "MultiValue":
        return [str(value) for value in element_value]  # type: ignore[attr-defined]
    text = str(element_value)
    if vr in MULTI_VALUE_FREE:
        return [text]
    return text.split("\\")


def _encoder(ds: Dataset) -> Callable[[str], bool] | None:
    """A test that text fits the data set's Specific Character Set, or None if unrestricted."""
    terms = ds.get("SpecificCharacterSet")
    if not terms:
        return None
    values = [terms] if isinstance(terms, str) else [str(term) for term in terms]
    if len(values) != 1 or values[0] in {"ISO_IR 192", "GB18030", "GBK"}:
        return None  # Unicode or ISO 2022 code extensions: left to the encoder
    codec = pydicom_charset.python_encoding.get(values[0].strip())
    if codec is None:
        return None

    def fits(text: str) -> bool:
        try:
            text.encode(codec)
        except UnicodeEncodeError:
            return False
        return True

    return fits


def _elements(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, DataElement]]:
    """(path, element) of every non-sequence element, sequences entered ("Seq[0].Keyword")."""
    for element in ds:
        name = element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"
        path = f"{prefix}{name}"
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                yield from _elements(item, f"{path}[{index}].")
        else:
            yield path, element


def walk(ds: Dataset) -> Iterator[tuple[str, str, object]]:
    """(path, VR, value) of every element, sequences entered ("Seq[0].Keyword")."""
    for path, element in _elements(ds):
        yield path, str(element.VR), element.value


@lru_cache(maxsize=1024)
def single_valued(tag: int) -> bool:
    """True when the data dictionary gives the attribute VM 1 (PS3.6)."""
    try:
        return str(dictionary_VM(tag)) == "1"
    except KeyError:
        return False  # private or unknown: no VM to enforce


def check_dataset(ds: Dataset) -> list[FieldError]:
    """Every value of ``ds`` checked against its VR and the character set (PS3.5 6.1, 6.2)."""
    errors: list[FieldError] = []
    fits = _encoder(ds)
    if "SpecificCharacterSet" in ds:
        for term in _values(ds.SpecificCharacterSet, "CS"):
            if term and term.strip() not in pydicom_charset.python_encoding:
                errors.append(
                    FieldError(
                        "SpecificCharacterSet", f"unknown defined term {term!r} (PS3.3 C.12.1.1.2)"
                    )
                )
    for path, element in _elements(ds):
        vr = str(element.VR)
        values = _values(element.value, vr)
        if len(values) > 1 and single_valued(int(element.tag)):
            errors.append(FieldError(path, MULTIPLE_VALUES))
            continue
        for text in values:
            rule = check_value(vr, text)
            if rule is None and fits is not None and not fits(text):
                rule = "not representable in the item's Specific Character Set (PS3.5 6.1)"
            if rule is not None:
                errors.append(FieldError(path, rule))
                break
    return errors
