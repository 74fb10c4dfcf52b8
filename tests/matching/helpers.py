"""Builders shared by the matching tests: data sets, wire round trips, quick matching."""

from __future__ import annotations

import io
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from aiodicom.matching import MatchOptions, MatchResult, compile_query, record_from_dataset


def dataset(**keywords: Any) -> Dataset:
    """A Dataset from keyword=value pairs; lists of Datasets become sequences."""
    ds = Dataset()
    for keyword, value in keywords.items():
        if isinstance(value, list) and all(isinstance(item, Dataset) for item in value):
            value = Sequence(value)
        setattr(ds, keyword, value)
    return ds


def wire(ds: Dataset, *, implicit: bool = False) -> Dataset:
    """Encode ``ds`` as on the wire and read it back (raw, unconverted elements)."""
    out = DicomBytesIO()
    out.is_little_endian = True
    out.is_implicit_VR = implicit
    write_dataset(out, ds)
    data = out.getvalue()
    return read_dataset(io.BytesIO(data), is_implicit_VR=implicit, is_little_endian=True)


def matches(
    query: Dataset,
    item: Dataset,
    options: MatchOptions | None = None,
    *,
    raw: bool = True,
) -> MatchResult | None:
    """Compile ``query`` and match it against ``item`` (wire-encoded both by default)."""
    if raw:
        query, item = wire(query), wire(item)
    return compile_query(query, options or MatchOptions()).match(record_from_dataset(item))


def hit(query: Dataset, item: Dataset, options: MatchOptions | None = None) -> bool:
    """True when ``query`` matches ``item``."""
    return matches(query, item, options) is not None


def raw_dataset(*elements: tuple[int, str, bytes]) -> Dataset:
    """A Dataset read from explicit VR little endian bytes of (tag, VR, value) triples.

    For values pydicom refuses to build in memory (e.g. a wild card in an IS key).
    """
    data = b""
    for tag, vr, value in elements:
        if len(value) % 2:
            value += b"\0" if vr == "UI" else b" "
        header = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
        data += header + vr.encode() + len(value).to_bytes(2, "little") + value
    return read_dataset(io.BytesIO(data), is_implicit_VR=False, is_little_endian=True)
