"""A fast reader of the headers the Q/R index needs, byte-identical to the pydicom path.

``dcmread`` + re-encoding costs about a millisecond per file, too slow to index 100k
instances in seconds, so the common case is parsed here directly: a PS3.10 7.1 file
(preamble, ``DICM``, File Meta Information group) whose data set is Explicit VR Little
Endian (PS3.5 7.1.2, A.2 and every encapsulated transfer syntax, PS3.5 A.4), read up to
Pixel Data (group 7FE0) and never beyond.

The entity blobs must equal what :func:`aiodicom.dicom.identifier.dataset_bytes` writes
from a pydicom data set, so an element is copied verbatim only when pydicom would write back the
same bytes: text that is printable ASCII and padded exactly as PS3.5 6.2 asks (one
trailing space, or NUL for UI), numbers without blanks, binary values of whole units.
Anything else (sequences, undefined lengths, UN, other transfer syntaxes, unusual padding,
non-ASCII text) returns ``None`` and the caller falls back to pydicom.
"""

from __future__ import annotations

import re
import struct

from aiodicom.dicom.reader import explicit_le_header, read_file_meta
from aiodicom.dicom.syntax import (
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
    IMPLICIT_VR_LE,
    LONG_VRS,
    UNDEFINED,
)
from aiodicom.errors import DataError
from aiodicom.matching.text import normalize
from aiodicom.store.qr_model import (
    INDEXED_KEYS,
    SPECIFIC_CHARACTER_SET,
    UNIQUE_KEYS,
    Level,
    entity_level_of,
)
from aiodicom.store.qr_store import EntityData, IndexedFile

RawElements = dict[int, tuple[str, bytes, bytes]]
"""tag -> (VR, value bytes, whole encoded element bytes)."""

EntityCache = dict[tuple[Level, str], EntityData]

_PIXEL_GROUP_START = 0x7FE00000
_META_GROUP = 0x0002
_DATE_LEN = 8
# PS3.5 A.1: the non-encapsulated syntaxes that are not Explicit VR Little Endian.
_NOT_EXPLICIT_LE = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE})
_BULK_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_BINARY_UNITS = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8, "AT": 4}
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)
_TEXT_BLOCK_VRS = frozenset({"LT", "ST", "UT"})
_NO_BLANK_VRS = frozenset({"DA", "DT", "TM", "DS", "IS"})
_NUMBER = {
    "IS": re.compile(rb"-?[0-9]+"),
    "DS": re.compile(rb"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"),
}
_UID_LIST = re.compile(rb"[0-9.\\]*")  # PS3.5 9.1: UIDs are digits and dots
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
_TEXT_BLOCK = re.compile(rb"[\x09\x0a\x0c\x0d\x20-\x7e]*")
_PRINTABLE_8BIT = re.compile(rb"[\x20-\x7e\x80-\xff]*")
_TEXT_BLOCK_8BIT = re.compile(rb"[\x09\x0a\x0c\x0d\x20-\x7e\x80-\xff]*")
# PS3.5 6.1.2.3: VRs whose values use the Specific Character Set; the others are ASCII.
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
# PS3.3 C.12.1.1.2: single-byte / UTF-8 character sets without code extensions, which
# decode and re-encode byte for byte; others (ISO 2022, GB18030, ...) go to pydicom.
_CODECS = {b"": "ascii", b"ISO_IR 6": "ascii", b"ISO_IR 100": "latin-1", b"ISO_IR 192": "utf-8"}
_TAG = struct.Struct("<HH")


def column_value(vr: str, text: str) -> str | None:
    """The indexed column value: normalized text (PS3.5 6.2) or None.

    None when absent or empty, when multi-valued (VM > 1), for a DA that is not YYYYMMDD
    and for a PN that is not plain ASCII in one component group: push-down predicates
    let NULL rows through to Python matching.
    """
    value = normalize(vr, text)
    if not value or "\\" in value:
        return None
    if vr == "DA" and (len(value) != _DATE_LEN or not value.isdigit()):
        return None
    if vr == "PN" and (not value.isascii() or "=" in value):
        return None  # component groups and non-ASCII case folding: Python decides
    return value


