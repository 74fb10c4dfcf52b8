"""The fast index build gives the same index as the pydicom path (issue 6 follow-up).

* :mod:`aiodicom.store.qr_header` must produce exactly the entities pydicom + re-encoding
  produce (byte-identical blobs and column values), or decline (``None``) so that the
  caller falls back to pydicom;
* a bulk load (no secondary indexes, one refresh at the end) must leave the same rows as
  the incremental, per-batch path.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread

from aiodicom.errors import DataError
from aiodicom.store import open_qr_store
from aiodicom.store.qr_files import index_dataset, parse_file, walk_folder
from aiodicom.store.qr_header import index_elements, read_elements
from aiodicom.store.qr_index import QRIndex
from aiodicom.store.qr_model import Level
from aiodicom.store.qr_store import IndexedFile
from aiodicom.testing.qr_sample import SampleShape, write_sample
from tests.expected_warnings import PYDICOM_INVALID_INPUT
from tests.qr.helpers import index_rows

pytestmark = PYDICOM_INVALID_INPUT  # hypothesis feeds invalid values on purpose

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "qr-data"
SHAPE = SampleShape(8, 2, 2, 2, seed=11)  # has a latin-1 name (ISO_IR 100)

STUDY_UID, SERIES_UID, SOP_UID = 0x0020000D, 0x0020000E, 0x00080018
TEST_TAGS = {  # VR -> a tag of that VR, spread over the four entities
    "LO": 0x00081030,
    "SH": 0x00080050,
    "CS": 0x00080060,
    "PN": 0x00100010,
    "DS": 0x00101030,
    "IS": 0x00200013,
    "DA": 0x00080020,
    "TM": 0x00080030,
    "UI": 0x00080016,
    "LT": 0x00204000,
    "US": 0x00280010,
}


def _element(tag: int, vr: str, value: bytes) -> bytes:
    """PS3.5 7.1.2 Explicit VR Little Endian element."""
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "SQ", "UT", "UN"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def _part10(
    elements: list[tuple[int, str, bytes]], syntax: bytes = b"1.2.840.10008.1.2.1\0"
) -> bytes:
    """A PS3.10 file: preamble, DICM, meta group, then ``elements`` as given."""
    meta = _element(0x00020010, "UI", syntax)
    meta = _element(0x00020000, "UL", struct.pack("<I", len(meta))) + meta
    body = b"".join(_element(tag, vr, value) for tag, vr, value in elements)
    return b"\0" * 128 + b"DICM" + meta + body


def _base(extra: list[tuple[int, str, bytes]]) -> list[tuple[int, str, bytes]]:
    elements = [
        (SOP_UID, "UI", b"1.2.3.4\0"),
        (0x00100020, "LO", b"PID1"),
        (STUDY_UID, "UI", b"1.2.3\0"),
        (SERIES_UID, "UI", b"1.2.3.4\0"),
        *extra,
    ]
    return sorted(elements)


def _both(path: Path) -> tuple[IndexedFile | None, IndexedFile]:
    """(fast path result or None, pydicom path result) for one file."""
    header = read_elements(path.read_bytes())
    fast = None if header is None else index_elements(header, str(path), 0, 0, None)
    slow = index_dataset(dcmread(path, stop_before_pixels=True, force=True), str(path))
    return fast, slow


def test_fast_path_matches_pydicom_on_samples(tmp_path: Path) -> None:
    write_sample(tmp_path, SHAPE, time_limit=60)
    paths = [Path(p) for p, _, _ in walk_folder(SAMPLE, frozenset())]
    paths += [Path(p) for p, _, _ in walk_folder(tmp_path, frozenset())]
    assert len(paths) == 32 + SHAPE.total_instances
    latin1 = 0
    for path in paths:
        fast, slow = _both(path)
        assert fast is not None, path  # these simple files must take the fast path
        assert fast == slow, path
        latin1 += any(b > 0x7F for b in fast.entities[Level.PATIENT].blob)
    assert latin1 > 0  # non-ASCII ISO_IR 100 names were covered


@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("LO", b"AB  "),  # two pad spaces: pydicom writes "AB"
        ("UI", b"1.2 "),  # UI padded with a space instead of NUL
        ("DS", b" 1.5"),  # leading blank in a number
        ("IS", b"+3"),
        ("LO", b"M\xfcller"),  # non-ASCII without Specific Character Set
        ("LO", b"A\x1b$B"),  # ISO 2022 escape
        ("US", b"\x01\x00\x02"),  # not whole 16-bit units
    ],
)
def test_irregular_values_fall_back_to_pydicom(tmp_path: Path, vr: str, value: bytes) -> None:
    path = tmp_path / "f.dcm"
    path.write_bytes(_part10(_base([(TEST_TAGS[vr], vr, value)])))
    assert read_elements(path.read_bytes()) is None
    try:
        expected = index_dataset(
            dcmread(path, stop_before_pixels=True, force=True), str(path), *_stamp(path)
        )
    except Exception:  # pydicom refuses it (e.g. US of 3 bytes): the file stays skipped
        with pytest.raises(DataError):
            parse_file(str(path))
        return
    assert parse_file(str(path)) == expected


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def test_structures_the_fast_path_declines(tmp_path: Path) -> None:
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0)  # one empty item (PS3.5 7.5)
    cases = {
        "sequence": _part10(_base([(0x00081110, "SQ", item)])),
        "implicit": _part10(_base([]), syntax=b"1.2.840.10008.1.2\0"),
        "order": _part10(list(reversed(_base([])))),
        "no-dicm": b"\0" * 132 + _element(0x00080018, "UI", b"1.2\0"),
    }
    for name, data in cases.items():
        assert read_elements(data) is None, name
    assert read_elements(_part10(_base([]))) is not None  # the same, regular: fast path
    # stops at Pixel Data: what follows is never looked at
    pixels = _part10(_base([(0x7FE00010, "OB", b"\xff" * 64)])) + b"garbage"
    header = read_elements(pixels)
    assert header is not None
    assert 0x7FE00010 not in header[0]


_TEXT = st.text(alphabet=" \\^=.-+0123456789AZaz\u00e9\x00\t", max_size=9)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    vr=st.sampled_from(sorted(TEST_TAGS)),
    text=_TEXT,
    charset=st.sampled_from([None, b"ISO_IR 100", b"ISO_IR 192"]),
)
def test_fast_path_is_exact_or_declines(
    tmp_path: Path, vr: str, text: str, charset: bytes | None
) -> None:
    """Property: for any value, the fast path equals pydicom's result or returns None."""
    value = text.encode("utf-8" if charset == b"ISO_IR 192" else "latin-1")
    extra = [(TEST_TAGS[vr], vr, value)]
    if charset is not None:
        extra.append((0x00080005, "CS", charset))
    path = tmp_path / "p.dcm"
    path.write_bytes(_part10(_base(extra)))
    header = read_elements(path.read_bytes())
    if header is not None:
        fast, slow = _both(path)
        assert fast == slow, (vr, value, charset)


