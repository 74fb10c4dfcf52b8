"""Build normalized :data:`Record` mappings from stored data sets (PS3.4 C.2.2.2).

``record_from_dataset`` is called once per stored entity at load time, so it decodes raw
(not yet converted) elements itself instead of going through pydicom's value conversion,
which costs about ten times more per element.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from aiodicom.errors import DataError
from aiodicom.matching.model import SPECIFIC_CHARACTER_SET, TEXT_VRS, Record
from aiodicom.matching.text import (
    DEFAULT_ENCODINGS,
    CharsetError,
    dataset_encodings,
    decode_raw,
    element_vr,
    normalize,
    value_text,
)

_BINARY_NUMERIC_VRS = frozenset({"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV", "AT"})
_MULTI_VRS_PREFIX = ("US or", "OB or", "OW or")


def record_from_dataset(ds: Dataset, _inherited: tuple[str, ...] = DEFAULT_ENCODINGS) -> Record:
    """Decode ``ds`` into a Record (PS3.4 C.2.2.2; PS3.5 6.1 character sets, 6.2 padding).

    Text is decoded with the data set's Specific Character Set (0008,0005) (items inherit
    the enclosing data set's), padding is removed per VR, SQ become tuples of Records.
    Binary VRs other than numbers (OB, OW, UN ...) are left out: they are never matched.
    Raises :class:`DataError` for an unsupported character set term.
    """
    try:
        encodings = dataset_encodings(ds, _inherited)
    except CharsetError as exc:
        raise DataError("Specific Character Set (0008,0005)", str(exc)) from exc
    record: dict[int, str | tuple[Record, ...]] = {}
    for tag, elem in ds.items():  # items(): no value conversion of raw elements
        tag_int = int(tag)
        if tag_int == SPECIFIC_CHARACTER_SET or not tag_int & 0xFFFF:
            continue
        vr = elem.VR
        if not vr or vr == "UN":
            vr = element_vr(elem)
        if vr in TEXT_VRS:
            value = elem.value
            if value.__class__ is bytes:
                text = decode_raw(value, vr, encodings)
            elif value is None:
                text = ""
            else:
                text = value_text(value)
            record[tag_int] = normalize(vr, text) if text else text
        elif vr == "SQ":
            items = ds[tag_int].value or ()
            record[tag_int] = tuple(record_from_dataset(item, encodings) for item in items)
        elif vr in _BINARY_NUMERIC_VRS or vr.startswith(_MULTI_VRS_PREFIX):
            record[tag_int] = normalize(vr, value_text(ds[tag_int].value))
    return record