def _charset_ok(vr: str, stripped: bytes, codec: str) -> bool:
    """True when ``stripped`` decodes in ``codec`` (ASCII for VRs without a charset)."""
    if codec == "ascii" or vr not in _CHARSET_VRS:
        allowed = _TEXT_BLOCK if vr in _TEXT_BLOCK_VRS else _PRINTABLE
        return allowed.fullmatch(stripped) is not None
    allowed = _TEXT_BLOCK_8BIT if vr in _TEXT_BLOCK_VRS else _PRINTABLE_8BIT
    if allowed.fullmatch(stripped) is None:
        return False
    try:
        stripped.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _canonical_text(vr: str, value: bytes, codec: str) -> bool:
    """True when pydicom reads and re-writes ``value`` unchanged (PS3.5 6.2 padding)."""
    stripped = value.rstrip(b" \x00")
    pad = (b"\x00" if vr == "UI" else b" ") * (len(stripped) % 2)
    if stripped + pad != value:
        return False
    if not _charset_ok(vr, stripped, codec):
        return False
    if b"\\" in stripped and vr not in _TEXT_BLOCK_VRS and vr != "UR":
        parts = stripped.split(b"\\")  # pydicom strips blanks around each of the values
        if any(part != part.strip(b" ") for part in parts):
            return False
    if vr == "UI" and _UID_LIST.fullmatch(stripped) is None:
        return False
    if vr == "PN" and any(name.endswith(b"=") for name in stripped.split(b"\\")):
        return False  # pydicom drops empty trailing component groups when writing
    if vr in _NO_BLANK_VRS and stripped:
        number = _NUMBER.get(vr)
        for part in stripped.split(b"\\"):
            if part != part.strip() or (number is not None and number.fullmatch(part) is None):
                return False
    return True


def _canonical(vr: str, value: bytes, codec: str) -> bool:
    if vr in _TEXT_VRS:
        return _canonical_text(vr, value, codec)
    unit = _BINARY_UNITS.get(vr)
    return unit is not None and len(value) % unit == 0


def _transfer_syntax(data: bytes) -> tuple[str, int] | None:
    """The Transfer Syntax UID of the File Meta Information and where the data set starts."""
    if data[128:132] != b"DICM":
        return None
    try:
        syntax, pos = read_file_meta(data, "file")
    except (DataError, UnicodeDecodeError):
        return None
    return (syntax, pos) if syntax and pos <= len(data) else None


def read_elements(data: bytes, *, whole: bool = True) -> tuple[RawElements, str] | None:
    """The data set elements of a Part 10 file up to Pixel Data and their text codec.

    None means "use pydicom": not Explicit VR Little Endian, a sequence, an undefined
    length, a UN or unknown VR, tags out of order, or a value pydicom would re-pad; also
    when ``data`` is only the start of the file (``whole=False``) and the data set goes
    on past it.
    """
    found = _transfer_syntax(data)
    if found is None or found[0] in _NOT_EXPLICIT_LE:
        return None
    pos, end = found[1], len(data)
    elements: RawElements = {}
    previous, codec = -1, "ascii"
    while pos + 8 <= end:
        try:
            tag, vr, length, start = explicit_le_header(data, pos)
        except struct.error:  # a 12-byte header cut off: fine only from Pixel Data on
            group, elem = _TAG.unpack_from(data, pos)
            tag, vr, length, start = group << 16 | elem, None, 0, end
        if tag >= _PIXEL_GROUP_START:
            break
        if vr is None or (vr in LONG_VRS and data[pos + 6 : pos + 8] != b"\0\0"):
            return None  # not a VR; or a reserved field (PS3.5 7.1.2) pydicom would zero
        stop = start + length
        if tag <= previous or vr in ("SQ", "UN") or length == UNDEFINED or stop > end:
            return None
        value = data[start:stop]
        if vr not in _BULK_VRS and not _canonical(vr, value, codec):
            return None
        if tag == SPECIFIC_CHARACTER_SET:
            found_codec = _CODECS.get(value.rstrip(b" "))
            if found_codec is None:
                return None
            codec = found_codec
        elements[tag] = (vr, value, data[pos:stop])
        previous, pos = tag, stop
    if pos + 8 <= end:
        return elements, codec  # stopped at Pixel Data (group 7FE0)
    return (elements, codec) if whole and pos == end else None


