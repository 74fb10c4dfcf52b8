"""Classify one key attribute of a C-FIND Identifier (PS3.4 C.2.2.2).

:func:`classify` turns a decoded, normalized key value into a :class:`KeySpec`: the kind
of matching the standard prescribes for that VR and value, plus a value predicate.
Invalid keys raise :class:`~aiodicom.errors.QueryError` with status 0xA900 and a comment
naming the element.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydicom.datadict import keyword_for_tag

from aiodicom.errors import QueryError
from aiodicom.matching.model import (
    EMPTY_VALUE_KEY,
    NUMERIC_VRS,
    SINGLE_VALUED_VRS,
    STATUS_IDENTIFIER_DOES_NOT_MATCH,
    TEMPORAL_VRS,
    WILDCARD_VRS,
    MatchKind,
    MatchOptions,
    tag_text,
)
from aiodicom.matching.predicates import (
    ValueTest,
    combine,
    has_wildcard,
    numeric_test,
    pn_folder,
    pn_test,
    range_test,
    text_test,
    uid_list_test,
)
from aiodicom.matching.temporal import RangeKey, parse_range_key, split_range

if TYPE_CHECKING:
    from aiodicom.matching.query import CompiledQuery

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

# PS3.4 C.2.2.2.5.4: Date/Time attribute pairs eligible for combined datetime matching.
DATETIME_PAIRS: Mapping[int, int] = {
    0x00080012: 0x00080013,  # Instance Creation Date/Time
    0x00080020: 0x00080030,  # Study Date/Time
    0x00080021: 0x00080031,  # Series Date/Time
    0x00080022: 0x00080032,  # Acquisition Date/Time
    0x00080023: 0x00080033,  # Content Date/Time
    0x00100030: 0x00100032,  # Patient's Birth Date/Time
    0x00321040: 0x00321041,  # Study Arrival Date/Time
    0x00321050: 0x00321051,  # Study Completion Date/Time
    0x00400002: 0x00400003,  # Scheduled Procedure Step Start Date/Time
    0x00400004: 0x00400005,  # Scheduled Procedure Step End Date/Time
    0x00400244: 0x00400245,  # Performed Procedure Step Start Date/Time
    0x00400250: 0x00400251,  # Performed Procedure Step End Date/Time
}


def key_name(tag: int) -> str:
    """Keyword of a tag for messages, else ``(gggg,eeee)``."""
    return keyword_for_tag(tag) or tag_text(tag)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One classified key attribute (PS3.4 C.2.2.2).

    ``values``: the individual key values as compared (PN folded per the options) — for
    index lookups on SINGLE / UID_LIST keys. ``bounds``: for a RANGE key with one value,
    its two textual sides (``""`` = open), e.g. ``("20240101", "20240131")``.
    ``range``: the parsed range (combined DA+TM range for both keys of a combined pair).
    ``combined_with``: the partner tag when combined datetime matching applies.
    ``sub``: the item query of a SEQUENCE key.
    """

    tag: int
    vr: str
    kind: MatchKind
    text: str
    values: tuple[str, ...] = ()
    bounds: tuple[str, str] | None = None
    range: RangeKey | None = None
    combined_with: int | None = None
    sub: CompiledQuery | None = None
    test: ValueTest | None = field(default=None, repr=False, compare=False)


def invalid(tag: int, what: str) -> QueryError:
    """A QueryError (0xA900) whose comment names the element and the problem."""
    comment = f"{key_name(tag)} {tag_text(tag)}: {what}"
    return QueryError(STATUS_IDENTIFIER_DOES_NOT_MATCH, comment=comment)


