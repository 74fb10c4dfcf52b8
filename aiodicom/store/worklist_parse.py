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
import sys
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

__all__ = ["Interner", "RawDataset", "Record", "decode_record", "parse_file_bytes"]

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


class Interner:
    """Load-scoped tables that share repeated objects between items.

    Worklist items repeat most of their values (modalities, stations, dates, codes), so
    sharing the tag ints, the (VR, value) pairs and the decoded strings saves memory and
    the decoding work. Each table is capped per tag: a tag with unique values (IDs, UIDs)
    stops being recorded once it reaches :data:`INTERN_CAP` distinct values.
    """

    __slots__ = ("charsets", "decoded", "heads", "pairs", "tags")

    def __init__(self) -> None:
        self.tags: dict[int, int] = {}
        self.pairs: dict[int, dict[bytes, tuple[str, bytes]]] = {}
        self.decoded: dict[tuple[str, ...], dict[tuple[str, bytes], str]] = {}
        self.charsets: dict[bytes, tuple[str, ...]] = {}
        self.heads: dict[bytes, Head | None] = {}

    def pair(self, tag: int, vr: str, value: bytes) -> tuple[str, bytes]:
        """The shared ``(vr, value)`` tuple for this element."""
        table = self.pairs.get(tag)
        if table is None:
            table = self.pairs[tag] = {}
        found = table.get(value)
        if found is None:
            found = (vr, value)
            if len(table) < INTERN_CAP:
                table[value] = found
        elif found[0] != vr:
            return (vr, value)
        return found

    def head(self, head: bytes) -> Head | None:
        """:data:`Head` of an element header seen for the first time in this load."""
        known = _simple_element(head)
        found = None
        if known is not None:
            tag, vr = known
            table = self.pairs.get(tag)
            if table is None:
                table = self.pairs[tag] = {}
            found = (self.tags.setdefault(tag, tag), vr, table)
        if len(self.heads) < HEAD_CAP:
            self.heads[head] = found
        return found


Head: TypeAlias = "tuple[int, str, dict[bytes, tuple[str, bytes]]]"
"""(tag, VR, intern table of the tag) of a simple element header (see ``_simple_element``)."""

EXPLICIT_LE_HEADER = struct.Struct("<HH2sH").unpack_from
INTERN_CAP = 4096
DECODED_CAP = 65536
HEAD_CAP = 65536


ALL_VRS = frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
                     "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                     "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"})  # fmt: skip
"""Every VR of PS3.5 Table 6.2-1."""

VR_BY_BYTES = {name.encode("ascii"): name for name in ALL_VRS}

UNSEEN: Head = (0, "", {})
"""Marker for a header not yet in :attr:`Interner.heads`."""

HEADER_SIZE = 8
"""Size of the headers read by the fast path (explicit short-length and implicit, PS3.5 7.1)."""

_SIMPLE: dict[bytes, tuple[int, str] | None] = {}


def _simple_element(head: bytes) -> tuple[int, str] | None:
    """(tag, VR) when a Little Endian header is an 8-byte leaf header, else None.

    ``head`` is the tag plus the VR (explicit VR, 6 bytes) or the tag alone (implicit VR,
    4 bytes). Leaf means: no item or delimiter tag (group FFFE, PS3.5 7.5), no sequence,
    and for explicit VR one of the VRs with a 2-byte length (PS3.5 7.1.2). An implicit VR
    element of undefined length (a sequence) still needs the general path; the fast path
    sends it there as its length overruns the data.
    """
    if head in _SIMPLE:
        return _SIMPLE[head]
    if len(head) not in (4, 6):
        return None
    group, element = struct.unpack_from("<HH", head)
    tag = (group << 16) | element
    vr: str | None
    if len(head) == 6:
        vr = VR_BY_BYTES.get(head[4:])
        if vr in LONG_VRS:
            vr = None
    else:
        vr = vr_of(tag)
    result = None if vr is None or vr == "SQ" or group == 0xFFFE else (tag, vr)
    if len(_SIMPLE) < HEAD_CAP:
        _SIMPLE[head] = result
    return result


_PREFIXED = {
    prefix: (
        struct.Struct(prefix + "HH2sH").unpack_from,
        struct.Struct(prefix + "HHI").unpack_from,
        struct.Struct(prefix + "I").unpack_from,
    )
    for prefix in "<>"
}
_FAST_HEADERS = {True: struct.Struct("<6sH").unpack_from, False: struct.Struct("<4sI").unpack_from}


