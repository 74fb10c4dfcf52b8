"""Values of raw elements: the matching Record of a data set (PS3.5 6.1, 6.2; PS3.4 C.2.2.2).

Turns what :mod:`aiodicom.dicom.reader` gives (value bytes per tag) into the decoded,
normalized text that :mod:`aiodicom.matching` compares, exactly as
:func:`aiodicom.matching.record_from_dataset` builds it from a pydicom Dataset.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from aiodicom.dicom.reader import DECODED_CAP, Interner, RawDataset
from aiodicom.dicom.syntax import NUMERIC_FORMATS, SPECIFIC_CHARACTER_SET
from aiodicom.errors import DataError
from aiodicom.matching.model import TEXT_VRS, Record
from aiodicom.matching.text import (
    DEFAULT_ENCODINGS,
    CharsetError,
    decode_raw,
    normalize,
    resolve_encodings,
)


def _decode_binary(value: bytes, vr: str) -> str | None:
    fmt = NUMERIC_FORMATS.get(vr)
    if fmt is None:
        return None
    count = len(value) // struct.calcsize(fmt)
    numbers = struct.unpack_from(f"<{count}{fmt}", value)
    return "\\".join(str(number) for number in numbers)


def encodings_of(
    raw: RawDataset,
    inherited: tuple[str, ...] = DEFAULT_ENCODINGS,
    interner: Interner | None = None,
) -> tuple[str, ...]:
    """Codecs of a data set's (0008,0005), else the enclosing data set's (PS3.5 6.1.2.5).

    Raises :class:`DataError` for an unsupported term.
    """
    entry = raw.get(SPECIFIC_CHARACTER_SET)
    if entry is None or not isinstance(entry[1], bytes) or not entry[1].strip(b" \0"):
        return inherited
    known = None if interner is None else interner.charsets.get(entry[1])
    if known is not None:
        return known
    try:
        found = resolve_encodings(entry[1].decode("latin-1").split("\\"))
    except CharsetError as exc:
        raise DataError("Specific Character Set (0008,0005)", str(exc)) from exc
    if interner is not None:
        interner.charsets[entry[1]] = found
    return found


_ESCAPE = 0x1B
_ASCII_BYTES = bytes(code for code in range(128) if code != _ESCAPE)


@lru_cache(maxsize=64)
def _ascii_safe(encodings: tuple[str, ...]) -> bool:
    """True when ``decode_raw`` decodes ASCII bytes without ESC as ASCII (PS3.5 6.1.2.5:
    the G0 set is ASCII in every supported character set; checked, not assumed)."""
    try:
        return _ASCII_BYTES.decode(encodings[0]) == _ASCII_BYTES.decode("ascii")
    except (LookupError, UnicodeDecodeError, IndexError):
        return False


def _decode_value(vr: str, value: bytes, encodings: tuple[str, ...]) -> str | None:
    """Decoded, normalized text of one leaf element; None for VRs that are not matched."""
    if vr in TEXT_VRS:
        if value.isascii() and _ESCAPE not in value and _ascii_safe(encodings):
            return normalize(vr, value.decode("ascii"))  # what decode_raw gives, faster
        return normalize(vr, decode_raw(value, vr, encodings))
    if vr in NUMERIC_FORMATS:
        number = _decode_binary(value, vr)
        return None if number is None else normalize(vr, number)
    return None


def decode_record(
    raw: RawDataset,
    inherited: tuple[str, ...] = DEFAULT_ENCODINGS,
    interner: Interner | None = None,
) -> Record:
    """The matching Record of a raw data set, exactly as ``record_from_dataset`` builds it.

    Uses :mod:`aiodicom.matching.text` for decoding and padding rules (PS3.5 6.1, 6.2).
    Repeated values are decoded once per ``interner`` (and the strings are shared).
    """
    return _record(raw, inherited, interner if interner is not None else Interner())


def _record(raw: RawDataset, inherited: tuple[str, ...], shared: Interner) -> Record:
    """:func:`decode_record` with the interner resolved (the per-item hot loop)."""
    encodings = inherited
    if SPECIFIC_CHARACTER_SET in raw:
        encodings = encodings_of(raw, inherited, shared)
    memo = shared.decoded.get(encodings)
    if memo is None:
        memo = shared.decoded[encodings] = {}
    record: dict[int, str | tuple[Record, ...]] = {}
    for tag, pair in raw.items():
        value = pair[1]
        if value.__class__ is tuple:
            record[tag] = tuple([_record(item, encodings, shared) for item in value])
            continue
        text = memo.get(pair)  # type: ignore[arg-type]  # a leaf pair holds bytes
        if text is None:
            if tag == SPECIFIC_CHARACTER_SET or not tag & 0xFFFF:
                continue
            text = _decode_value(pair[0], value, encodings)  # type: ignore[arg-type]
            if text is None:
                continue
            if len(memo) < DECODED_CAP:
                memo[pair] = text  # type: ignore[index]
        elif tag == SPECIFIC_CHARACTER_SET or not tag & 0xFFFF:
            continue
        record[tag] = text
    return record
