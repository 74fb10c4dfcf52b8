"""Compile a C-FIND Identifier straight from its raw elements (PS3.4 C.2.2.2).

:func:`aiodicom.matching.compile_query` reads a pydicom Dataset. A server that already
holds the identifier as raw elements (tag -> (VR, value bytes or SQ items), Little Endian,
e.g. from :mod:`aiodicom.dicom.scan`) compiles it here without building one.
Decoding and padding rules are those of :mod:`aiodicom.matching.text` (PS3.5 6.1, 6.2)
and classification is :func:`aiodicom.matching.keys.classify`, so both paths give the
same :class:`CompiledQuery`; a test compares them on random identifiers.

Modalities repeat their queries with one changing value (a Patient ID, a date), so each
classified key is kept in a bounded :class:`KeyMemo`: the unchanged keys of the next query
cost a dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, TypeAlias, Union

from aiodicom.bounded import BoundedMemo
from aiodicom.errors import QueryError
from aiodicom.matching.keys import KeySpec, classify, invalid
from aiodicom.matching.model import (
    SPECIFIC_CHARACTER_SET,
    STATUS_UNABLE_TO_PROCESS,
    TIMEZONE_OFFSET_FROM_UTC,
    MatchKind,
    MatchOptions,
)
from aiodicom.matching.query import NOT_MATCHED, CompiledQuery, finish_query, timezone_offset_us
from aiodicom.matching.text import (
    DEFAULT_ENCODINGS,
    CharsetError,
    charset_terms_of,
    decode_raw,
    normalize,
    resolve_encodings,
)

RawElements: TypeAlias = Mapping[int, tuple[str, Union[bytes, "tuple[RawElements, ...]"]]]
"""tag -> (VR, value bytes), or (``"SQ"``, items) for a sequence (PS3.5 7.1, 7.5)."""

MEMO_ENTRIES = 8192
"""Classified keys kept by a :class:`KeyMemo` (the oldest go first)."""

MemoKey = tuple[int, str, bytes, tuple[str, ...], int, MatchOptions]
"""(tag, VR, value bytes or an item image, encodings, time zone offset, options)."""


class KeyMemo(BoundedMemo[MemoKey, KeySpec]):
    """Classified keys by (tag, VR, value bytes, encodings, time zone, options).

    A :class:`KeySpec` is immutable and depends on nothing else, so a hit is exactly what
    :func:`classify` would return. Keys that fail classification are never stored.
    """

    __slots__ = ()

    def __init__(self, entries: int = MEMO_ENTRIES) -> None:
        super().__init__(entries)


def raw_encodings(raw: RawElements, inherited: tuple[str, ...]) -> tuple[str, ...]:
    """Codecs of the data set's own Specific Character Set, else ``inherited`` (PS3.5 6.1).

    An unknown term is refused with 0xC000, as :func:`compile_query` does.
    """
    entry = raw.get(SPECIFIC_CHARACTER_SET)
    terms = None if entry is None or not isinstance(entry[1], bytes) else charset_terms_of(entry[1])
    if terms is None:
        return inherited
    try:
        return resolve_encodings(terms)
    except CharsetError as exc:
        raise QueryError(
            STATUS_UNABLE_TO_PROCESS, comment=f"SpecificCharacterSet (0008,0005): {exc}"
        ) from exc


def _timezone_offset(raw: RawElements, encodings: tuple[str, ...]) -> int:
    """Timezone Offset From UTC (0008,0201) of the identifier, in minutes (C.4.1.1.3.2)."""
    entry = raw.get(TIMEZONE_OFFSET_FROM_UTC)
    if entry is None or not isinstance(entry[1], bytes):
        return 0
    return timezone_offset_us(decode_raw(entry[1], "SH", encodings))


def compile_raw(
    raw: RawElements,
    options: MatchOptions,
    memo: KeyMemo | None = None,
    inherited: tuple[str, ...] = DEFAULT_ENCODINGS,
) -> CompiledQuery:
    """Compile raw identifier elements (PS3.4 C.2.2.2); QueryError as compile_query."""
    memo = memo if memo is not None else KeyMemo()
    encodings = raw_encodings(raw, inherited)
    tz_offset = _timezone_offset(raw, encodings)
    scope = _Scope(options, memo, encodings, tz_offset)
    keys: dict[int, KeySpec] = {}
    for tag, (vr, value) in raw.items():
        if tag & 0xFFFF == 0:
            continue  # group length
        if isinstance(value, tuple):
            keys[tag] = _compile_sequence(tag, value, scope)
        else:
            keys[tag] = _compile_key(tag, vr, value, scope)
    return finish_query(keys, options, encodings)


class _Scope(NamedTuple):
    """What a key's meaning depends on besides its own tag, VR and value."""

    options: MatchOptions
    memo: KeyMemo
    encodings: tuple[str, ...]
    tz_offset: int


def _compile_key(tag: int, vr: str, value: bytes, scope: _Scope) -> KeySpec:
    memo_key = (tag, vr, value, scope.encodings, scope.tz_offset, scope.options)
    spec = scope.memo.get(memo_key)
    if spec is None:
        text = normalize(vr, decode_raw(value, vr, scope.encodings))
        if tag in NOT_MATCHED:
            spec = KeySpec(tag, vr, MatchKind.UNIVERSAL, text)
        else:
            spec = classify(tag, vr, text, scope.options, scope.tz_offset)
        scope.memo.put(memo_key, spec)
    return spec


