"""Response identifiers (PS3.4 C.2.2.3, C.4.1.1.3.2) and unsupported keys (0xFF01)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from aiodicom.matching import (
    MatchResult,
    compile_query,
    has_unsupported_keys,
    project,
    record_from_dataset,
    unsupported_keys,
)
from tests.matching.helpers import dataset, wire


def respond(query: Dataset, item: Dataset) -> Dataset:
    """Match the wire form of ``item`` and project the response from it."""
    stored = wire(item)
    result = compile_query(wire(query)).match(record_from_dataset(stored))
    assert result is not None
    return wire(project(query, stored, result))  # the response must encode


def test_response_holds_exactly_the_requested_keys() -> None:
    item = dataset(PatientName="Doe^John", PatientID="P1", PatientSex="M", AccessionNumber="A1")
    query = dataset(PatientName="Doe*", PatientID="", PatientWeight="")
    response = respond(query, item)
    assert list(response.keys()) == [0x00100010, 0x00100020, 0x00101030]
    assert response.PatientName == "Doe^John"
    assert response.PatientID == "P1"
    assert response.PatientWeight is None  # requested, absent: zero length
    assert "SpecificCharacterSet" not in response  # ASCII only, not asked


def test_query_retrieve_level_is_echoed_not_matched() -> None:
    query = dataset(QueryRetrieveLevel="STUDY", StudyInstanceUID="")
    item = dataset(StudyInstanceUID="1.2.3")
    response = respond(query, item)
    assert response.QueryRetrieveLevel == "STUDY"
    assert response.StudyInstanceUID == "1.2.3"


def test_missing_sequence_comes_back_empty() -> None:
    query = dataset(PatientID="", ReferencedStudySequence=[])
    response = respond(query, dataset(PatientID="P1"))
    assert len(response.ReferencedStudySequence) == 0


def test_item_character_set_is_kept_when_it_holds_the_text() -> None:
    item = dataset(SpecificCharacterSet="ISO_IR 100", PatientName="Müller^Hans")
    response = respond(dataset(SpecificCharacterSet="ISO_IR 192", PatientName=""), item)
    assert response.SpecificCharacterSet == "ISO_IR 100"
    assert response.PatientName == "Müller^Hans"


def test_utf8_is_used_when_the_item_charset_cannot_hold_the_text() -> None:
    item = dataset(PatientName="Müller^Hans")  # in memory, no (0008,0005)
    result = compile_query(dataset(PatientName="")).match(record_from_dataset(item))
    assert result is not None
    response = project(dataset(PatientName=""), item, result)
    assert response.SpecificCharacterSet == "ISO_IR 192"
    mislabeled = dataset(SpecificCharacterSet="ISO_IR 100", PatientName="山田^太郎")
    response = project(dataset(PatientName=""), mislabeled, MatchResult())
    assert response.SpecificCharacterSet == "ISO_IR 192"
    assert wire(response).PatientName == "山田^太郎"


def test_character_set_is_returned_when_asked() -> None:
    query = dataset(SpecificCharacterSet="ISO_IR 100", PatientID="")
    response = respond(query, dataset(SpecificCharacterSet="ISO_IR 100", PatientID="P1"))
    assert response.SpecificCharacterSet == "ISO_IR 100"


def test_japanese_item_response_keeps_iso_2022() -> None:
    item = dataset(
        SpecificCharacterSet=["", "ISO 2022 IR 87"],
        PatientName="Yamada^Tarou=山田^太郎=やまだ^たろう",
    )
    response = respond(dataset(SpecificCharacterSet="ISO_IR 192", PatientName="山田*"), item)
    assert response.SpecificCharacterSet == ["", "ISO 2022 IR 87"]
    assert str(response.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_unsupported_keys_are_reported_with_paths() -> None:
    query = dataset(
        SpecificCharacterSet="ISO_IR 100",
        PatientID="",
        PatientWeight="",
        ScheduledProcedureStepSequence=[
            dataset(Modality="CT", CommentsOnTheScheduledProcedureStep="")
        ],
    )
    supported = {0x00100020, 0x00400100, 0x00080060}
    assert unsupported_keys(query, supported) == ((0x00101030,), (0x00400100, 0x00400400))
    assert has_unsupported_keys(query, supported)
    assert not has_unsupported_keys(query, supported | {0x00101030, 0x00400400})
