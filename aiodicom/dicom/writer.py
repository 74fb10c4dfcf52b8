"""The data-set writer: raw elements to bytes in a transfer syntax, with item framing.

Element headers (PS3.5 7.1.2 explicit, 7.1.3 implicit), byte order (7.3) and sequences
of defined length with items of defined length (7.5). Encoded leaf elements are memoized
per tag, so a worklist response is the requested elements' bytes joined (the response
builders compile plans on top of this). Deflate (PS3.5 A.5) is applied to a whole data
set after it (:func:`aiodicom.dicom.syntax.deflate`); :mod:`aiodicom.dicom.identifier` is
the full mode, from pydicom Datasets.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Literal, TypeAlias

from aiodicom.dicom.reader import RawDataset
from aiodicom.dicom.syntax import (
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    LONG_VRS,
    swap,
)

LeafEncoder: TypeAlias = Callable[[tuple[str, bytes]], bytes]


ELEMENT_MEMO_CAP = 200_000


class Syntax:
    """Encoding parameters of one uncompressed transfer syntax.

    ``memos`` maps each tag to a memo of its encoded leaf elements by (VR, value):
    worklist items repeat most values, so a repeated element is packed once and its bytes
    are shared by every item (less time for a first query over 100k items, less memory
    after it). All memos together keep at most ``memo_cap`` (:data:`ELEMENT_MEMO_CAP`)
    elements.
    """

    __slots__ = (
        "_encoders",
        "_long",
        "_plain",
        "_short",
        "_vr_bytes",
        "explicit",
        "item_tag",
        "little",
        "memo_cap",
        "memo_size",
        "memos",
        "order",
        "prefix",
        "uid",
    )

    def __init__(self, uid: str, memo_cap: int = ELEMENT_MEMO_CAP) -> None:
        self.uid = uid
        self.memo_cap = memo_cap
        self.explicit = uid != IMPLICIT_VR_LE
        self.little = uid != EXPLICIT_VR_BE
        self.prefix = "<" if self.little else ">"
        self.order: Literal["little", "big"] = "little" if self.little else "big"
        self._plain = struct.Struct(self.prefix + "HHI").pack
        self._long = struct.Struct(self.prefix + "HH2sHI").pack
        self._short = struct.Struct(self.prefix + "HH2sH").pack
        self.item_tag = struct.Struct(self.prefix + "HH").pack(0xFFFE, 0xE000)
        self._vr_bytes: dict[str, bytes] = {}
        self.memos: dict[int, dict[tuple[str, bytes], bytes]] = {}
        self.memo_size = 0
        self._encoders: dict[int, LeafEncoder] = {}

    def header(self, tag: int, vr: str, length: int) -> bytes:
        """PS3.5 7.1.2 / 7.1.3 element header."""
        if not self.explicit:
            return self._plain(tag >> 16, tag & 0xFFFF, length)
        code = self._vr_bytes.get(vr)
        if code is None:
            code = self._vr_bytes[vr] = vr.encode()
        if vr in LONG_VRS:
            return self._long(tag >> 16, tag & 0xFFFF, code, 0, length)
        return self._short(tag >> 16, tag & 0xFFFF, code, length)

    def memo_for(self, tag: int) -> dict[tuple[str, bytes], bytes]:
        """The memo of encoded ``tag`` elements, by (VR, value)."""
        memo = self.memos.get(tag)
        if memo is None:
            memo = self.memos[tag] = {}
        return memo

    def lead(self, tag: int, vr: str) -> tuple[bytes, int]:
        """An element header without its length field, and that field's width in bytes."""
        width = 4 if not self.explicit or vr in LONG_VRS else 2
        return self.header(tag, vr, 0)[:-width], width

    def encoder_for(self, tag: int) -> LeafEncoder:
        """Encodes a ``tag`` leaf element missing from its memo, and keeps it while the
        memos have room (one call per element: the first query over 100k items makes
        hundreds of thousands of them)."""
        found = self._encoders.get(tag)
        if found is None:
            found = self._encoders[tag] = self._new_encoder(tag)
        return found

    def _new_encoder(self, tag: int) -> LeafEncoder:
        memo = self.memo_for(tag)
        leads: dict[str, tuple[bytes, int]] = {}
        little, order = self.little, self.order

        def encode(pair: tuple[str, bytes]) -> bytes:
            vr, value = pair
            lead = leads.get(vr)
            if lead is None:
                lead = leads[vr] = self.lead(tag, vr)
            data = value if little else swap(value, vr)
            found = lead[0] + len(data).to_bytes(lead[1], order) + data
            if self.memo_size < self.memo_cap:
                memo[pair] = found
                self.memo_size += 1
            return found

        return encode

    def element(self, tag: int, pair: tuple[str, bytes]) -> bytes:
        """One leaf element (header + value in this byte order), memoized."""
        found = self.memo_for(tag).get(pair)
        return self.encoder_for(tag)(pair) if found is None else found

    def whole(self, raw: RawDataset) -> bytes:
        """Every element in tag order (a sequence requested with universal matching)."""
        parts: list[bytes] = []
        for tag in sorted(raw):
            if not tag & 0xFFFF:
                continue  # group lengths are not sent (PS3.5 7.2)
            vr, value = raw[tag]
            if isinstance(value, tuple):
                parts.append(self.sequence(tag, [self.whole(item) for item in value]))
            else:
                parts.append(self.element(tag, (vr, value)))
        return b"".join(parts)

    def sequence(self, tag: int, contents: list[bytes]) -> bytes:
        """PS3.5 7.5: a sequence of defined length whose items (7.5.1, defined length too)
        hold ``contents``."""
        parts: list[bytes] = []
        for content in contents:
            parts += (self.item_tag, len(content).to_bytes(4, self.order), content)
        body = b"".join(parts)
        return self.header(tag, "SQ", len(body)) + body


