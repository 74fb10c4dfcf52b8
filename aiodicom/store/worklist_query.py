"""C-FIND identifiers as raw elements for the worklist service (PS3.5 7.1, 7.5; PS3.4 K.6).

The worklist files' own reader (:mod:`aiodicom.store.worklist_parse`) also reads query
identifiers: a typical MWL identifier parses in a few microseconds into
``tag -> (VR, value bytes | items)``, against about a hundred for a pydicom Dataset. The
service compiles that with :func:`aiodicom.matching.raw.compile_raw`; anything this reader
refuses (Big Endian, a malformed or unusual identifier) goes the Dataset way, which gives
the precise error. :func:`scan_identifier` (:mod:`aiodicom.store.worklist_scan`) reads the
same elements and, in the same walk, a key naming their shape.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeAlias

from aiodicom.codec import IDENTIFIER
from aiodicom.errors import DataError
from aiodicom.store.worklist_parse import Interner, MutableRaw, RawDataset, _Reader
from aiodicom.store.worklist_scan import little_endian_body, scan_identifier, vr_is_certain

__all__ = [
    "Shape",
    "has_query_level",
    "parse_identifier",
    "raw_shape",
    "scan_identifier",
    "strip_raw",
]

QUERY_RETRIEVE_LEVEL = 0x00080052

Shape: TypeAlias = tuple[tuple[int, str, tuple["Shape", ...] | None], ...]
"""Tags, VRs and sequence item shapes of an identifier, in order; values left out."""


def parse_identifier(data: bytes, transfer_syntax: str) -> RawDataset | None:
    """Raw elements of an identifier in a Little Endian transfer syntax (PS3.5 A.1, A.2,
    A.5), or None when this reader cannot take it (the caller then decodes a Dataset)."""
    try:
        body = little_endian_body(data, transfer_syntax)
        if body is None:
            return None
        data, explicit = body
        reader = _Reader(data, IDENTIFIER, explicit=explicit, little=True, interner=Interner())
        elements, _ = reader.dataset(0, len(data))
    except DataError:
        return None
    return elements


def raw_shape(raw: RawDataset) -> Shape | None:
    """The :data:`Shape` of raw elements; None when a VR is unknown or not certain.

    Identifiers of one shape have the same unsupported keys (PS3.4 K.4.1.1.4) and the same
    response plan (C.2.2.1.3), so the service analyses each shape once.
    """
    shape: list[tuple[int, str, tuple[Shape, ...] | None]] = []
    for tag, (vr, value) in raw.items():
        if vr == "UN" or not vr_is_certain(tag):
            return None
        items: tuple[Shape, ...] | None = None
        if isinstance(value, tuple):
            nested = [raw_shape(item) for item in value]
            if any(item is None for item in nested):
                return None
            items = tuple(item for item in nested if item is not None)
        shape.append((tag, vr, items))
    return tuple(shape)


def has_query_level(raw: RawDataset) -> bool:
    """True when the identifier carries Query/Retrieve Level (0008,0052): not MWL (K.6.1.1)."""
    return QUERY_RETRIEVE_LEVEL in raw


def strip_raw(raw: RawDataset, paths: Collection[tuple[int, ...]]) -> RawDataset:
    """A copy of ``raw`` without the given (possibly nested) key paths."""
    drop = {path[0] for path in paths if len(path) == 1}
    out: MutableRaw = {}
    for tag, (vr, value) in raw.items():
        if tag in drop:
            continue
        nested = [path[1:] for path in paths if len(path) > 1 and path[0] == tag]
        if nested and isinstance(value, tuple):
            out[tag] = (vr, tuple(strip_raw(item, nested) for item in value))
        else:
            out[tag] = (vr, value)
    return out