def _dump(db: str | Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every entity table, ids replaced by the parent's UID."""
    queries = {
        "patient": "SELECT uid, n_studies, n_series, n_instances, k_00100010, attrs FROM patient",
        "study": "SELECT s.uid, p.uid, s.n_series, s.n_instances, s.modalities, s.sop_classes, "
        "s.k_00080020, s.attrs FROM study s JOIN patient p ON s.patient_ref = p.id",
        "series": "SELECT se.uid, st.uid, se.n_instances, se.k_00080060, se.attrs "
        "FROM series se JOIN study st ON se.study_ref = st.id",
        "instance": "SELECT i.uid, se.uid, i.path, i.mtime_ns, i.size, i.k_00200013, i.attrs "
        "FROM instance i JOIN series se ON i.series_ref = se.id",
    }
    return {name: sorted(index_rows(db, sql), key=repr) for name, sql in queries.items()}


async def test_bulk_build_gives_the_same_rows_as_pydicom_batches(
    tmp_path: Path, qr_index_factory: Callable[[], str | Path], qr_backend: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data / "sample")
    write_sample(data / "generated", SHAPE, time_limit=60)
    first = next(iter(sorted((data / "sample").rglob("*.dcm"))))
    shutil.copy(first, data / "duplicate.dcm")  # same SOP Instance UID: skipped
    (data / "junk.dcm").write_bytes(b"not dicom")

    reference_index, fast_index = qr_index_factory(), qr_index_factory()
    reference = open_qr_store(reference_index)
    try:  # the former way: pydicom for every file, small batches, per-batch refresh
        files, duplicates = [], []
        for path, _mtime, _size in walk_folder(data, frozenset()):  # the indexer's order
            if path.endswith("junk.dcm"):
                continue
            ds = dcmread(path, stop_before_pixels=True, force=True)
            files.append(index_dataset(ds, path, *_stamp(Path(path))))
        for start in range(0, len(files), 7):
            duplicates += reference.apply(files[start : start + 7], [])
        assert len(duplicates) == 1
    finally:
        reference.close()

    fast = open_qr_store(fast_index)
    try:
        report = await QRIndex(data, fast, workers=1, bulk_threshold=10).scan()
        assert report.skipped == 2  # the duplicate and the junk file
        assert not fast.begin_bulk()  # not empty any more: no second bulk load
    finally:
        fast.close()
    expected, got = _dump(reference_index), _dump(fast_index)
    assert len(got["instance"]) == 32 + SHAPE.total_instances
    assert got == expected
    catalog = (
        "SELECT name FROM sqlite_master WHERE type='index'"
        if qr_backend == "sqlite"
        else "SELECT indexname FROM pg_indexes"
    )
    indexes = {row[0] for row in index_rows(fast_index, catalog)}
    assert {"instance_series_ref", "study_k_00080020", "series_k_00080060"} <= indexes