SYNTAXES: dict[str, Syntax] = {}


def syntax_for(uid: str) -> Syntax:
    """The element-level syntax for ``uid``; deflated data is Explicit VR LE before deflate."""
    base = EXPLICIT_VR_LE if uid == DEFLATED_EXPLICIT_VR_LE else uid
    found = SYNTAXES.get(base)
    if found is None:
        found = SYNTAXES[base] = Syntax(base)
    return found


def file_meta_information(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    *,
    implementation_class_uid: str,
    implementation_version_name: str,
    source_ae_title: str = "",
) -> bytes:
    """PS3.10 7.1: the 128-byte preamble, ``DICM`` and the File Meta Information group
    (0002) in Explicit VR Little Endian with its group length, before a data set stored
    as received in ``transfer_syntax``. UI values are NUL padded, SH and AE space padded
    (PS3.5 6.2)."""
    syntax = syntax_for(EXPLICIT_VR_LE)

    def text(value: str, pad: bytes) -> bytes:
        raw = value.encode("ascii")
        return raw + pad if len(raw) % 2 else raw

    elements: list[tuple[int, str, bytes]] = [
        (0x00020001, "OB", b"\x00\x01"),  # File Meta Information Version
        (0x00020002, "UI", text(sop_class_uid, b"\0")),
        (0x00020003, "UI", text(sop_instance_uid, b"\0")),
        (0x00020010, "UI", text(transfer_syntax, b"\0")),
        (0x00020012, "UI", text(implementation_class_uid, b"\0")),
        (0x00020013, "SH", text(implementation_version_name, b" ")),
    ]
    if source_ae_title:
        elements.append((0x00020016, "AE", text(source_ae_title, b" ")))
    body = b"".join(syntax.header(tag, vr, len(value)) + value for tag, vr, value in elements)
    length = syntax.header(0x00020000, "UL", 4) + struct.pack("<I", len(body))
    return bytes(128) + b"DICM" + length + body
