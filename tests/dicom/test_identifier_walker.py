"""The inlined structural walk of :func:`aiodicom.dicom.identifier.check_identifier` gives exactly
the verdicts and messages of the straightforward walker it replaced (kept here as the
reference), on valid identifiers in every transfer syntax and on random corruptions.
PS3.5 7.1 (element headers, lengths inside their container), 7.5 (items, delimiters).
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.dicom import identifier as codec
from aiodicom.dicom.identifier import MAX_NESTING, check_identifier, encode_identifier
from aiodicom.dicom.syntax import (
    DEFAULT_MAX_INFLATED_SIZE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IDENTIFIER,
    IMPLICIT_VR_LE,
)
from aiodicom.errors import DataError

LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
SYNTAXES = {
    IMPLICIT_VR_LE: (True, True),
    EXPLICIT_VR_LE: (False, True),
    EXPLICIT_VR_BE: (False, False),
}


class ReferenceWalker:
    """Check the element structure of an encoded data set before pydicom reads it.

    pydicom silently accepts truncated values; this walk enforces PS3.5 7.1 (element
    headers and lengths inside their container) and 7.5 (sequence items and delimiters).
    """

    def __init__(self, data: bytes, implicit: bool, little: bool) -> None:
        self.data = data
        self.implicit = implicit
        self.tag_length = struct.Struct("<HHI" if little else ">HHI")
        self.short_length = struct.Struct("<H" if little else ">H")

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

    def _element(self, position: int, end: int, tag: int) -> tuple[bytes | None, int, int]:
        """Return (explicit VR or None, value length, value offset) of one element."""
        if self.implicit:
            return None, self._header(position, end)[1], position + 8
        vr = self.data[position + 4 : position + 6]
        if vr in LONG_VRS:
            if end - position < 12:
                raise self._fail(position, "truncated element header")
            return vr, self._header(position + 4, end)[1], position + 12
        if not vr.isalpha() or not vr.isupper():
            raise self._fail(
                position, f"invalid VR {vr!r} for ({tag >> 16:04X},{tag & 0xFFFF:04X})"
            )
        return vr, self.short_length.unpack_from(self.data, position + 6)[0], position + 8

    def _is_sequence(self, tag: int, vr: bytes | None) -> bool:
        if vr is not None:
            return vr == b"SQ"
        try:
            return bool(dictionary_VR(tag) == "SQ")
        except KeyError:
            return False

    def _elements(self, position: int, end: int, *, delimited: bool, depth: int) -> int:
        """Walk elements up to ``end`` (or an item delimiter); return the end offset."""
        while position < end:
            tag, _ = self._header(position, end)
            if tag == ITEM_DELIMITER and delimited:
                return position + 8
            if tag >> 16 == 0xFFFE:
                raise self._fail(position, f"unexpected delimiter tag {tag:08X}")
            vr, length, value_at = self._element(position, end, tag)
            if length == UNDEFINED:
                if vr not in (None, b"SQ", b"UN"):
                    raise self._fail(position, "undefined length on a non-sequence")
                # PS3.5 6.2.2: UN of undefined length holds Implicit VR LE content
                walker = ReferenceWalker(self.data, True, True) if vr == b"UN" else self
                position = walker._items(value_at, end, undefined=True, depth=depth + 1)
                continue
            if length > end - value_at:
                raise self._fail(position, f"value length {length} overruns its container")
            if self._is_sequence(tag, vr):
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
            if tag == SEQUENCE_DELIMITER and undefined:
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


def _verdict_reference(data: bytes, syntax: str) -> str | None:
    implicit, little = SYNTAXES[syntax]
    try:
        ReferenceWalker(data, implicit, little).check()
    except DataError as exc:
        return exc.reason
    return None


def _verdict(data: bytes, syntax: str) -> str | None:
    try:
        check_identifier(data, syntax)
    except DataError as exc:
        assert exc.path == IDENTIFIER
        return exc.reason
    return None


def _identifier(nested: bool) -> Dataset:
    step = Dataset()
    step.Modality = "MR"
    step.ScheduledStationAETitle = ""
    ds = Dataset()
    ds.PatientName = "DOE^J*"
    ds.PatientID = "PID0000042"
    ds.AccessionNumber = ""
    if nested:
        ds.ScheduledProcedureStepSequence = Sequence([step, Dataset()])
    ds.add_new(0x00091010, "LO", "private")
    ds.add_new(0x00091011, "UN", b"\x01\x02")
    return ds


SAMPLES = {
    (syntax, nested): encode_identifier(_identifier(nested), syntax)
    for syntax in SYNTAXES
    for nested in (False, True)
}


def _undefined_length_sequence(little: bool) -> bytes:
    """Explicit VR: an SQ and a UN of undefined length, items of undefined length."""
    p = "<" if little else ">"
    item = struct.pack(p + "HHI", 0xFFFE, 0xE000, UNDEFINED)
    item += struct.pack(p + "HH2sH", 0x0008, 0x0060, b"CS", 2) + b"MR"
    item += struct.pack(p + "HHI", 0xFFFE, 0xE00D, 0)
    end = struct.pack(p + "HHI", 0xFFFE, 0xE0DD, 0)
    sq = struct.pack(p + "HH2sHI", 0x0040, 0x0100, b"SQ", 0, UNDEFINED) + item + end
    un_item = struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED)
    un_item += struct.pack("<HHI", 0x0008, 0x0060, 2) + b"MR"
    un_item += struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    un_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    un = struct.pack(p + "HH2sHI", 0x0009, 0x1012, b"UN", 0, UNDEFINED) + un_item + un_end
    return sq + un


def test_valid_identifiers_pass_in_every_syntax() -> None:
    for (syntax, _), data in SAMPLES.items():
        assert _verdict(data, syntax) is None
        assert _verdict_reference(data, syntax) is None
    for little, syntax in ((True, EXPLICIT_VR_LE), (False, EXPLICIT_VR_BE)):
        data = _undefined_length_sequence(little)
        assert _verdict(data, syntax) is None
        assert _verdict_reference(data, syntax) is None


def test_nesting_limit_is_kept() -> None:
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    data = b""
    for _ in range(MAX_NESTING + 2):
        data = (
            struct.pack("<HH2sHI", 0x0040, 0x0100, b"SQ", 0, UNDEFINED)
            + struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED)
            + data
            + item_end
            + seq_end
        )
    reason = _verdict(data, EXPLICIT_VR_LE)
    assert reason is not None and "nested deeper" in reason
    assert reason == _verdict_reference(data, EXPLICIT_VR_LE)


BASES = [
    *SAMPLES.items(),
    ((EXPLICIT_VR_LE, True), _undefined_length_sequence(True)),
    ((EXPLICIT_VR_BE, True), _undefined_length_sequence(False)),
]


@settings(max_examples=600, deadline=None)
@given(
    base=st.sampled_from(BASES),
    edits=st.lists(
        st.tuples(st.integers(0, 400), st.integers(0, 255), st.sampled_from("set cut ins")),
        max_size=4,
    ),
    truncate=st.integers(0, 400),
)
def test_corruptions_get_the_reference_verdict(
    base: tuple[tuple[str, bool], bytes], edits: list[tuple[int, int, str]], truncate: int
) -> None:
    (syntax, _), data = base
    buffer = bytearray(data)
    for position, value, kind in edits:
        position %= len(buffer) + 1
        if kind == "set" and position < len(buffer):
            buffer[position] = value
        elif kind == "cut":
            del buffer[position : position + 1 + value % 8]
        else:
            buffer[position:position] = bytes((value,)) * (1 + value % 4)
    corrupted = bytes(buffer[: len(buffer) - truncate % 16])
    assert _verdict(corrupted, syntax) == _verdict_reference(corrupted, syntax)


def test_only_valid_short_identifiers_are_remembered() -> None:
    data = SAMPLES[EXPLICIT_VR_LE, True]
    broken = data[:-3]
    check_identifier(data, EXPLICIT_VR_LE)
    assert (data, EXPLICIT_VR_LE, DEFAULT_MAX_INFLATED_SIZE) in codec._VALID
    for _ in range(2):  # a refusal is never remembered: the second call refuses too
        assert _verdict(broken, EXPLICIT_VR_LE) == _verdict_reference(broken, EXPLICIT_VR_LE)
        assert _verdict(broken, EXPLICIT_VR_LE) is not None
    long = encode_identifier(_long_identifier(), EXPLICIT_VR_LE)
    check_identifier(long, EXPLICIT_VR_LE)
    assert (long, EXPLICIT_VR_LE, DEFAULT_MAX_INFLATED_SIZE) not in codec._VALID


def test_memo_stays_bounded() -> None:
    for index in range(codec.VALID_MEMO_ENTRIES + 10):
        ds = Dataset()
        ds.PatientID = f"P{index:08d}"
        check_identifier(encode_identifier(ds, IMPLICIT_VR_LE), IMPLICIT_VR_LE)
    assert len(codec._VALID) == codec.VALID_MEMO_ENTRIES


def _long_identifier() -> Dataset:
    ds = Dataset()
    ds.PatientComments = "x" * (2 * 1024)
    return ds