def _compile_sequence(tag: int, items: tuple[RawElements, ...], scope: _Scope) -> KeySpec:
    """PS3.4 C.2.2.2.6: one item of item keys; no item (or an empty one) is universal."""
    if len(items) > 1:
        raise invalid(tag, f"sequence key has {len(items)} items, expected one (C.2.2.2.6)")
    if not items:
        return KeySpec(tag, "SQ", MatchKind.UNIVERSAL, "")
    frozen = _frozen(items[0])
    if frozen is None:
        return _sequence_spec(tag, items[0], scope)
    memo_key = (tag, "SQ", frozen, scope.encodings, scope.tz_offset, scope.options)
    spec = scope.memo.get(memo_key)
    if spec is None:
        spec = _sequence_spec(tag, items[0], scope)
        scope.memo.put(memo_key, spec)
    return spec


def _sequence_spec(tag: int, item: RawElements, scope: _Scope) -> KeySpec:
    sub = compile_raw(item, scope.options, scope.memo, scope.encodings)
    kind = MatchKind.SEQUENCE if sub.matching_keys else MatchKind.UNIVERSAL
    return KeySpec(tag, "SQ", kind, "", sub=sub)


def _frozen(item: RawElements) -> bytes | None:
    """A hashable image of an item without nested sequences (None when it has some).

    Each element contributes its tag, VR, value length and value, so two items have the
    same image exactly when they have the same elements.
    """
    parts: list[bytes] = []
    for tag, (vr, value) in item.items():
        if not isinstance(value, bytes):
            return None
        parts.append(b"%d %s %d:%b" % (tag, vr.encode(), len(value), value))
    return b"".join(parts)


ItemKeys = tuple[tuple[int, ...], bool]
"""The keys of a sequence's one item, and whether they are all leaves (no sequence)."""

Slot = tuple[int, str, "KeySpec | None", "ItemKeys | None"]
"""(tag, VR, the key's spec when its value is empty, the item keys of a one-item sequence)."""

PLAN_CONSTANTS = 16
"""Empty-item sequence keys kept per plan slot (one per character set and options)."""


class ShapePlan:
    """How to compile every identifier of one shape (same tags, VRs and items, in order).

    An empty value is universal whatever the context (PS3.4 C.2.2.2.3), so the plan holds
    those keys ready, and the sequence key of one item whose keys are all empty is the same
    for a given character set and options: only the keys with a value are compiled
    (through the memo, as :func:`compile_raw` does). :meth:`compile` gives exactly what
    :func:`compile_raw` gives for the sample's shape, with the same refusals.
    """

    __slots__ = ("_charset", "_constants", "_slots", "_zone")

    def __init__(self, sample: RawElements) -> None:
        slots: list[Slot] = []
        for tag, (vr, value) in sample.items():
            if tag & 0xFFFF == 0:
                continue  # group length
            if isinstance(value, tuple):
                slots.append((tag, vr, None, _item_keys(value)))
            else:
                slots.append((tag, vr, KeySpec(tag, vr, MatchKind.UNIVERSAL, ""), None))
        self._slots = tuple(slots)
        self._charset = SPECIFIC_CHARACTER_SET in sample
        self._zone = TIMEZONE_OFFSET_FROM_UTC in sample
        self._constants: dict[tuple[int, tuple[str, ...], MatchOptions], KeySpec] = {}

    def compile(self, raw: RawElements, options: MatchOptions, memo: KeyMemo) -> CompiledQuery:
        """:func:`compile_raw` of ``raw``, which must have the plan's shape; keys outside
        the sample (e.g. stripped unsupported keys) are left out."""
        encodings = raw_encodings(raw, DEFAULT_ENCODINGS) if self._charset else DEFAULT_ENCODINGS
        tz_offset = _timezone_offset(raw, encodings) if self._zone else 0
        scope = _Scope(options, memo, encodings, tz_offset)
        keys: dict[int, KeySpec] = {}
        for tag, vr, empty, item_keys in self._slots:
            value = raw[tag][1]
            if empty is None:
                keys[tag] = self._sequence(tag, value, item_keys, scope)  # type: ignore[arg-type]
            elif value:
                keys[tag] = _compile_key(tag, vr, value, scope)  # type: ignore[arg-type]
            else:
                keys[tag] = empty
        return finish_query(keys, options, encodings)

    def _sequence(
        self,
        tag: int,
        items: tuple[RawElements, ...],
        item_keys: ItemKeys | None,
        scope: _Scope,
    ) -> KeySpec:
        """PS3.4 C.2.2.2.6 for one sequence key; its item reduced to the plan's keys."""
        if item_keys is None:
            return _compile_sequence(tag, items, scope)
        item = items[0]
        keys, leaves = item_keys
        if not leaves or any(item[key][1] for key in keys):
            return _compile_sequence(tag, ({key: item[key] for key in keys},), scope)
        constant_key = (tag, scope.encodings, scope.options)
        spec = self._constants.get(constant_key)
        if spec is None:
            spec = _sequence_spec(tag, {key: item[key] for key in keys}, scope)
            if len(self._constants) < PLAN_CONSTANTS:
                self._constants[constant_key] = spec
        return spec


def _item_keys(items: tuple[RawElements, ...]) -> ItemKeys | None:
    """The :data:`ItemKeys` of a one-item sequence; None for no item or several."""
    if len(items) != 1:
        return None
    leaves = not any(isinstance(value, tuple) for _, value in items[0].values())
    return tuple(items[0]), leaves