def _text(value: bytes, codec: str) -> str:
    """The value as pydicom's ``str`` of it: padding removed (canonical values only)."""
    return value.rstrip(b" \x00").decode(codec)


def _unique_keys(elements: RawElements, codec: str, path: str) -> dict[Level, str]:
    uids: dict[Level, str] = {}
    for level in Level:
        item = elements.get(UNIQUE_KEYS[level])
        uids[level] = "" if item is None else _text(item[1], codec)
    uids[Level.PATIENT] = normalize("LO", uids[Level.PATIENT])
    for level in (Level.STUDY, Level.SERIES, Level.IMAGE):
        uids[level] = uids[level].strip(" \x00")
        if not uids[level]:
            raise DataError(path, f"no {level.name.lower()} unique key: not a DICOM instance")
    return uids


def _split(elements: RawElements, wanted: set[Level]) -> dict[Level, list[bytes]]:
    """Encoded elements per entity (PS3.4 C.6.1.1) in tag order, as ``split_entities``.

    Specific Character Set goes to every entity, since each blob is decoded alone.
    """
    parts: dict[Level, list[tuple[int, bytes]]] = {level: [] for level in wanted}
    charset = elements.get(SPECIFIC_CHARACTER_SET)
    for tag, (vr, _value, encoded) in elements.items():
        if tag >> 16 <= _META_GROUP or tag & 0xFFFF == 0 or vr in _BULK_VRS:
            continue
        level = entity_level_of(tag)
        if level in parts and tag != SPECIFIC_CHARACTER_SET:
            parts[level].append((tag, encoded))
    if charset is not None:
        for part in parts.values():
            part.append((SPECIFIC_CHARACTER_SET, charset[2]))
            part.sort()
    return {level: [encoded for _tag, encoded in part] for level, part in parts.items()}


def _entity(
    level: Level, encoded: list[bytes], elements: RawElements, codec: str, uid: str
) -> EntityData:
    columns: dict[int, str | None] = {}
    for key in INDEXED_KEYS:
        if key.level is level:
            item = elements.get(key.tag)
            columns[key.tag] = None if item is None else column_value(key.vr, _text(item[1], codec))
    return EntityData(uid=uid, columns=columns, blob=b"".join(encoded))


def index_elements(
    header: tuple[RawElements, str],
    path: str,
    mtime_ns: int,
    size: int,
    cache: EntityCache | None,
) -> IndexedFile:
    """Split simple elements into an :class:`IndexedFile`, like ``index_dataset`` does.

    Entities found in ``cache`` (patient/study/series of an earlier file of the batch)
    are reused without building their blobs. Raises :class:`DataError` naming ``path``
    when a Study, Series or SOP Instance UID is missing (PS3.4 C.6.1.1).
    """
    elements, codec = header
    uids = _unique_keys(elements, codec, path)
    entities: dict[Level, EntityData] = {}
    for level in Level:
        hit = cache.get((level, uids[level])) if cache is not None else None
        if hit is not None and level is not Level.IMAGE:
            entities[level] = hit
    parts = _split(elements, {level for level in Level if level not in entities})
    for level, encoded in parts.items():
        entities[level] = _entity(level, encoded, elements, codec, uids[level])
        if cache is not None and level is not Level.IMAGE:
            cache[(level, uids[level])] = entities[level]
    return IndexedFile(
        path=path, mtime_ns=mtime_ns, size=size, entities={lvl: entities[lvl] for lvl in Level}
    )
