"""Character sets, decoding and padding rules for matching (PS3.5 6.1, 6.2; PS3.4 C.2.2.2).

Values are decoded to ``str`` with the Specific Character Set (0008,0005) of the data set
they come from (PS3.5 6.1.2.3), then normalized the same way for queries and records:
insignificant padding removed (PS3.5 6.2, Table 6.2-1), Unicode NFC, and for PN the empty
trailing components and component groups dropped (PS3.5 6.2.1).
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Iterable, Sequence

from pydicom import charset as pydicom_charset
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from aiodicom.matching.model import (
    CHARSET_VRS,
    SINGLE_VALUED_VRS,
    SPECIFIC_CHARACTER_SET,
)

DEFAULT_ENCODINGS: tuple[str, ...] = ("iso8859",)
"""PS3.5 6.1.2.2: the Default Character Repertoire (ISO IR 6), decoded permissively."""

# PS3.5 Table 6.2-1: VRs whose leading spaces are insignificant too (all strip trailing).
_STRIP_BOTH_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM", "UI", "UR"}
    | {"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV", "AT"}
)
_PN_DELIMITERS = {0x5C, 0x5E, 0x3D}  # "\" "^" "=" reset ISO 2022 state (PS3.5 6.1.2.5.3)
_TEXT_DELIMITERS = {0x5C}
_ESC = 0x1B


class CharsetError(ValueError):
    """A Specific Character Set (0008,0005) term that we cannot decode."""


def resolve_encodings(terms: Sequence[str]) -> tuple[str, ...]:
    """Map Specific Character Set defined terms to Python codecs (PS3.3 C.12.1.1.2).

    An empty first value means the default repertoire with ISO 2022 code extensions.
    Raises :class:`CharsetError` naming the first unknown term.
    """
    cleaned = [term.strip() for term in terms]
    if not cleaned or cleaned == [""]:
        return DEFAULT_ENCODINGS
    for term in cleaned:
        if term not in pydicom_charset.python_encoding:
            raise CharsetError(f"unsupported Specific Character Set term {term!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(pydicom_charset.convert_encodings(cleaned))


def charset_terms(ds: Dataset) -> list[str] | None:
    """The Specific Character Set terms of ``ds`` itself, or None when it has none."""
    elem = ds.get_item(SPECIFIC_CHARACTER_SET)
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return charset_terms_of(value)
    terms = [value] if isinstance(value, str) else [str(item) for item in value or ()]
    terms = [term.strip(" \x00") for term in terms]
    return None if terms in ([], [""]) else terms


def charset_terms_of(value: bytes) -> list[str] | None:
    """The terms of a raw Specific Character Set value, or None when it is empty."""
    terms = [term.strip(" \x00") for term in value.decode("latin-1").split("\\")]
    return None if terms == [""] else terms


def dataset_encodings(
    ds: Dataset, inherited: tuple[str, ...] = DEFAULT_ENCODINGS
) -> tuple[str, ...]:
    """Encodings for ``ds``: its own (0008,0005) if present, else the enclosing one's."""
    terms = charset_terms(ds)
    return inherited if terms is None else resolve_encodings(terms)


def decode_raw(value: bytes, vr: str, encodings: tuple[str, ...]) -> str:
    """Decode raw value bytes of a string VR (PS3.5 6.1.2.5: code extensions)."""
    if vr not in CHARSET_VRS:
        return value.decode("latin-1")
    if _ESC not in value:
        try:
            return value.decode(encodings[0])
        except (UnicodeDecodeError, LookupError):
            return value.decode(encodings[0], errors="replace")
    delimiters = _PN_DELIMITERS if vr == "PN" else _TEXT_DELIMITERS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom_charset.decode_bytes(value, list(encodings), delimiters)
        except (UnicodeDecodeError, LookupError, ValueError):
            return value.decode("latin-1")


def _scalar_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def value_text(value: object) -> str:
    """Text form of a converted pydicom value; multiple values joined with ``"\\"``."""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_scalar_text(item) for item in value)
    return _scalar_text(value)


def element_vr(elem: DataElement | RawDataElement) -> str:
    """The VR of an element, from the data dictionary when the encoding was implicit."""
    vr = elem.VR
    if vr and vr != "UN":
        return str(vr)
    try:
        return str(dictionary_VR(elem.tag))
    except KeyError:
        return "UN"


def element_text(
    ds: Dataset,
    tag: int,
    elem: DataElement | RawDataElement,
    vr: str,
    encodings: tuple[str, ...],
) -> str:
    """Decoded (not yet normalized) text of one element; raw bytes are decoded directly."""
    if isinstance(elem, RawDataElement):
        raw = elem.value
        if raw is None:
            return ""
        if isinstance(raw, bytes):
            return decode_raw(raw, vr, encodings)
    return value_text(ds[tag].value)


def _strip_value(vr: str, text: str) -> str:
    if vr in _STRIP_BOTH_VRS:
        return text.strip(" \x00") if vr == "UI" else text.strip(" ")
    return text.rstrip(" \x00")


def normalize_pn(text: str) -> str:
    """PS3.5 6.2.1: drop trailing empty components and component groups of a name."""
    groups = [group.rstrip(" ").rstrip("^").rstrip(" ") for group in text.split("=")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def normalize(vr: str, text: str) -> str:
    """Remove insignificant padding per value (PS3.5 6.2, 6.4) and NFC-normalize."""
    if not text:
        return text
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if "\\" in text and vr not in SINGLE_VALUED_VRS:
        parts: Iterable[str] = (_strip_value(vr, part) for part in text.split("\\"))
        if vr == "PN":
            parts = (normalize_pn(part) for part in parts)
        return "\\".join(parts)
    text = _strip_value(vr, text)
    return normalize_pn(text) if vr == "PN" else text
