"""The full mode: identifier Datasets to and from bytes in a transfer syntax.

Every transfer syntax of :mod:`aiodicom.dicom.syntax` (PS3.5 Annex A). Text is encoded
and decoded with the data set's Specific Character Set (0008,0005) (PS3.5 6.1.2.3).
Before pydicom reads anything, a walk checks the element structure (PS3.5 7.1, 7.5),
which pydicom alone does not.

pydicom does the element encoding; every pydicom failure is reported as
:class:`aiodicom.errors.DataError` naming the identifier.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Final

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from aiodicom.bounded import BoundedMemo
from aiodicom.dicom.syntax import (
    DEFAULT_MAX_INFLATED_SIZE,
    IDENTIFIER,
    ITEM,
    ITEM_END,
    LONG_VR_BYTES,
    SEQUENCE_END,
    UNDEFINED,
    deflate,
    encoding_of,
    inflate,
    vr_of,
)
from aiodicom.errors import DataError

MAX_NESTING: Final = 32
VALID_MEMO_ENTRIES: Final = 4096
"""Identifiers remembered as structurally valid by :func:`check_identifier`."""
VALID_MEMO_MAX_BYTES: Final = 1024
"""Longer identifiers are always walked (bounds the memo to a few megabytes)."""
_VALID: BoundedMemo[tuple[bytes, str, int], bool] = BoundedMemo(VALID_MEMO_ENTRIES)
# (group, element, 4-byte length) and a 2-byte length, by little endianness
_TAG_LENGTH: Final = {True: struct.Struct("<HHI"), False: struct.Struct(">HHI")}
_HEADERS: Final = {
    (implicit, little): struct.Struct(("<" if little else ">") + ("HH0sI" if implicit else "HH2sH"))
    for implicit in (True, False)
    for little in (True, False)
}
# any other two capitals is an explicit VR with a 2-byte length
_SHORT_VR_BYTES: Final = (
    frozenset(bytes((first, second)) for first in range(65, 91) for second in range(65, 91))
    - LONG_VR_BYTES
)


def dataset_bytes(ds: Dataset, *, implicit: bool = False, little: bool = True) -> bytes:
    """pydicom's encoding of ``ds`` (PS3.5 7.1; Explicit VR Little Endian by default).

    pydicom's own exceptions propagate: callers name the data set in their errors.
    """
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = implicit
    buffer.is_little_endian = little
    write_dataset(buffer, ds)
    data: bytes = buffer.getvalue()
    return data


def dataset_of(data: bytes, *, implicit: bool = False, little: bool = True) -> Dataset:
    """pydicom's lazy Dataset of bytes this library wrote (PS3.5 7.1): no structure check,
    values converted when first read (see :func:`decode_identifier` for peer data)."""
    return read_dataset(BytesIO(data), implicit, little)


def encode_identifier(ds: Dataset, transfer_syntax: str) -> bytes:
    """Encode ``ds`` in ``transfer_syntax`` (PS3.5 Annex A) for a P-DATA data set."""
    implicit, little, deflated = encoding_of(transfer_syntax)
    try:
        data = dataset_bytes(ds, implicit=implicit, little=little)
    except Exception as exc:
        raise DataError(IDENTIFIER, f"cannot encode: {exc}") from exc
    return deflate(data) if deflated else data


def _materialize(ds: Dataset) -> None:
    """Convert every raw element now, so decoding errors surface here, not later.

    pydicom parses element values lazily; sequences nest (PS3.5 7.5) and are walked too.
    Indexing converts a raw element; ``str`` then renders what is still lazy inside a
    converted value (Person Name components). Plain ``str`` values need nothing more.
    """
    for tag in list(ds.keys()):
        element = ds[tag]
        value = element.value
        if element.VR == "SQ":
            for item in value:
                _materialize(item)
        elif type(value) is not str:
            str(value)


def decode_identifier(
    data: bytes,
    transfer_syntax: str,
    *,
    max_size: int = DEFAULT_MAX_INFLATED_SIZE,
    materialize: bool = True,
) -> Dataset:
    """Decode an identifier data set encoded in ``transfer_syntax`` (PS3.5 Annex A).

    Raises DataError("identifier", reason) for an unsupported transfer syntax or bytes
    that do not form a data set; ``max_size`` caps the inflated size of deflated input.
    The element structure is always checked first (PS3.5 7.1, 7.5). With
    ``materialize=False`` the values stay raw until read, which saves about three quarters
    of the cost; a value pydicom cannot convert then raises when it is first read.
    """
    implicit, little, deflated = encoding_of(transfer_syntax)
    if deflated:
        data = inflate(data, max_size)
    _Walker(data, implicit, little).check()
    try:
        ds = dataset_of(data, implicit=implicit, little=little)
        if materialize:
            _materialize(ds)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(IDENTIFIER, f"cannot decode: {type(exc).__name__}: {exc}") from None
    return ds


def check_identifier(
    data: bytes, transfer_syntax: str, *, max_size: int = DEFAULT_MAX_INFLATED_SIZE
) -> None:
    """Check only the element structure of an encoded identifier (PS3.5 7.1, 7.5).

    The cheap part of :func:`decode_identifier`: DataError for bytes that do not form a
    data set, without building a Dataset. The verdict depends on the arguments alone, so
    short identifiers found valid are remembered (modalities repeat the same query).
    """
    key = (data, transfer_syntax, max_size)
    if key in _VALID:
        return
    implicit, little, deflated = encoding_of(transfer_syntax)
    walked = inflate(data, max_size) if deflated else data
    _Walker(walked, implicit, little).check()
    if len(data) <= VALID_MEMO_MAX_BYTES:
        _VALID.put(key, True)


class _Walker:
    """Check the element structure of an encoded data set before pydicom reads it.

    pydicom silently accepts truncated values; this walk enforces PS3.5 7.1 (element
    headers and lengths inside their container) and 7.5 (sequence items and delimiters).
    """

    def __init__(self, data: bytes, implicit: bool, little: bool) -> None:
        self.data = data
        self.implicit = implicit
        self.tag_length = _TAG_LENGTH[little]
        # (group, element, VR or b"" when implicit, length: 2 bytes explicit, 4 implicit)
        self.header = _HEADERS[implicit, little].unpack_from
        self.long_length = _TAG_LENGTH[little].unpack_from

    def check(self) -> None:
        self._elements(0, len(self.data), delimited=False, depth=0)

    def _fail(self, position: int, reason: str) -> DataError:
        return DataError(IDENTIFIER, f"cannot decode: {reason} at byte {position}")

    def _header(self, position: int, end: int) -> tuple[int, int]:
        """Return (tag, length) of the 8-byte tag + 4-byte-length header at ``position``."""
        if end - position < 8:
            raise self._fail(position, "truncated element header")
        group, element, length = self.tag_length.unpack_from(self.data, position)
        return (group << 16) | element, length

    def _elements(self, position: int, end: int, *, delimited: bool, depth: int) -> int:
        """Walk elements up to ``end`` (or an item delimiter); return the end offset.

        One inlined loop (this runs for every C-FIND): PS3.5 7.1.1 implicit headers,
        7.1.2 explicit headers (2-byte length, or 2 reserved bytes and a 4-byte length).
        """
        data = self.data
        header = self.header
        long_length = self.long_length
        while position < end:
            if end - position < 8:
                raise self._fail(position, "truncated element header")
            group, element, vr, length = header(data, position)
            tag = (group << 16) | element
            if group == 0xFFFE:
                if tag == ITEM_END and delimited:
                    return position + 8
                raise self._fail(position, f"unexpected delimiter tag {tag:08X}")
            value_at = position + 8
            if vr and vr not in _SHORT_VR_BYTES:  # b"": implicit VR
                if vr not in LONG_VR_BYTES:
                    raise self._fail(position, f"invalid VR {vr!r} for ({group:04X},{element:04X})")
                if end - position < 12:
                    raise self._fail(position, "truncated element header")
                length = long_length(data, position + 4)[2]
                value_at = position + 12
            if length == UNDEFINED:
                if vr and vr not in {b"SQ", b"UN"}:
                    raise self._fail(position, "undefined length on a non-sequence")
                # PS3.5 6.2.2: UN of undefined length holds Implicit VR LE content
                walker = _Walker(data, True, True) if vr == b"UN" else self
                position = walker._items(value_at, end, undefined=True, depth=depth + 1)
                continue
            if length > end - value_at:
                raise self._fail(position, f"value length {length} overruns its container")
            if vr == b"SQ" or (not vr and vr_of(tag) == "SQ"):
                self._items(value_at, value_at + length, undefined=False, depth=depth + 1)
            position = value_at + length
        if delimited:
            raise self._fail(position, "missing item delimiter")
        return position

    def _items(self, position: int, end: int, *, undefined: bool, depth: int) -> int:
        """Walk sequence items (PS3.5 7.5); return the offset after the sequence."""
        if depth > MAX_NESTING:
            raise self._fail(position, f"sequences nested deeper than {MAX_NESTING}")
        while position < end:
            tag, length = self._header(position, end)
            position += 8
            if tag == SEQUENCE_END and undefined:
                return position
            if tag != ITEM:
                raise self._fail(position - 8, f"expected an item tag, found {tag:08X}")
            if length == UNDEFINED:
                position = self._elements(position, end, delimited=True, depth=depth)
            elif length > end - position:
                raise self._fail(position, f"item length {length} overruns its sequence")
            else:
                self._elements(position, position + length, delimited=False, depth=depth)
                position += length
        if undefined:
            raise self._fail(position, "missing sequence delimiter")
        return position
