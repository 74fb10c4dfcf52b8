"""-k override keys: every syntax DCMTK findscu accepts, overrides on a query file, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from aiodicom.errors import ConfigError, DataError
from clients.findscu.keys import build_query, load_query_file, parse_key, parse_keys


def query(*keys: str, base: Dataset | None = None) -> Dataset:
    return build_query(base, parse_keys(keys))


@pytest.mark.parametrize(
    "text",
    ["0010,0010=DOE*", "(0010,0010)=DOE*", "PatientName=DOE*", " PatientName =DOE*"],
)
def test_simple_forms_set_patient_name(text: str) -> None:
    ds = query(text)
    assert ds.PatientName == "DOE*"
    assert ds["PatientName"].VR == "PN"


def test_lowercase_hex_tag() -> None:
    ds = query("(0020,000d)=1.2.3")
    assert ds.StudyInstanceUID == "1.2.3"


@pytest.mark.parametrize("text", ["PatientID", "PatientID=", "(0010,0020)", "0010,0020="])
def test_key_without_value_is_zero_length_return_key(text: str) -> None:
    ds = query(text)
    assert "PatientID" in ds
    assert ds.PatientID in (None, "")


def test_sequence_path_with_tag_numbers() -> None:
    ds = query("(0040,0100)[0].Modality=CT")
    assert ds.ScheduledProcedureStepSequence[0].Modality == "CT"
    assert len(ds.ScheduledProcedureStepSequence) == 1


def test_sequence_path_with_keywords_and_return_key() -> None:
    ds = query(
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=",
        "ScheduledProcedureStepSequence[0].Modality=MR",
    )
    item = ds.ScheduledProcedureStepSequence[0]
    assert item.Modality == "MR"
    assert "ScheduledStationAETitle" in item
    assert item.ScheduledStationAETitle in (None, "")


def test_item_index_creates_missing_items() -> None:
    ds = query("(0040,0100)[2].Modality=US")
    items = ds.ScheduledProcedureStepSequence
    assert len(items) == 3
    assert items[2].Modality == "US"
    assert "Modality" not in items[0]


def test_nested_sequence_path() -> None:
    ds = query("ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0].CodeValue=X1")
    code = ds.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0]
    assert code.CodeValue == "X1"


def test_sequence_without_index_is_empty_sequence() -> None:
    ds = query("ReferencedStudySequence")
    assert ds["ReferencedStudySequence"].VR == "SQ"
    assert len(ds.ReferencedStudySequence) == 0


def test_empty_item_request() -> None:
    ds = query("ScheduledProcedureStepSequence[0]")
    assert len(ds.ScheduledProcedureStepSequence) == 1
    assert len(ds.ScheduledProcedureStepSequence[0]) == 0


def test_numeric_vr_value_is_converted() -> None:
    ds = query("Rows=512", "SeriesNumber=7")
    assert ds.Rows == 512
    assert ds.SeriesNumber == 7


def test_multi_value_and_range_values_kept_verbatim() -> None:
    ds = query("ModalitiesInStudy=CT\\MR", "StudyDate=20260101-20261231")
    assert list(ds.ModalitiesInStudy) == ["CT", "MR"]
    assert ds.StudyDate == "20260101-20261231"


def test_value_may_contain_equals_sign() -> None:
    assert query("PatientComments=a=b").PatientComments == "a=b"


def test_later_key_overrides_earlier() -> None:
    ds = query("PatientName=A*", "PatientName=B*")
    assert ds.PatientName == "B*"


def _write_query_file(path: Path) -> Path:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = "FROM^FILE"
    ds.StudyDate = ""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=False)
    return path


def test_overrides_replace_and_insert_on_top_of_query_file(tmp_path: Path) -> None:
    base = load_query_file(_write_query_file(tmp_path / "q.dcm"))
    ds = query("PatientName=OVER*", "PatientID=", "(0040,0100)[0].Modality=CT", base=base)
    assert ds.PatientName == "OVER*"  # replaced
    assert "PatientID" in ds  # inserted
    assert ds.QueryRetrieveLevel == "STUDY"  # kept from file
    assert ds.ScheduledProcedureStepSequence[0].Modality == "CT"
    assert base.PatientName == "FROM^FILE"  # the base query itself is untouched
    assert "PatientID" not in base


def test_query_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_query_file(tmp_path / "missing.dcm")
    assert "missing.dcm" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Foo=1", "'Foo'"),
        ("=x", "before '='"),
        ("(0010,0010)[0].Modality=CT", "sequence"),
        ("ScheduledProcedureStepSequence.Modality=CT", "item index"),
        ("ScheduledProcedureStepSequence=CT", "no value"),
        ("(00XX,0010)=a", "00XX"),
        ("PatientName[a]=x", "path step"),
    ],
)
def test_bad_keys_name_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_key(text)
    message = str(info.value)
    assert f"-k {text!r}" in message
    assert fragment in message


def test_bad_number_names_the_key() -> None:
    with pytest.raises(ConfigError, match="Rows=abc"):
        query("Rows=abc")
