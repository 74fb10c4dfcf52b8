"""The data-set reader: DICOM bytes -> raw element tree (PS3.10 7.1, PS3.5 7.1, 7.5).

pydicom's ``dcmread`` costs ~0.4 ms for a typical worklist item, too slow to load 100k
items in seconds, so files and identifiers are parsed here directly. The result keeps
every element's value bytes in canonical Little Endian form (:data:`RawDataset`), from
which :mod:`aiodicom.dicom.writer` encodes responses in any transfer syntax without
re-encoding text, and :mod:`aiodicom.dicom.values` decodes the matching Record.
:mod:`aiodicom.dicom.scan` is this reader's fast scan mode for query identifiers and
:mod:`aiodicom.dicom.identifier` its full mode (pydicom Datasets).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Collection, Mapping
from typing import TypeAlias

from aiodicom.dicom.syntax import (
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQUENCE_END,
    TRANSFER_SYNTAX_UID,
    UNDEFINED,
    VR_BY_BYTES,
    swap,
    vr_of,
)
from aiodicom.errors import DataError

RawDataset: TypeAlias = "Mapping[int, tuple[str, bytes | tuple[RawDataset, ...]]]"
"""tag -> (VR, value): value bytes (Little Endian) or, for SQ, a tuple of item datasets."""

MutableRaw: TypeAlias = "dict[int, tuple[str, bytes | tuple[RawDataset, ...]]]"

__all__ = ["Interner", "RawDataset", "parse_file_bytes"]


INTERN_CAP = 4096
"""Distinct values an :class:`Interner` keeps per tag (by default)."""


class Interner:
    """Load-scoped tables that share repeated objects between items.

    Worklist items repeat most of their values (modalities, stations, dates, codes), so
    sharing the tag ints, the (VR, value) pairs and the decoded strings saves memory and
    the decoding work. Each table is capped per tag: a tag with unique values (IDs, UIDs)
    stops being recorded once it reaches ``cap`` (:data:`INTERN_CAP`) distinct values.
    """

    __slots__ = ("cap", "charsets", "decoded", "heads", "pairs", "tags")

    def __init__(self, cap: int = INTERN_CAP) -> None:
        self.cap = cap
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
            if len(table) < self.cap:
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

DECODED_CAP = 65536
HEAD_CAP = 65536


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


class Reader:
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
        cap = self.interner.cap
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


_LE_SHORT, _LE_PLAIN, _LE_U32 = _PREFIXED["<"]


def explicit_le_header(data: bytes, offset: int) -> tuple[int, str | None, int, int]:
    """(tag, VR, length, value offset) of the Explicit VR Little Endian element header at
    ``offset`` (PS3.5 7.1.2: 8 bytes, or 12 with a 4-byte length); the VR is None when its
    two bytes are not one of PS3.5 Table 6.2-1. struct.error when the header is cut off.
    """
    group, element, raw_vr, length = _LE_SHORT(data, offset)
    vr = VR_BY_BYTES.get(raw_vr)
    if vr in LONG_VRS:
        return (group << 16) | element, vr, _LE_U32(data, offset + 8)[0], offset + 12
    return (group << 16) | element, vr, length, offset + 8


def top_level_elements(
    data: bytes, wanted: Collection[int], out: dict[int, tuple[str, bytes]], name: str
) -> None:
    """Add the ``wanted`` top-level elements of an Explicit VR Little Endian data set
    (PS3.5 7.1.2) to ``out``, as (VR, value bytes); entries already in ``out`` are
    replaced. Elements of undefined length are stepped over as sequences (PS3.5 7.5.2)
    by the general reader; anything that does not parse raises DataError naming ``name``.
    """
    offset, size = 0, len(data)
    try:
        while offset < size:
            group, element, raw_vr, length = _LE_SHORT(data, offset)
            vr = VR_BY_BYTES.get(raw_vr)
            if vr is None:
                raise DataError(name, f"bad VR {raw_vr!r} at byte {offset + 4}")
            start = offset + 8
            if vr in LONG_VRS:
                length = _LE_U32(data, start)[0]
                start += 4
            if length == UNDEFINED:
                reader = Reader(data, name, explicit=True, little=True, interner=Interner())
                offset = reader.sequence(start, length)[1]
                continue
            offset = start + length
            if offset > size:
                raise DataError(name, f"element at byte {start - 8} overruns the data set")
            tag = (group << 16) | element
            if tag in wanted:
                out[tag] = (vr, data[start:offset])
    except struct.error:
        raise DataError(name, f"truncated at byte {offset}") from None


def _looks_explicit(data: bytes, offset: int) -> bool:
    raw_vr = data[offset + 4 : offset + 6]
    return len(raw_vr) == 2 and raw_vr.isalpha() and raw_vr.isupper()


def _first_element_fits(reader: Reader, end: int) -> bool:
    """Whether a file without preamble or meta starts with a data element that fits in it
    (PS3.5 7.1); text or other data read as one overruns the file at once."""
    try:
        _, _, length, value_at = reader.header(0)
    except DataError:
        return False
    return length == 0xFFFFFFFF or value_at + length <= end


def read_file_meta(data: bytes, path: str) -> tuple[str, int]:
    """PS3.10 7.1: the Transfer Syntax UID (0002,0010) of a file's meta information ("" when
    absent) and the offset of its data set, after the preamble, ``DICM`` and group 0002
    when present. The offset may lie past the end of a damaged file; DataError naming
    ``path`` when a meta element header is truncated or has no VR.
    """
    offset = 132 if data[128:132] == b"DICM" else 0
    transfer_syntax = ""
    while data[offset : offset + 2] == b"\x02\x00":  # PS3.10 7.1: always Explicit VR LE
        try:
            tag, vr, length, value_at = explicit_le_header(data, offset)
        except struct.error:
            raise DataError(path, f"truncated at byte {offset} (file half-written?)") from None
        if vr is None:  # two capitals are kept as a VR with a 2-byte length, as Reader does
            reader = Reader(data, path, explicit=True, little=True, interner=Interner())
            reader.unknown_vr(data[offset + 4 : offset + 6], offset)
        if tag == TRANSFER_SYNTAX_UID:
            transfer_syntax = data[value_at : value_at + length].rstrip(b"\0 ").decode()
        offset = value_at + length
    return transfer_syntax, offset


def parse_file_bytes(data: bytes, path: str, interner: Interner | None = None) -> RawDataset:
    """Parse a Part 10 file with or without preamble/meta, or a bare data set (PS3.10 7.1).

    The transfer syntax comes from (0002,0010) when present; otherwise it is guessed
    from the first element, as DCMTK does for files without meta information. Pass one
    :class:`Interner` for a whole folder load to share repeated values between items.
    """
    shared = interner if interner is not None else Interner()
    transfer_syntax, offset = read_file_meta(data, path)
    if offset >= len(data):
        raise DataError(path, "no data set (empty or not DICOM)")
    if transfer_syntax == EXPLICIT_VR_BE:
        explicit, little = True, False
    elif transfer_syntax == IMPLICIT_VR_LE:
        explicit, little = False, True
    elif transfer_syntax:
        if transfer_syntax != EXPLICIT_VR_LE:
            raise DataError(path, f"unsupported transfer syntax {transfer_syntax}")
        explicit, little = True, True
    else:  # no meta: guess as DCMTK does (the first group number is small, e.g. 0008)
        explicit = _looks_explicit(data, offset)
        head = data[offset : offset + 2]
        little = len(head) < 2 or int.from_bytes(head, "little") <= int.from_bytes(head, "big")
    reader = Reader(data, path, explicit=explicit, little=little, interner=shared)
    try:
        elements, _ = reader.dataset(offset, len(data))
    except DataError:
        if offset or _first_element_fits(reader, len(data)):  # DICOM, but damaged
            raise
        raise DataError(path, "not a DICOM file (no DICM prefix, no data element)") from None
    if not elements:
        raise DataError(path, "no data elements")
    return elements
