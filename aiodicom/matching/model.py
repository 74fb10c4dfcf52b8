"""Value types shared by the matching engine (PS3.4 C.2.2.2).

A :data:`Record` is the normalized, decoded form of one stored entity (a worklist item or a
Q/R entity): tag -> text value (multiple values joined with ``"\\"``), SQ -> tuple of item
Records. A key absent from the mapping means the attribute is absent; ``""`` means it is
present with zero length (or only padding, PS3.5 6.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias, Union

Record: TypeAlias = Mapping[int, Union[str, "tuple[Record, ...]"]]

SPECIFIC_CHARACTER_SET = 0x00080005
TIMEZONE_OFFSET_FROM_UTC = 0x00080201

# PS3.4 C.4.1.1.4 / K.4.1.1.4 failure statuses used for refused identifiers.
STATUS_IDENTIFIER_DOES_NOT_MATCH = 0xA900
STATUS_UNABLE_TO_PROCESS = 0xC000

# PS3.4 C.2.2.2.4: the VRs on which "*" and "?" are wild cards.
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
# PS3.5 6.4: VRs that always have VM 1 (a backslash is part of the value, not a delimiter).
SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT", "UR"})
TEMPORAL_VRS = frozenset({"DA", "TM", "DT"})
NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC"}
    | {"UI", "UR", "UT"}
)
# PS3.5 6.1.2.3 / 6.2: VRs whose values may use extended or replacement character sets.
CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})

EMPTY_VALUE_KEY = '""'
"""PS3.4 C.2.2.2.1.5: a key value of two QUOTATION MARKs asks for Empty Value Matching."""


class MatchKind(StrEnum):
    """PS3.4 C.2.2.2: the kind of matching a key attribute asks for."""

    UNIVERSAL = "universal"  # C.2.2.2.3 (zero length, or "*" on a wild card VR)
    SINGLE = "single"  # C.2.2.2.1 (one or more exact values)
    WILDCARD = "wildcard"  # C.2.2.2.4
    RANGE = "range"  # C.2.2.2.5
    UID_LIST = "uid-list"  # C.2.2.2.2
    EMPTY = "empty"  # C.2.2.2.1.5
    SEQUENCE = "sequence"  # C.2.2.2.6


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """Matching behaviour switches.

    ``pn_case_sensitive``: PS3.4 C.2.2.2.1 lets PN matching ignore case; we do by default.
    ``combine_datetime``: PS3.4 C.2.2.2.5.4 combined DA+TM range matching (an extended
    negotiation option for Q/R; always used by the worklist SCP).
    ``fuzzy_pn``: fuzzy semantic matching of person names (a PS3.4 C.5.1.1 extended
    negotiation option): here case *and* accent insensitive (PS3.4 C.2.2.2.1 allows it).
    ``multi_value_and``: PS3.4 C.2.2.2.8 Multiple Value Matching (extended negotiation):
    every key value must match some entity value. Without it, multiple key values are an
    OR (any may match), as for List of UID Matching.
    """

    pn_case_sensitive: bool = False
    combine_datetime: bool = True
    fuzzy_pn: bool = False
    multi_value_and: bool = False


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The outcome of a successful match.

    ``sequence_items``: for each sequence key that was matched with item keys (PS3.4
    C.2.2.2.6), the indices of the stored items that matched; only those are returned.
    A sequence tag that is absent here is returned whole (universal sequence matching).
    ``item_results``: the nested result for each matching item, keyed by
    ``(sequence tag, item index)``, for sequences nested in sequences.
    """

    sequence_items: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    item_results: Mapping[tuple[int, int], MatchResult] = field(default_factory=dict)


EMPTY_RESULT = MatchResult()


def tag_text(tag: int) -> str:
    """Format a tag as ``(gggg,eeee)``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
