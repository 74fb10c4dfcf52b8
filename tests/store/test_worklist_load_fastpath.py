"""The fast load paths give exactly what the general paths give.

* ``Reader.dataset`` parses Little Endian leaf elements inline (8-byte headers); with the
  slow twin (tests/dicom/plain_reader.py) every element goes through ``Reader.element``.
* ``decode_record`` decodes ASCII values without ESC directly; its slow twin
  ``record_from_dataset`` decodes the pydicom data set (PS3.5 6.1.2.5).
* ``WorklistIndex`` is built column by column; the reference below adds one record at a
  time, as the index did before.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.reader import Interner, Reader, parse_file_bytes
from aiodicom.dicom.values import decode_record
from aiodicom.errors import DataError
from aiodicom.matching.model import Record
from aiodicom.matching.records import record_from_dataset
from aiodicom.store.worklist_index import (
    PATIENT_NAME,
    SPS_EXACT,
    SPS_SEQUENCE,
    SPS_START_DATE,
    TOP_EXACT,
    WorklistIndex,
    normalize,
)
from aiodicom.worklist.sample import SampleOptions, make_item
from tests.dicom.plain_reader import PlainReader, read_dataset
from tests.expected_warnings import PYDICOM_INVALID_INPUT

pytestmark = PYDICOM_INVALID_INPUT  # hypothesis feeds invalid values on purpose

SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2")
CHARSETS = ("", "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 6\\ISO 2022 IR 87", "GB18030")
EXTRA_TAGS = ((0x00081050, "PN"), (0x001021B0, "LT"), (0x00102160, "SH"))
TEXTS = ("DOE^JOHN", "Müller", "山田^太郎", "A\\B", "  padded  ", "", "x\x1b$Bx", "ABC ")


def _item(seed: int, charset: str, extras: list[str]) -> Dataset:
    """A sample worklist item (PS3.4 K.6) plus odd elements the fast path must pass on."""
    rng = random.Random(seed)
    ds = make_item(rng, seed, SampleOptions(max_steps=3))
    if charset:
        ds.SpecificCharacterSet = charset.split("\\")
    elif "SpecificCharacterSet" in ds:
        del ds.SpecificCharacterSet
    ds.add_new(0x00080000, "UL", 0)  # group length: never in a Record (PS3.5 7.2)
    ds.add_new(0x00091010, "LO", "private")  # UN when read back from implicit VR
    ds.add_new(0x00280010, "US", rng.randrange(65536))
    ds.add_new(0x00420011, "OB", bytes(rng.randrange(256) for _ in range(6)))
    for (tag, vr), text in zip(EXTRA_TAGS, extras, strict=False):
        ds.add_new(tag, vr, text)
    ds.OtherPatientIDs = ["ID1", "ID2"]
    return ds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    charset=st.sampled_from(CHARSETS),
    syntax=st.sampled_from(SYNTAXES),
    extras=st.lists(st.sampled_from(TEXTS), max_size=3),
    shared=st.booleans(),
)
def test_fast_parse_equals_general_parse(
    seed: int, charset: str, syntax: str, extras: list[str], shared: bool
) -> None:
    data = encode_identifier(_item(seed, charset, extras), syntax)
    interner = Interner() if shared else None
    fast = parse_file_bytes(data, "fast.wl", interner)
    fast_again = parse_file_bytes(data, "fast.wl", interner)  # warm header/intern tables
    general = read_dataset(data, syntax, PlainReader)
    assert fast == general == fast_again
    assert list(_tags(fast)) == list(_tags(general))  # same element order too
    try:
        slow_record = record_from_dataset(decode_identifier(data, syntax))
    except DataError:  # pydicom refuses the broken ISO 2022 escape among TEXTS
        assume(False)
        return
    assert decode_record(fast, interner=interner) == slow_record


def _tags(raw: Any) -> list[object]:
    found: list[object] = []
    for tag, (vr, value) in raw.items():
        found.append((tag, vr))
        if isinstance(value, tuple):
            found.append([_tags(item) for item in value])
    return found


@pytest.mark.parametrize("syntax", SYNTAXES[:2])
def test_truncated_files_fail_as_in_the_general_path(syntax: str) -> None:
    data = encode_identifier(_item(3, "", []), syntax)
    for cut in range(1, len(data) - 1):
        cut_data = data[:cut]
        assert _outcome(cut_data, syntax, Reader) == _outcome(cut_data, syntax, PlainReader)


def _outcome(data: bytes, syntax: str, kind: type[Reader]) -> object:
    try:
        return read_dataset(data, syntax, kind)
    except DataError as exc:
        return exc.reason


def _reference_index(records: list[Record]) -> dict[str, Any]:
    """The index contents built one record at a time (the previous build path)."""
    exact: dict[int, tuple[dict[str, list[int]], list[int]]] = {
        tag: ({}, []) for tag in TOP_EXACT + SPS_EXACT
    }
    dates: list[tuple[str, int]] = []
    names: list[tuple[str, int]] = []
    always: dict[str, list[int]] = {"dates": [], "names": []}
    for record_id, record in enumerate(records):
        raw_steps = record.get(SPS_SEQUENCE)
        steps = raw_steps if isinstance(raw_steps, tuple) else ()
        for tag in TOP_EXACT + SPS_EXACT:
            source = [record] if tag in TOP_EXACT else list(steps)
            values = [item.get(tag) for item in source]
            by_value, ids = exact[tag]
            keys: set[str] = set()
            unknown = False
            for value in values:
                if not isinstance(value, str) or not value:
                    unknown = True
                    continue
                keys.add(normalize(value))
                if "\\" in value:
                    keys.update(normalize(part) for part in value.split("\\"))
            if unknown or not keys:
                ids.append(record_id)
            for key in keys:
                by_value.setdefault(key, []).append(record_id)
        found = {s.get(SPS_START_DATE) for s in steps}
        good = {d for d in found if isinstance(d, str) and len(d) == 8 and d.isdigit()}
        if not steps or good != found:
            always["dates"].append(record_id)
        dates.extend((date, record_id) for date in good)
        name = record.get(PATIENT_NAME)
        if isinstance(name, str) and name.strip():
            names.append((normalize(name), record_id))
        else:
            always["names"].append(record_id)
    return {"exact": exact, "dates": sorted(dates), "names": sorted(names), "always": always}


def _contents(index: WorklistIndex) -> dict[str, Any]:
    return {
        "exact": {tag: (e.by_value, e.always) for tag, e in index.exact.items()},
        "dates": index.dates.pairs,
        "names": index.names.pairs,
        "always": {"dates": index.dates.always, "names": index.names.always},
    }


VALUES = ["P1", "p1 ", "A\\B", "", "ct", "CT", "MR", "Müller^Jürgen", "DOE^JOHN", " "]
DATES = ["20261125", "20261126", "2026.11.25", "", "20261125 "]


def _record(rng: random.Random) -> Record:
    record: dict[int, Any] = {}
    for tag in (*TOP_EXACT, PATIENT_NAME):
        if rng.random() < 0.8:
            record[tag] = rng.choice(VALUES)
    if rng.random() < 0.9:
        steps = []
        for _ in range(rng.randrange(4)):
            step = {tag: rng.choice(VALUES) for tag in SPS_EXACT if rng.random() < 0.8}
            if rng.random() < 0.8:
                step[SPS_START_DATE] = rng.choice(DATES)
            steps.append(step)
        record[SPS_SEQUENCE] = tuple(steps) if rng.random() < 0.95 else "not a sequence"
    return record


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1_000_000), size=st.integers(0, 60))
def test_index_build_equals_record_by_record_build(seed: int, size: int) -> None:
    rng = random.Random(seed)
    records = [_record(rng) for _ in range(size)]
    assert _contents(WorklistIndex(records)) == _reference_index(records)