class _Reader:
    """Cursor over one encoded data set in one transfer syntax (PS3.5 7.1)."""

    def __init__(
        self, data: bytes, path: str, *, explicit: bool, little: bool, interner: Interner
    ) -> None:
        self.data = data
        self.path = path
        self.explicit = explicit
        self.little = little
        self.interner = interner
        # explicit with 2-byte length / implicit and items / 4-byte length
        self.short, self.plain, self.u32 = _PREFIXED["<" if little else ">"]

    def fail(self, reason: str) -> DataError:
        return DataError(self.path, reason)

    def unknown_vr(self, raw_vr: bytes, offset: int) -> str:
        """A VR outside the table: kept if it looks like one (two capitals), else an error."""
        if len(raw_vr) < 2 or not raw_vr.isalpha() or not raw_vr.isupper():
            raise self.fail(f"bad VR {raw_vr!r} at byte {offset + 4}")
        return sys.intern(raw_vr.decode("ascii"))

    def header(self, offset: int) -> tuple[int, str, int, int]:
        """Return (tag, vr, length, value offset) of the element at ``offset``."""
        try:
            if not self.explicit:
                group, element, length = self.plain(self.data, offset)
                tag = (group << 16) | element
                return tag, "" if group == 0xFFFE else vr_of(tag), length, offset + 8
            group, element, raw_vr, length = self.short(self.data, offset)
            if group == 0xFFFE:  # item / delimiters never carry a VR (PS3.5 7.5)
                return (group << 16) | element, "", self.u32(self.data, offset + 4)[0], offset + 8
            vr = VR_BY_BYTES.get(raw_vr) or self.unknown_vr(raw_vr, offset)
            if vr in LONG_VRS:
                return (group << 16) | element, vr, self.u32(self.data, offset + 8)[0], offset + 12
        except struct.error:
            raise self.fail(f"truncated at byte {offset} (file half-written?)") from None
        return (group << 16) | element, vr, length, offset + 8

    def dataset(self, offset: int, end: int | None) -> tuple[MutableRaw, int]:
        """Parse elements until ``end`` (or an item delimiter when ``end`` is None).

        Little Endian leaf elements with an 8-byte header take an inlined fast path keyed
        by the header's tag (and VR) bytes; everything else goes through :meth:`element`.
        """
        elements: MutableRaw = {}
        data = self.data
        size = len(data)
        limit = size if end is None else end
        fast = _FAST_HEADERS[self.explicit] if self.little else None
        heads = self.interner.heads
        learn = self.interner.head
        cap = INTERN_CAP
        while offset < limit:
            if fast is not None:
                try:
                    head, length = fast(data, offset)
                except struct.error:
                    head, length = b"", 0  # truncated: the general path reports it
                known = heads.get(head, UNSEEN)
                if known is UNSEEN:
                    known = learn(head)
                start = offset + HEADER_SIZE
                if known is not None and start + length <= size:
                    tag, vr, table = known
                    offset = start + length
                    value = data[start:offset]
                    found = table.get(value)
                    if found is None:
                        found = (vr, value)
                        if len(table) < cap:
                            table[value] = found
                    elif found[0] != vr:
                        found = (vr, value)
                    elements[tag] = found
                    continue
            offset = self.element(elements, offset, end)
            if offset < 0:
                return elements, -offset
        if end is None:
            raise self.fail("missing item delimiter (file half-written?)")
        return elements, offset

    def element(self, elements: MutableRaw, offset: int, end: int | None) -> int:
        """Parse one element of any kind into ``elements``; the next offset, negated when
        the element was the item delimiter (PS3.5 7.5.2) ending this data set."""
        tag, vr, length, offset = self.header(offset)
        if tag == ITEM_END:
            if end is not None:
                raise self.fail("item delimiter inside a defined-length item")
            return -offset
        tag = self.interner.tags.setdefault(tag, tag)
        if vr == "SQ" or (length == UNDEFINED and tag != ITEM):
            items, offset = self.sequence(offset, length)
            elements[tag] = ("SQ", items)
            return offset
        if length == UNDEFINED or offset + length > len(self.data):
            raise self.fail(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) overruns the file")
        value = self.data[offset : offset + length]
        offset += length
        if vr == "UN" and vr_of(tag) not in {"UN", "SQ"}:
            vr = vr_of(tag)  # PS3.5 6.2.2: UN of a known attribute -> dictionary VR
        if not self.little:
            value = swap(value, vr)
        elements[tag] = self.interner.pair(tag, vr, value)
        return offset

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


def _first_element_fits(reader: _Reader, end: int) -> bool:
    """Whether a file without preamble or meta starts with a data element that fits in it
    (PS3.5 7.1); text or other data read as one overruns the file at once."""
    try:
        _, _, length, value_at = reader.header(0)
    except DataError:
        return False
    return length == 0xFFFFFFFF or value_at + length <= end


def parse_file_bytes(data: bytes, path: str, interner: Interner | None = None) -> RawDataset:
    """Parse a Part 10 file with or without preamble/meta, or a bare data set (PS3.10 7.1).

    The transfer syntax comes from (0002,0010) when present; otherwise it is guessed
    from the first element, as DCMTK does for files without meta information. Pass one
    :class:`Interner` for a whole folder load to share repeated values between items.
    """
    shared = interner if interner is not None else Interner()
    offset = 132 if data[128:132] == b"DICM" else 0
    transfer_syntax = ""
    if data[offset : offset + 2] == b"\x02\x00":
        meta_reader = _Reader(data, path, explicit=True, little=True, interner=shared)
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
    reader = _Reader(data, path, explicit=explicit, little=little, interner=shared)
    try:
        elements, _ = reader.dataset(offset, len(data))
    except DataError:
        if offset or _first_element_fits(reader, len(data)):  # DICOM, but damaged
            raise
        raise DataError(path, "not a DICOM file (no DICM prefix, no data element)") from None
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
