"""The reader's fast scan mode: a query identifier's raw elements and a key naming its shape.

:func:`parse_identifier` (the general reader) followed by ``raw_shape`` walks an
identifier twice and builds the shape as nested tuples. A worklist SCP that answers keyed
queries (a new Patient ID each time) does that for every request, so this scanner does both
in one walk over Little Endian data sets (PS3.5 7.1, 7.5): the elements come out exactly as
the worklist reader gives them, and the *shape key* is the bytes of every element header
without its length (tag, plus the VR in explicit VR) with one token per item start, item
end and sequence end. Two identifiers have the same shape key exactly when they have the
same tags, VRs, sequences and item counts, in the same order.

Anything unusual (a VR the data dictionary leaves open or unknown, UN, a value of undefined
length outside a sequence, a delimiter out of place, truncated data) is left to the
general reader: :func:`scan_identifier` returns None, and :func:`parse_identifier` (the
general reader, :mod:`aiodicom.dicom.reader`) or a pydicom Dataset takes the identifier.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache

from pydicom.datadict import dictionary_VR

from aiodicom.dicom.reader import Interner, MutableRaw, RawDataset, Reader
from aiodicom.dicom.syntax import (
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_LE,
    IDENTIFIER,
    IMPLICIT_VR_LE,
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQUENCE_END,
    UNDEFINED,
    VR_BY_BYTES,
    inflate,
    vr_of,
)
from aiodicom.errors import DataError

_EXPLICIT_BY_SYNTAX = {IMPLICIT_VR_LE: False, EXPLICIT_VR_LE: True, DEFLATED_EXPLICIT_VR_LE: True}

LEAF, LONG_LEAF, SEQUENCE, DELIMITER = range(4)
"""Forms of an element header: 8-byte header, 12-byte header (PS3.5 7.1.2), a sequence
(PS3.5 7.5), an item delimiter (PS3.5 7.5.2)."""

HeadInfo = tuple[int, str, int]
"""(tag, VR, form) of an element header."""

HEAD_CAP = 4096
"""Element headers remembered per VR encoding (explicit / implicit)."""

_HEADS: dict[bool, dict[bytes, HeadInfo]] = {True: {}, False: {}}
_HEADER = {True: struct.Struct("<6sH").unpack_from, False: struct.Struct("<4sI").unpack_from}
_U32 = struct.Struct("<I").unpack_from
_ITEM_HEADER = struct.Struct("<HHI").unpack_from
_TOKENS = {
    explicit: tuple(
        struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"\0\0" * explicit
        for tag in (ITEM, ITEM_END, SEQUENCE_END)
    )
    for explicit in (True, False)
}
"""Item start / item end / sequence end tokens of a shape key, as long as a header."""


class _Unusual(Exception):
    """Raised inside the scanner for anything it leaves to the general reader."""


def little_endian_body(data: bytes, transfer_syntax: str) -> tuple[bytes, bool] | None:
    """An identifier's Little Endian data set (inflated for PS3.5 A.5) and whether its VRs
    are explicit (A.2) or implicit (A.1); None for other syntaxes (DataError if the
    deflated data is corrupt)."""
    explicit = _EXPLICIT_BY_SYNTAX.get(transfer_syntax)
    if explicit is None:
        return None
    if transfer_syntax == DEFLATED_EXPLICIT_VR_LE:
        data = inflate(data)
    return data, explicit


def scan_identifier(data: bytes, transfer_syntax: str) -> tuple[MutableRaw, bytes] | None:
    """Raw elements and shape key of an identifier (PS3.5 A.1, A.2, A.5), or None when
    the general reader (or a pydicom Dataset) has to take it."""
    try:
        body = little_endian_body(data, transfer_syntax)
        if body is None:
            return None
        data, explicit = body
        parts = [b"E" if explicit else b"I"]
        elements, _ = _Scanner(data, explicit, parts).dataset(0, len(data))
    except (_Unusual, struct.error, DataError):
        return None
    return elements, b"".join(parts)


def parse_identifier(data: bytes, transfer_syntax: str) -> RawDataset | None:
    """Raw elements of an identifier in a Little Endian transfer syntax (PS3.5 A.1, A.2,
    A.5) by the general reader, or None when it cannot take it (the caller then decodes a
    Dataset, which gives the precise error)."""
    try:
        body = little_endian_body(data, transfer_syntax)
        if body is None:
            return None
        data, explicit = body
        reader = Reader(data, IDENTIFIER, explicit=explicit, little=True, interner=Interner())
        elements, _ = reader.dataset(0, len(data))
    except DataError:
        return None
    return elements


@lru_cache(maxsize=4096)
def vr_is_certain(tag: int) -> bool:
    """False for tags whose dictionary VR is ambiguous ("US or SS", PS3.5 Annex A.1)."""
    try:
        return " or " not in dictionary_VR(tag)
    except KeyError:
        return False


def learn_head(head: bytes, explicit: bool) -> HeadInfo:
    """The :data:`HeadInfo` of an element header; _Unusual when it is left to the reader."""
    group, element = struct.unpack_from("<HH", head)
    tag = (group << 16) | element
    if group == 0xFFFE:
        if tag != ITEM_END:
            raise _Unusual
        return tag, "", DELIMITER
    vr = VR_BY_BYTES.get(head[4:]) if explicit else vr_of(tag)
    if vr is None or vr == "UN" or not vr_is_certain(tag):
        raise _Unusual
    if vr == "SQ":
        form = SEQUENCE
    elif explicit and vr in LONG_VRS:
        form = LONG_LEAF
    else:
        form = LEAF
    return tag, vr, form


class _Scanner:
    """Cursor over one identifier; appends shape key parts as it goes."""

    __slots__ = ("append", "data", "explicit", "header", "heads", "tokens")

    def __init__(self, data: bytes, explicit: bool, parts: list[bytes]) -> None:
        self.data = data
        self.explicit = explicit
        self.append: Callable[[bytes], None] = parts.append
        self.heads = _HEADS[explicit]
        self.header = _HEADER[explicit]
        self.tokens = _TOKENS[explicit]

    def head_info(self, head: bytes) -> HeadInfo:
        info = learn_head(head, self.explicit)
        if len(self.heads) < HEAD_CAP:
            self.heads[head] = info
        return info

    def dataset(self, offset: int, end: int | None) -> tuple[MutableRaw, int]:
        """Elements until ``end``, or until the item delimiter when ``end`` is None."""
        data, heads, header, append = self.data, self.heads, self.header, self.append
        size = len(data)
        limit = size if end is None else end
        elements: MutableRaw = {}
        while offset < limit:
            head, length = header(data, offset)
            info = heads.get(head)
            if info is None:
                info = self.head_info(head)
            tag, vr, form = info
            if form == LEAF:
                start = offset + 8
                offset = start + length
                if offset > limit:
                    raise _Unusual
                elements[tag] = (vr, data[start:offset])
                append(head)
            elif form == DELIMITER:
                if end is not None:
                    raise _Unusual
                return elements, offset + 8
            else:
                offset = self.long_element(elements, head, info, offset, length)
        if end is None or offset != end:
            raise _Unusual  # an undefined-length item without its delimiter, or an overrun
        return elements, offset

    def long_element(
        self, elements: MutableRaw, head: bytes, info: HeadInfo, offset: int, length: int
    ) -> int:
        """A sequence or a 12-byte-header element at ``offset``; the offset after it."""
        tag, vr, form = info
        if self.explicit:
            length = _U32(self.data, offset + 8)[0]
            offset += 12
        else:
            offset += 8
        self.append(head)
        if form == SEQUENCE:
            items, offset = self.sequence(offset, length)
            elements[tag] = ("SQ", items)
            return offset
        if length == UNDEFINED or offset + length > len(self.data):
            raise _Unusual
        elements[tag] = (vr, self.data[offset : offset + length])
        return offset + length

    def sequence(self, offset: int, length: int) -> tuple[tuple[RawDataset, ...], int]:
        """PS3.5 7.5: items of defined or undefined length, until the end or the delimiter."""
        end = None if length == UNDEFINED else offset + length
        opened, closed, finished = self.tokens
        items: list[RawDataset] = []
        while end is None or offset < end:
            group, element, item_length = _ITEM_HEADER(self.data, offset)
            tag = (group << 16) | element
            offset += 8
            if tag == SEQUENCE_END and end is None:
                break
            if tag != ITEM:
                raise _Unusual
            self.append(opened)
            item_end = None if item_length == UNDEFINED else offset + item_length
            item, offset = self.dataset(offset, item_end)
            self.append(closed)
            items.append(item)
        if end is not None and offset != end:
            raise _Unusual
        self.append(finished)
        return tuple(items), offset
