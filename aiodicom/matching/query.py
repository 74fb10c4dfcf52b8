"""Compile a C-FIND Identifier once, match it against many Records (PS3.4 C.2.2.2).

``compile_query`` decodes the Identifier with its own Specific Character Set (C.2.2.2),
classifies every key (:mod:`aiodicom.matching.keys`), pairs DA/TM range keys for combined
datetime matching (C.2.2.2.5.4) and compiles sequence keys recursively (C.2.2.2.6).
``CompiledQuery.match`` is then a short loop over precompiled predicates, cheapest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pydicom.dataset import Dataset

from aiodicom.errors import QueryError
from aiodicom.matching.keys import DATETIME_PAIRS, KeySpec, classify, invalid, key_name
from aiodicom.matching.model import (
    EMPTY_RESULT,
    SPECIFIC_CHARACTER_SET,
    STATUS_UNABLE_TO_PROCESS,
    TIMEZONE_OFFSET_FROM_UTC,
    MatchKind,
    MatchOptions,
    MatchResult,
    Record,
)
from aiodicom.matching.predicates import ValueTest
from aiodicom.matching.temporal import RangeKey, combined_range_key, parse_offset
from aiodicom.matching.text import (
    DEFAULT_ENCODINGS,
    CharsetError,
    dataset_encodings,
    element_text,
    element_vr,
    normalize,
)

QUERY_RETRIEVE_LEVEL = 0x00080052
# Elements of an Identifier that are never matched (PS3.4 C.2.2.2, C.4.1.2.1).
NOT_MATCHED = frozenset({SPECIFIC_CHARACTER_SET, QUERY_RETRIEVE_LEVEL, TIMEZONE_OFFSET_FROM_UTC})

_COST = {MatchKind.EMPTY: 0, MatchKind.SINGLE: 0, MatchKind.UID_LIST: 0, MatchKind.RANGE: 1}

ValueCheck = tuple[int, ValueTest, bool]  # tag, predicate, absent/zero-length matches
PairCheck = tuple[int, int, RangeKey]  # date tag, time tag, combined range


def _cost(spec: KeySpec) -> int:
    """Cheap value checks first: exact and empty, then ranges, then the rest."""
    return _COST.get(spec.kind, 2)


class CompiledQuery:
    """A compiled Identifier (PS3.4 C.2.2.2). Build it with :func:`compile_query`.

    ``keys``: every key by tag (top level), ``return_keys``: the requested tags in tag
    order (without Specific Character Set), ``matching_keys``: the tags that restrict the
    match (not universal), for the store's planner.
    """

    def __init__(
        self,
        keys: Mapping[int, KeySpec],
        options: MatchOptions,
        encodings: tuple[str, ...],
        pairs: tuple[PairCheck, ...] = (),
    ) -> None:
        self.keys = dict(keys)
        self.options = options
        self.encodings = encodings
        tags = sorted(keys)
        if SPECIFIC_CHARACTER_SET in keys:
            tags.remove(SPECIFIC_CHARACTER_SET)
        self.return_keys = tuple(tags)
        paired = {tag for pair in pairs for tag in pair[:2]}
        matching: list[int] = []
        tested: list[KeySpec] = []
        sequences: list[tuple[int, CompiledQuery]] = []
        for tag, spec in keys.items():  # one pass: most keys are universal
            kind = spec.kind
            if kind is MatchKind.UNIVERSAL:
                continue
            if tag != SPECIFIC_CHARACTER_SET:
                matching.append(tag)
            if spec.test is not None and tag not in paired:
                tested.append(spec)
            if kind is MatchKind.SEQUENCE and spec.sub is not None:
                sequences.append((tag, spec.sub))
        matching.sort()
        self.matching_keys = tuple(matching)
        self._pairs = pairs
        self._values: tuple[ValueCheck, ...] = tuple(
            (spec.tag, spec.test, spec.kind is MatchKind.EMPTY)
            for spec in sorted(tested, key=_cost)
            if spec.test is not None
        )
        self._sequences: tuple[tuple[int, CompiledQuery], ...] = tuple(sequences)

    def kind(self, tag: int) -> MatchKind | None:
        """The matching kind of a top-level key, None when it is not in the Identifier."""
        spec = self.keys.get(tag)
        return None if spec is None else spec.kind

    def match(self, record: Record) -> MatchResult | None:
        """Match one Record; None when it does not match (PS3.4 C.2.2.2)."""
        for tag, test, empty_ok in self._values:
            stored = record.get(tag)
            if stored is None:
                if empty_ok:
                    continue
                return None
            if isinstance(stored, tuple) or not test(stored):
                return None
        for date_tag, time_tag, combined in self._pairs:
            if not _pair_matches(record, date_tag, time_tag, combined):
                return None
        if not self._sequences:
            return EMPTY_RESULT
        return self._match_sequences(record)

    def _match_sequences(self, record: Record) -> MatchResult | None:
        items_by_tag: dict[int, tuple[int, ...]] = {}
        nested: dict[tuple[int, int], MatchResult] = {}
        for tag, sub in self._sequences:
            items = record.get(tag)
            if not isinstance(items, tuple):
                return None
            matched: list[int] = []
            for index, item in enumerate(items):
                result = sub.match(item)
                if result is not None:
                    matched.append(index)
                    if result.sequence_items:
                        nested[(tag, index)] = result
            if not matched:
                return None
            items_by_tag[tag] = tuple(matched)
        return MatchResult(items_by_tag, nested)

    def explain(self, record: Record) -> str | None:
        """The first key that excludes ``record``, e.g.
        ``"ScheduledProcedureStepSequence>Modality: 'MR' does not match 'CT'"``;
        None when the record matches."""
        for tag, test, empty_ok in self._values:
            stored = record.get(tag)
            if stored is None and empty_ok:
                continue
            if not isinstance(stored, str) or not test(stored):
                return _mismatch(tag, stored, self.keys[tag].text)
        for date_tag, time_tag, combined in self._pairs:
            if not _pair_matches(record, date_tag, time_tag, combined):
                key = f"{self.keys[date_tag].text} {self.keys[time_tag].text}"
                stored_pair = f"{record.get(date_tag)} {record.get(time_tag)}"
                return f"{key_name(date_tag)}+{key_name(time_tag)}: {stored_pair!r} not in {key!r}"
        for tag, sub in self._sequences:
            items = record.get(tag)
            if not isinstance(items, tuple) or not items:
                return f"{key_name(tag)}: no items"
            if all(sub.match(item) is None for item in items):
                reason = sub.explain(items[0])
                return f"{key_name(tag)}>{reason}"
        return None


def _mismatch(tag: int, stored: object, key: str) -> str:
    if stored is None:
        return f"{key_name(tag)}: absent, does not match {key!r}"
    if isinstance(stored, tuple):
        return f"{key_name(tag)}: is a sequence, does not match {key!r}"
    return f"{key_name(tag)}: {stored!r} does not match {key!r}"


def _pair_matches(record: Record, date_tag: int, time_tag: int, combined: RangeKey) -> bool:
    """PS3.4 C.2.2.2.5.4: the stored date and time, concatenated, within the DT range."""
    from aiodicom.matching.temporal import stored_datetime_interval

    stored_date = record.get(date_tag)
    if not isinstance(stored_date, str) or not stored_date:
        return False
    stored_time = record.get(time_tag)
    time_text = stored_time if isinstance(stored_time, str) else None
    dates = stored_date.split("\\")
    for date_text in dates:
        interval = stored_datetime_interval(date_text, time_text)
        if interval is not None and combined.overlaps(interval):
            return True
    return False


def compile_query(
    identifier: Dataset,
    options: MatchOptions | None = None,
    _inherited: tuple[str, ...] = DEFAULT_ENCODINGS,
) -> CompiledQuery:
    """Compile a C-FIND Identifier (PS3.4 C.2.2.2). Raises QueryError for invalid keys.

    Status 0xA900 for a malformed key (the comment names the element), 0xC000 for a
    Specific Character Set we cannot decode (C.2.2.2: the SCP states its behaviour).
    """
    options = options or MatchOptions()
    try:
        encodings = dataset_encodings(identifier, _inherited)
    except CharsetError as exc:
        raise QueryError(
            STATUS_UNABLE_TO_PROCESS, comment=f"SpecificCharacterSet (0008,0005): {exc}"
        ) from exc
    tz_offset = _timezone_offset(identifier, encodings)
    keys: dict[int, KeySpec] = {}
    tags = identifier.keys()  # tags only: iterating a Dataset converts its elements
    for raw_tag in tags:
        tag = int(raw_tag)
        if tag & 0xFFFF == 0:
            continue  # group length
        keys[tag] = _compile_key(identifier, tag, options, encodings, tz_offset)
    return finish_query(keys, options, encodings)


def finish_query(
    keys: dict[int, KeySpec], options: MatchOptions, encodings: tuple[str, ...]
) -> CompiledQuery:
    """Pair DA/TM range keys (C.2.2.2.5.4), refuse lone inverted ranges, build the query."""
    ranges = [tag for tag, spec in keys.items() if spec.kind is MatchKind.RANGE]
    pairs = _combine_datetime(keys) if options.combine_datetime and len(ranges) > 1 else ()
    for tag in ranges:
        spec = keys[tag]
        if spec.range is not None and spec.range.form == "inverted" and not spec.combined_with:
            raise invalid(spec.tag, f"range {spec.text!r} crosses midnight (PS3.4 C.2.2.2.5.2)")
    return CompiledQuery(keys, options, encodings, pairs)


def _timezone_offset(identifier: Dataset, encodings: tuple[str, ...]) -> int:
    elem = identifier.get_item(TIMEZONE_OFFSET_FROM_UTC)
    if elem is None:
        return 0
    return timezone_offset_us(
        element_text(identifier, TIMEZONE_OFFSET_FROM_UTC, elem, "SH", encodings)
    )


def timezone_offset_us(text: str) -> int:
    """Timezone Offset From UTC (0008,0201) "&ZZXX" in microseconds (PS3.4 C.4.1.1.3.2);
    empty is UTC; anything else is refused with 0xA900. SH padding is not significant
    (PS3.5 6.2), so raw and decoded values give the same answer and the same comment."""
    text = text.strip(" ")
    offset = parse_offset(text) if text else 0
    if offset is None:
        raise invalid(TIMEZONE_OFFSET_FROM_UTC, f"{text!r} is not &ZZXX")
    return offset


def _compile_key(
    identifier: Dataset,
    tag: int,
    options: MatchOptions,
    encodings: tuple[str, ...],
    tz_offset: int,
) -> KeySpec:
    elem = identifier.get_item(tag)
    assert elem is not None
    vr = element_vr(elem)
    if vr == "SQ":
        return _compile_sequence(identifier, tag, options, encodings)
    text = normalize(vr, element_text(identifier, tag, elem, vr, encodings))
    if tag in NOT_MATCHED:
        return KeySpec(tag, vr, MatchKind.UNIVERSAL, text)
    return classify(tag, vr, text, options, tz_offset)


def _compile_sequence(
    identifier: Dataset, tag: int, options: MatchOptions, encodings: tuple[str, ...]
) -> KeySpec:
    """PS3.4 C.2.2.2.6: one item of item keys; no item (or an empty one) is universal."""
    items = identifier[tag].value or ()
    if len(items) > 1:
        raise invalid(tag, f"sequence key has {len(items)} items, expected one (C.2.2.2.6)")
    if not items:
        return KeySpec(tag, "SQ", MatchKind.UNIVERSAL, "")
    sub = compile_query(items[0], options, encodings)
    kind = MatchKind.SEQUENCE if sub.matching_keys else MatchKind.UNIVERSAL
    return KeySpec(tag, "SQ", kind, "", sub=sub)


def _combine_datetime(keys: dict[int, KeySpec]) -> tuple[PairCheck, ...]:
    """PS3.4 C.2.2.2.5.4: pair DA and TM range keys of the same range form."""
    pairs: list[PairCheck] = []
    for date_tag, time_tag in DATETIME_PAIRS.items():
        date_spec, time_spec = keys.get(date_tag), keys.get(time_tag)
        if date_spec is None or time_spec is None:
            continue
        if date_spec.kind is not MatchKind.RANGE or time_spec.kind is not MatchKind.RANGE:
            continue
        if date_spec.vr != "DA" or time_spec.vr != "TM":
            continue
        if "\\" in date_spec.text or "\\" in time_spec.text:
            continue  # several ranges: each key is matched on its own
        try:
            combined = combined_range_key(date_spec.text, time_spec.text)
        except ValueError as exc:
            raise invalid(date_tag, f"{exc} (PS3.4 C.2.2.2.5.4)") from exc
        if combined is None:
            continue
        keys[date_tag] = replace(date_spec, range=combined, combined_with=time_tag)
        keys[time_tag] = replace(time_spec, range=combined, combined_with=date_tag)
        pairs.append((date_tag, time_tag, combined))
    return tuple(pairs)
