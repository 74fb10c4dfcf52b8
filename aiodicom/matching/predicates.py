"""Value predicates: one normalized key value against one stored value (PS3.4 C.2.2.2).

Each builder returns a function of a single stored value (already split on ``"\\"``).
:func:`combine` then applies PS3.4 C.2.2.3 (a multi-valued stored attribute matches when
any of its values matches) and the key's own multiplicity (OR, or AND under C.2.2.2.8).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from aiodicom.matching.model import SINGLE_VALUED_VRS, MatchOptions
from aiodicom.matching.temporal import RangeKey, parse_interval

ValueTest = Callable[[str], bool]

_WILDCARDS = frozenset("*?")


def has_wildcard(text: str) -> bool:
    """PS3.4 C.2.2.2.4: does the value contain "*" or "?"."""
    return "*" in text or "?" in text


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Compile a wild card value: "*" any run of characters, "?" exactly one character.

    Characters, not bytes: values are decoded first, so "?" matches "ü" or "山".
    """
    parts: list[str] = []
    for char in pattern:
        if char == "*":
            if not parts or parts[-1] != ".*":
                parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def text_test(key: str) -> ValueTest:
    """Single Value Matching (C.2.2.2.1) or Wild Card Matching (C.2.2.2.4), case sensitive."""
    if has_wildcard(key):
        fullmatch = wildcard_regex(key).fullmatch
        return lambda stored: fullmatch(stored) is not None
    return key.__eq__


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def caseless(text: str) -> str:
    """Unicode caseless form: casefold, then NFC again (casefold may decompose, "ΐ")."""
    folded = text.casefold()
    return folded if folded.isascii() else unicodedata.normalize("NFC", folded)


def pn_folder(options: MatchOptions) -> Callable[[str], str]:
    """How names are folded before comparison (PS3.4 C.2.2.2.1: PN may ignore case)."""
    if options.fuzzy_pn:
        return lambda text: _strip_accents(text.casefold())
    if options.pn_case_sensitive:
        return lambda text: text
    return caseless


def pn_test(key: str, options: MatchOptions) -> ValueTest:
    """PN matching per component group (PS3.4 C.2.2.2.1, C.2.2.2.4 note 3; PS3.5 6.2.1).

    A key without "=" matches when any of the stored alphabetic, ideographic or phonetic
    groups matches it; a key with groups matches group by group, empty key groups being
    "don't care".
    """
    fold = pn_folder(options)
    groups = fold(key).split("=")
    tests = [text_test(group) if group else None for group in groups]
    if len(tests) == 1:
        only = tests[0]
        assert only is not None  # an empty key is universal and never gets here
        return lambda stored: any(only(group) for group in fold(stored).split("="))

    def grouped(stored: str) -> bool:
        stored_groups = fold(stored).split("=")
        for index, test in enumerate(tests):
            if test is None:
                continue
            value = stored_groups[index] if index < len(stored_groups) else ""
            if not test(value):
                return False
        return True

    return grouped


def numeric_test(key: str) -> ValueTest:
    """Single Value Matching of IS/DS/binary numbers: equal as numbers, so "007" matches
    "7" (PS3.4 C.2.2.2.1; implementation dependent per CP-2305)."""
    number = float(key)

    def equal(stored: str) -> bool:
        try:
            return float(stored) == number
        except ValueError:
            return stored == key

    return equal


def range_test(vr: str, key: RangeKey, assumed_offset: int) -> ValueTest:
    """Range Matching (C.2.2.2.5) and single DA/TM/DT values (C.2.2.2.1 b)."""

    def overlaps(stored: str) -> bool:
        try:
            interval = parse_interval(vr, stored, assumed_offset)
        except ValueError:
            return False
        return key.overlaps(interval)

    return overlaps


def uid_list_test(uids: Sequence[str]) -> ValueTest:
    """List of UID Matching (C.2.2.2.2): any listed UID may generate a match."""
    if len(uids) == 1:
        return uids[0].__eq__
    return frozenset(uids).__contains__


def combine(vr: str, tests: Sequence[ValueTest], options: MatchOptions) -> ValueTest:
    """Apply key and stored multiplicity (PS3.4 C.2.2.2.8, C.2.2.3) to per-value tests."""
    splittable = vr not in SINGLE_VALUED_VRS
    if len(tests) == 1:
        test = tests[0]
        if not splittable:
            return test
        return lambda stored: (
            test(stored) if "\\" not in stored else any(map(test, stored.split("\\")))
        )
    if options.multi_value_and:

        def every(stored: str) -> bool:
            values = stored.split("\\") if splittable else [stored]
            return all(any(map(test, values)) for test in tests)

        return every

    def some(stored: str) -> bool:
        values = stored.split("\\") if splittable else [stored]
        return any(test(value) for test in tests for value in values)

    return some
