"""A small, fast reader for worklist files: DICOM bytes -> raw element tree + Record.

pydicom's ``dcmread`` costs ~0.4 ms for a typical worklist item, too slow to load 100k
items in seconds, so worklist files are parsed here directly (PS3.10 7.1 file format,
PS3.5 7.1 data elements, PS3.5 7.5 sequences). The result keeps every element's value
bytes in canonical Little Endian form (:data:`RawDataset`), from which responses are
encoded in any transfer syntax without re-encoding text, and a decoded
:data:`~aiodicom.matching.Record` for matching.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache
from typing import TypeAlias

from pydicom.datadict import dictionary_VR

from aiodicom.errors import DataError
from aiodicom.matching.model import TEXT_VRS, Record
from aiodicom.matching.text import (
    DEFAULT_ENCODINGS,
    CharsetError,
    decode_raw,
    normalize,
    resolve_encodings,
)

RawDataset: TypeAlias = "Mapping[int, tuple[str, bytes | tuple[RawDataset, ...]]]"
"""tag -> (VR, value): value bytes (Little Endian) or, for SQ, a tuple of item datasets."""

MutableRaw: TypeAlias = "dict[int, tuple[str, bytes | tuple[RawDataset, ...]]]"

__all__ = ["RawDataset", "Record", "decode_record", "parse_file_bytes"]

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
SPECIFIC_CHARACTER_SET = 0x00080005
TRANSFER_SYNTAX_UID = 0x00020010

LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
"""PS3.5 7.1.2: explicit VRs with a 2-byte reserved field and a 4-byte length."""

NUMERIC_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8,
                 "AT": 2, "OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}  # fmt: skip
"""Byte-swap unit of binary VRs (PS3.5 7.3: byte ordering); AT swaps per 16-bit half."""

NUMERIC_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d",
                   "SV": "q", "UV": "Q"}  # fmt: skip


EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"


@lru_cache(maxsize=4096)
def vr_of(tag: int) -> str:
    """Data dictionary VR (PS3.6) for implicit VR data; private / unknown tags are UN."""
    if tag & 0xFFFF == 0:
        return "UL"  # group length, PS3.5 7.2
    if (tag >> 16) & 1:
        return "UN"
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return "UN"
    return vr.split(" or ", maxsplit=1)[0]


def swap(value: bytes, vr: str) -> bytes:
    """Reverse the byte order of each numeric unit of ``value`` (PS3.5 7.3)."""
    size = NUMERIC_SIZES.get(vr, 0)
    if size < 2 or len(value) % size:
        return value
    out = bytearray(value)
    for start in range(0, len(value), size):
        out[start : start + size] = value[start : start + size][::-1]
    return bytes(out)


class _Reader:
    """Cursor over one encoded data set in one transfer syntax."""

    def __init__(self, data: bytes, path: str, *, explicit: bool, little: bool) -> None:
        self.data = data
        self.path = path
        self.explicit = explicit
        self.little = little
        self.prefix = "<" if little else ">"

    def fail(self, reason: str) -> DataError:
        return DataError(self.path, reason)

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        end = offset + struct.calcsize(fmt)
        if end > len(self.data):
            raise self.fail(f"truncated at byte {offset} (file half-written?)")
        return struct.unpack_from(self.prefix + fmt, self.data, offset)

    def header(self, offset: int) -> tuple[int, str, int, int]:
        """Return (tag, vr, length, value offset) of the element at ``offset``."""
        group, element = self.unpack("HH", offset)
        tag = (group << 16) | element
        if group == 0xFFFE:  # item / delimiters never carry a VR (PS3.5 7.5)
            (length,) = self.unpack("I", offset + 4)
            return tag, "", length, offset + 8
        if not self.explicit:
            (length,) = self.unpack("I", offset + 4)
            return tag, vr_of(tag), length, offset + 8
        raw_vr = self.data[offset + 4 : offset + 6]
        if len(raw_vr) < 2 or not raw_vr.isalpha() or not raw_vr.isupper():
            raise self.fail(f"bad VR {raw_vr!r} at byte {offset + 4}")
        vr = raw_vr.decode("ascii")
        if vr in LONG_VRS:
            (length,) = self.unpack("I", offset + 8)
            return tag, vr, length, offset + 12
        (length,) = self.unpack("H", offset + 6)
        return tag, vr, length, offset + 8

    def dataset(self, offset: int, end: int | None) -> tuple[MutableRaw, int]:
        """Parse elements until ``end`` (or an item delimiter when ``end`` is None)."""
        elements: MutableRaw = {}
        limit = len(self.data) if end is None else end
        while offset < limit:
            tag, vr, length, offset = self.header(offset)
            if tag == ITEM_END:
                if end is not None:
                    raise self.fail("item delimiter inside a defined-length item")
                return elements, offset
            if vr == "SQ" or (length == UNDEFINED and tag != ITEM):
                items, offset = self.sequence(offset, length)
                elements[tag] = ("SQ", items)
                continue
            if length == UNDEFINED or offset + length > len(self.data):
                raise self.fail(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) overruns the file")
            value = self.data[offset : offset + length]
            if vr == "UN" and vr_of(tag) not in {"UN", "SQ"}:
                vr = vr_of(tag)  # PS3.5 6.2.2: UN of a known attribute -> dictionary VR
            elements[tag] = (vr, value if self.little else swap(value, vr))
            offset += length
        if end is None:
            raise self.fail("missing item delimiter (file half-written?)")
        return elements, offset

    def sequence(self, offset: int, length: int) -> tuple[tuple[RawDataset, ...], int]:
        """PS3.5 7.5: items of defined or undefined length, until the end or a delimiter."""
        items: list[RawDataset] = []
        end = None if length == UNDEFINED else offset + length
        while end is None or offset < end:
            tag, _, item_length, offset = self.header(offset)
            if tag == SEQUENCE_END:
                return tuple(items), offset
            if tag != ITEM:
                raise self.fail(f"expected a sequence item at byte {offset}")
            item_end = None if item_length == UNDEFINED else offset + item_length
            item, offset = self.dataset(offset, item_end)
            items.append(item)
        return tuple(items), offset


def _looks_explicit(data: bytes, offset: int) -> bool:
    raw_vr = data[offset + 4 : offset + 6]
    return len(raw_vr) == 2 and raw_vr.isalpha() and raw_vr.isupper()


def parse_file_bytes(data: bytes, path: str) -> RawDataset:
    """Parse a Part 10 file with or without preamble/meta, or a bare data set (PS3.10 7.1).

    The transfer syntax comes from (0002,0010) when present; otherwise it is guessed
    from the first element, as DCMTK does for files without meta information.
    """
    offset = 132 if data[128:132] == b"DICM" else 0
    transfer_syntax = ""
    if data[offset : offset + 2] == b"\x02\x00":
        meta_reader = _Reader(data, path, explicit=True, little=True)
        while data[offset : offset + 2] == b"\x02\x00":
            tag, _, length, value_at = meta_reader.header(offset)
            if tag == TRANSFER_SYNTAX_UID:
                transfer_syntax = data[value_at : value_at + length].rstrip(b"\0 ").decode()
            offset = value_at + length
    if offset >= len(data):
        raise DataError(path, "no data set (empty or not DICOM)")
    if transfer_syntax == EXPLICIT_BE:
        explicit, little = True, False
    elif transfer_syntax == IMPLICIT_LE:
        explicit, little = False, True
    elif transfer_syntax:
        if transfer_syntax != EXPLICIT_LE:
            raise DataError(path, f"unsupported transfer syntax {transfer_syntax}")
        explicit, little = True, True
    else:  # no meta: guess as DCMTK does (the first group number is small, e.g. 0008)
        explicit = _looks_explicit(data, offset)
        head = data[offset : offset + 2]
        little = len(head) < 2 or int.from_bytes(head, "little") <= int.from_bytes(head, "big")
    reader = _Reader(data, path, explicit=explicit, little=little)
    elements, _ = reader.dataset(offset, len(data))
    if not elements:
        raise DataError(path, "no data elements")
    return elements


def _decode_binary(value: bytes, vr: str) -> str | None:
    fmt = NUMERIC_FORMATS.get(vr)
    if fmt is None:
        return None
    count = len(value) // struct.calcsize(fmt)
    numbers = struct.unpack_from(f"<{count}{fmt}", value)
    return "\\".join(str(number) for number in numbers)


def encodings_of(
    raw: RawDataset, inherited: tuple[str, ...] = DEFAULT_ENCODINGS
) -> tuple[str, ...]:
    """Codecs of a data set's (0008,0005), else the enclosing data set's (PS3.5 6.1.2.5).

    Raises :class:`DataError` for an unsupported term.
    """
    entry = raw.get(SPECIFIC_CHARACTER_SET)
    if entry is None or not isinstance(entry[1], bytes) or not entry[1].strip(b" \0"):
        return inherited
    try:
        return resolve_encodings(entry[1].decode("latin-1").split("\\"))
    except CharsetError as exc:
        raise DataError("Specific Character Set (0008,0005)", str(exc)) from exc


def decode_record(raw: RawDataset, inherited: tuple[str, ...] = DEFAULT_ENCODINGS) -> Record:
    """The matching Record of a raw data set, exactly as ``record_from_dataset`` builds it.

    Uses :mod:`aiodicom.matching.text` for decoding and padding rules (PS3.5 6.1, 6.2).
    """
    encodings = encodings_of(raw, inherited)
    record: dict[int, str | tuple[Record, ...]] = {}
    for tag, (vr, value) in raw.items():
        if tag == SPECIFIC_CHARACTER_SET or tag & 0xFFFF == 0:
            continue
        if isinstance(value, tuple):
            record[tag] = tuple(decode_record(item, encodings) for item in value)
        elif vr in TEXT_VRS:
            record[tag] = normalize(vr, decode_raw(value, vr, encodings))
        elif vr in NUMERIC_FORMATS:
            number = _decode_binary(value, vr)
            if number is not None:
                record[tag] = normalize(vr, number)
    return record
