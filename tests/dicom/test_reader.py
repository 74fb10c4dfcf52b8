"""The reader's Part 10 and blob entry points agree with pydicom (PS3.10 7.1, PS3.5 7.1).

* :func:`read_file_meta` finds the Transfer Syntax UID pydicom reads from the File Meta
  Information and the offset where the data set starts, for files with and without meta.
* :func:`top_level_elements` gives, for every top-level element but sequences, the VR
  and value bytes pydicom reads raw from the same Explicit VR Little Endian bytes; the
  sequences are stepped over (defined or undefined length, PS3.5 7.5).
* Cut anywhere, a data set makes it either succeed or raise DataError, nothing else.
"""

from __future__ import annotations

from io import BytesIO

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from aiodicom.dicom.identifier import dataset_bytes
from aiodicom.dicom.reader import explicit_le_header, read_file_meta, top_level_elements
from aiodicom.dicom.syntax import EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE
from aiodicom.errors import DataError

TEXT = st.text(alphabet="ABCDEFGHIJ0123456789 ^", max_size=20)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """Small data sets: text, numbers, a long-VR value and an optional sequence."""
    ds = Dataset()
    if draw(st.booleans()):
        ds.PatientName = draw(TEXT)
    if draw(st.booleans()):
        ds.PatientID = draw(TEXT)
    if draw(st.booleans()):
        ds.AccessionNumber = draw(TEXT.map(lambda text: text[:16]))
    if draw(st.booleans()):
        ds.Rows = draw(st.integers(0, 65535))
    if draw(st.booleans()):
        ds.add_new(0x00091010, "OB", draw(st.binary(max_size=12)))
    if draw(st.booleans()):
        item = Dataset()
        item.Modality = draw(st.sampled_from(["CT", "MR", ""]))
        sequence = Sequence([item] * draw(st.integers(0, 2)))
        ds.ScheduledProcedureStepSequence = sequence
        ds["ScheduledProcedureStepSequence"].is_undefined_length = draw(st.booleans())
    if draw(st.booleans()):
        ds.StudyInstanceUID = "1.2.3." + str(draw(st.integers(0, 10**6)))
    return ds


@given(datasets())
@settings(max_examples=150, deadline=None)
def test_top_level_elements_match_pydicom(ds: Dataset) -> None:
    data = dataset_bytes(ds)
    found: dict[int, tuple[str, bytes]] = {}
    top_level_elements(data, frozenset(int(elem.tag) for elem in ds), found, "test")
    expected = {
        int(raw.tag): (str(raw.VR), bytes(raw.value or b""))
        for raw in (read_dataset(BytesIO(data), False, True).get_item(elem.tag) for elem in ds)
        if raw is not None and raw.VR != "SQ"
    }
    sequences = {tag for tag, (vr, _) in found.items() if vr == "SQ"}
    assert {tag: pair for tag, pair in found.items() if tag not in sequences} == expected
    for tag in sequences:  # only a defined-length sequence is kept, as its bytes
        assert not ds[tag].is_undefined_length


@given(datasets(), st.data())
@settings(max_examples=100, deadline=None)
def test_a_cut_data_set_raises_data_error_or_parses(ds: Dataset, data: st.DataObject) -> None:
    encoded = dataset_bytes(ds)
    cut = encoded[: data.draw(st.integers(0, len(encoded)))]
    try:
        top_level_elements(cut, frozenset(), {}, "test")
    except DataError as exc:
        assert exc.path == "test"


@given(datasets())
@settings(max_examples=50, deadline=None)
def test_explicit_le_header_reads_every_top_level_header(ds: Dataset) -> None:
    data = dataset_bytes(ds)
    offset, tags = 0, []
    while offset < len(data):
        tag, vr, length, start = explicit_le_header(data, offset)
        assert vr is not None
        tags.append(tag)
        if length == 0xFFFFFFFF:
            break  # a sequence of undefined length: the general reader steps over it
        offset = start + length
    assert tags == [int(elem.tag) for elem in ds][: len(tags)]


def _file(transfer_syntax: str) -> bytes:
    ds = Dataset()
    ds.PatientID = "PID1"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.31")
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.4")
    buffer = BytesIO()
    little = transfer_syntax != EXPLICIT_VR_BE
    ds.save_as(
        buffer,
        implicit_vr=transfer_syntax == IMPLICIT_VR_LE,
        little_endian=little,
        enforce_file_format=True,
    )
    return buffer.getvalue()


def test_read_file_meta_finds_syntax_and_data_set() -> None:
    for syntax in (IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE):
        data = _file(syntax)
        found, offset = read_file_meta(data, "file")
        assert found == syntax
        assert data[offset : offset + 2] == (
            b"\x00\x10" if syntax == EXPLICIT_VR_BE else b"\x10\x00"
        )
    bare = dataset_bytes(Dataset())  # no preamble, no meta: nothing to read
    assert read_file_meta(bare, "file") == ("", 0)


def test_read_file_meta_names_the_file_of_a_cut_header() -> None:
    data = _file(EXPLICIT_VR_LE)
    try:
        read_file_meta(data[:136], "cut.dcm")
    except DataError as exc:
        assert exc.path == "cut.dcm"
    else:
        raise AssertionError("a meta header cut in two must raise DataError")
