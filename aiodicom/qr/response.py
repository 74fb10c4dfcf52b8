"""Fast response encoding: C-FIND response identifiers straight from the stored blobs.

Entity blobs are Explicit VR Little Endian (PS3.5 7.1.2). For a query whose return keys
are plain elements (no sequences), each response is assembled by slicing the requested
elements out of the blobs (:func:`aiodicom.dicom.reader.top_level_elements`) and
re-framing them in the request's transfer syntax (Explicit or Implicit VR Little Endian,
PS3.5 7.1.2 / 7.1.3, :mod:`aiodicom.dicom.writer`), without building pydicom objects.
The result is byte-identical to ``encode_identifier(project(...))`` (PS3.4 C.2.2.3,
C.4.1.1.3.2); a test holds both paths to that. Rows the fast path cannot express
(character set changes, undecodable blobs) return None and take the pydicom path.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from aiodicom.dicom.reader import top_level_elements
from aiodicom.dicom.syntax import EXPLICIT_VR_LE, IMPLICIT_VR_LE
from aiodicom.dicom.writer import syntax_for
from aiodicom.errors import DataError
from aiodicom.matching.text import element_vr
from aiodicom.store.qr_model import QUERY_RETRIEVE_LEVEL, SPECIFIC_CHARACTER_SET
from aiodicom.store.qr_store import ResultRow

_TEXT_PAD = {"UI": b"\x00"}
_UTF8 = b"ISO_IR 192"
_BLOB = "attrs blob"

Element = tuple[str, bytes]  # (VR, value bytes)


def _pad(vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        return value + _TEXT_PAD.get(vr, b" ")
    return value


class ResponseEncoder:
    """Encodes the response identifiers of one query from result rows.

    ``usable`` is False when a return key is a sequence or the transfer syntax is not
    Explicit/Implicit VR Little Endian; then every row takes the pydicom path.
    """

    def __init__(self, identifier: Dataset, transfer_syntax: str,
                 computed_tags: Iterable[int]) -> None:  # fmt: skip
        self.header = syntax_for(transfer_syntax).header
        self.asked_charset = SPECIFIC_CHARACTER_SET in identifier
        keys: dict[int, str] = {}
        for raw_tag in identifier.keys():  # noqa: SIM118 (iterating yields elements)
            tag = int(raw_tag)
            if tag == SPECIFIC_CHARACTER_SET or tag & 0xFFFF == 0:
                continue
            item = identifier.get_item(tag)
            assert item is not None
            keys[tag] = element_vr(item)
        self.keys = dict(sorted(keys.items()))
        self.usable = transfer_syntax in (EXPLICIT_VR_LE, IMPLICIT_VR_LE) and all(
            vr != "SQ" for vr in keys.values()
        )
        level = identifier.get(QUERY_RETRIEVE_LEVEL)
        self.level = _pad("CS", str(level.value if level is not None else "").encode())
        self.computed = frozenset(computed_tags) & frozenset(keys)
        self.wanted = frozenset(keys) | {SPECIFIC_CHARACTER_SET}

    def _frame(self, tag: int, vr: str, value: bytes) -> bytes:
        return self.header(tag, vr, len(value)) + value

    def encode(self, row: ResultRow) -> bytes | None:
        """The encoded identifier for ``row``, or None to use the pydicom path."""
        found: dict[int, Element] = {}
        charsets: set[bytes] = set()
        try:
            for blob in row.blobs:
                part: dict[int, Element] = {}
                top_level_elements(blob, self.wanted, part, _BLOB)
                charset = part.pop(SPECIFIC_CHARACTER_SET, None)
                charsets.add(charset[1] if charset else b"")
                found.update(part)
        except DataError:
            return None
        if len(charsets) > 1:
            return None
        for tag, text in row.computed:
            if tag in self.computed:
                vr = str(dictionary_VR(tag))
                found[tag] = (vr, _pad(vr, text.encode("ascii")))
        return self._assemble(found, charsets.pop() if charsets else b"")

    def _assemble(self, found: dict[int, Element], charset: bytes) -> bytes | None:
        parts: list[bytes] = []
        non_ascii = False
        for tag, query_vr in self.keys.items():
            if tag == QUERY_RETRIEVE_LEVEL:
                parts.append(self._frame(tag, "CS", self.level))
                continue
            element = found.get(tag)
            if element is None:
                parts.append(self._frame(tag, query_vr, b""))
                continue
            vr, value = element
            if not value.isascii():
                non_ascii = True
            parts.append(self._frame(tag, vr, value))
        if not (non_ascii or self.asked_charset):
            return b"".join(parts)
        terms = charset.strip(b" \x00")
        if non_ascii and (not terms or b"\\" in terms or b"2022" in terms):
            return None  # re-encoding (UTF-8 or ISO 2022 escapes) is pydicom's job
        value = terms or _UTF8  # PS3.4 C.4.1.1.3.2: the response names its character set
        parts.insert(0, self._frame(SPECIFIC_CHARACTER_SET, "CS", _pad("CS", value)))
        return b"".join(parts)
