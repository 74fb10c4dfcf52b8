"""Transfer syntaxes and the element-level tables every data-set reader and writer shares.

PS3.5 Annex A: Implicit VR Little Endian (A.1), Explicit VR Little Endian (A.2), Explicit
VR Big Endian (A.3, retired but still seen) and Deflated Explicit VR Little Endian (A.5:
the whole data set in Explicit VR LE, compressed with raw RFC 1951 deflate, no zlib
header, padded to even length). PS3.5 7.1 element headers, 7.3 byte order, 7.5 item and
sequence delimitation tags; PS3.6 for the data dictionary VR of implicit VR data.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Final

from pydicom.datadict import dictionary_VR

from aiodicom.errors import DataError

IMPLICIT_VR_LE: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_LE: Final = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BE: Final = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LE: Final = "1.2.840.10008.1.2.1.99"

ENCODINGS: Final[dict[str, tuple[bool, bool, bool]]] = {
    IMPLICIT_VR_LE: (True, True, False),
    EXPLICIT_VR_LE: (False, True, False),
    EXPLICIT_VR_BE: (False, False, False),
    DEFLATED_EXPLICIT_VR_LE: (False, True, True),
}
"""Transfer syntax UID -> (implicit VR, little endian, deflated)."""

SUPPORTED_TRANSFER_SYNTAXES: Final = tuple(ENCODINGS)

IDENTIFIER: Final = "identifier"
"""The name used in DataError for a C-FIND identifier."""

DEFAULT_MAX_INFLATED_SIZE: Final = 64 << 20
"""Decompression-bomb guard: the most bytes a deflated identifier may inflate to."""

DEFLATE_LEVEL: Final = 6

UNDEFINED: Final = 0xFFFFFFFF
ITEM: Final = 0xFFFEE000
ITEM_END: Final = 0xFFFEE00D
SEQUENCE_END: Final = 0xFFFEE0DD
SPECIFIC_CHARACTER_SET: Final = 0x00080005
TRANSFER_SYNTAX_UID: Final = 0x00020010

LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
"""PS3.5 7.1.2: explicit VRs with a 2-byte reserved field and a 4-byte length."""

LONG_VR_BYTES = frozenset(vr.encode("ascii") for vr in LONG_VRS)

ALL_VRS = frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
                     "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                     "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"})  # fmt: skip
"""Every VR of PS3.5 Table 6.2-1."""

VR_BY_BYTES = {name.encode("ascii"): name for name in ALL_VRS}

NUMERIC_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8,
                 "AT": 2, "OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}  # fmt: skip
"""Byte-swap unit of binary VRs (PS3.5 7.3: byte ordering); AT swaps per 16-bit half."""

NUMERIC_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d",
                   "SV": "q", "UV": "Q"}  # fmt: skip


def encoding_of(transfer_syntax: str) -> tuple[bool, bool, bool]:
    """(implicit VR, little endian, deflated) of a supported transfer syntax, else DataError."""
    try:
        return ENCODINGS[transfer_syntax]
    except KeyError:
        raise DataError(
            IDENTIFIER,
            f"transfer syntax {transfer_syntax!r} is not supported for identifiers "
            f"(supported: {', '.join(SUPPORTED_TRANSFER_SYNTAXES)})",
        ) from None


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


def deflate(data: bytes) -> bytes:
    """PS3.5 A.5: raw deflate (zlib wbits=-15), padded with one NUL to even length."""
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(data) + compressor.flush()
    return deflated + b"\x00" if len(deflated) % 2 else deflated


def inflate(data: bytes, max_size: int = DEFAULT_MAX_INFLATED_SIZE) -> bytes:
    """PS3.5 A.5: inflate a raw deflate stream, refusing output beyond ``max_size`` bytes.

    Bytes after the end of the deflate stream (the even-length pad) are ignored.
    """
    decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = decompressor.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise DataError(IDENTIFIER, f"deflated data set is corrupt: {exc}") from None
    if len(inflated) > max_size:
        raise DataError(IDENTIFIER, f"deflated data set inflates beyond {max_size} bytes")
    if not decompressor.eof:
        raise DataError(IDENTIFIER, "deflated data set is truncated")
    return inflated