def classify(tag: int, vr: str, text: str, options: MatchOptions, tz_offset: int) -> KeySpec:
    """Classify a normalized, non-sequence key value (PS3.4 C.2.2.2.1-5, C.2.2.2.1.5)."""
    if text == "":
        return KeySpec(tag, vr, MatchKind.UNIVERSAL, text)
    if text == EMPTY_VALUE_KEY:
        return KeySpec(tag, vr, MatchKind.EMPTY, text, test=_is_empty)
    if vr in WILDCARD_VRS and set(text) == {"*"}:
        return KeySpec(tag, vr, MatchKind.UNIVERSAL, text)  # C.2.2.2.4 note 1
    if set(text) == {"*"}:
        # Not a wild card VR: "*" is not a valid value; lenient reading as universal.
        return KeySpec(tag, vr, MatchKind.UNIVERSAL, text)
    values = [text] if vr in SINGLE_VALUED_VRS else text.split("\\")
    if vr == "UI":
        return _classify_uids(tag, values)
    if vr in TEMPORAL_VRS:
        return _classify_temporal(tag, vr, text, values, options=options, tz_offset=tz_offset)
    if has_wildcard(text) and vr not in WILDCARD_VRS:
        raise invalid(tag, f"wild cards are not allowed for VR {vr} (PS3.4 C.2.2.2.4)")
    if vr in NUMERIC_VRS:
        return _classify_numeric(tag, vr, text, values, options)
    return _classify_text(tag, vr, text, values, options)


def _is_empty(stored: str) -> bool:
    """PS3.4 C.2.2.2.1.5: a zero-length (or absent, see CompiledQuery.match) value."""
    return stored == ""


def _classify_uids(tag: int, values: list[str]) -> KeySpec:
    for uid in values:
        if not _UID.fullmatch(uid):
            raise invalid(tag, f"{uid!r} is not a UID (PS3.4 C.2.2.2.2)")
    kind = MatchKind.UID_LIST if len(values) > 1 else MatchKind.SINGLE
    test = combine("UI", [uid_list_test(values)], MatchOptions())
    return KeySpec(tag, "UI", kind, "\\".join(values), tuple(values), test=test)


def _classify_temporal(
    tag: int, vr: str, text: str, values: list[str], *, options: MatchOptions, tz_offset: int
) -> KeySpec:
    ranges: list[RangeKey] = []
    for value in values:
        try:
            inverted_ok = vr == "TM" and len(values) == 1
            ranges.append(parse_range_key(vr, value, tz_offset, allow_inverted=inverted_ok))
        except ValueError as exc:
            raise invalid(tag, f"{exc} (PS3.4 C.2.2.2.5)") from exc
    is_range = any(item.form != "single" for item in ranges)
    kind = MatchKind.RANGE if is_range else MatchKind.SINGLE
    bounds = split_range(vr, values[0]) if is_range and len(values) == 1 else None
    if ranges[0].form == "inverted":  # checked in compile_query once pairs are known
        return KeySpec(tag, vr, MatchKind.RANGE, text, tuple(values), range=ranges[0])
    tests = [range_test(vr, item, tz_offset) for item in ranges]
    return KeySpec(
        tag,
        vr,
        kind,
        text,
        tuple(values),
        bounds=bounds,
        range=ranges[0] if len(ranges) == 1 else None,
        test=combine(vr, tests, options),
    )


def _classify_numeric(
    tag: int, vr: str, text: str, values: list[str], options: MatchOptions
) -> KeySpec:
    try:
        tests = [numeric_test(value) for value in values]
    except ValueError as exc:
        raise invalid(tag, f"{text!r} is not a valid {vr} value") from exc
    return KeySpec(tag, vr, MatchKind.SINGLE, text, tuple(values), test=combine(vr, tests, options))


def _classify_text(
    tag: int, vr: str, text: str, values: list[str], options: MatchOptions
) -> KeySpec:
    wild = any(has_wildcard(value) for value in values)
    kind = MatchKind.WILDCARD if wild else MatchKind.SINGLE
    if vr == "PN":
        tests = [pn_test(value, options) for value in values]
        fold = pn_folder(options)
        shown = tuple(fold(value) for value in values)
    else:
        tests = [text_test(value) for value in values]
        shown = tuple(values)
    return KeySpec(tag, vr, kind, text, shown, test=combine(vr, tests, options))
