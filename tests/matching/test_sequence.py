"""Sequence Matching (PS3.4 C.2.2.2.6) and which items are returned."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from aiodicom.errors import QueryError
from aiodicom.matching import MatchKind, compile_query, explain, project, record_from_dataset
from tests.matching.helpers import dataset, matches, wire

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

SPS = 0x00400100
CODES = 0x00400008  # Scheduled Protocol Code Sequence


def step(modality: str, ae: str, *codes: str) -> Dataset:
    item = dataset(Modality=modality, ScheduledStationAETitle=ae, ScheduledProcedureStepID=ae)
    if codes:
        item.ScheduledProtocolCodeSequence = [
            dataset(CodeValue=code, CodingSchemeDesignator="99X") for code in codes
        ]
    return item


ITEM = dataset(
    PatientID="P1",
    ScheduledProcedureStepSequence=[
        step("CT", "CT1", "A", "B"),
        step("MR", "MR1", "B"),
        step("CT", "CT2", "C"),
    ],
)


def test_only_matching_items_are_reported_and_returned() -> None:
    query = dataset(
        ScheduledProcedureStepSequence=[dataset(Modality="CT", ScheduledStationAETitle="")]
    )
    result = matches(query, ITEM)
    assert result is not None
    assert result.sequence_items == {SPS: (0, 2)}
    response = project(query, ITEM, result)
    returned = response.ScheduledProcedureStepSequence
    assert [item.ScheduledStationAETitle for item in returned] == ["CT1", "CT2"]
    assert [set(item.keys()) for item in returned] == [{0x00080060, 0x00400001}] * 2


def test_all_item_keys_must_match_in_the_same_item() -> None:
    same = dataset(
        ScheduledProcedureStepSequence=[dataset(Modality="MR", ScheduledStationAETitle="MR1")]
    )
    mixed = dataset(
        ScheduledProcedureStepSequence=[dataset(Modality="MR", ScheduledStationAETitle="CT1")]
    )
    assert matches(same, ITEM) is not None
    assert matches(mixed, ITEM) is None


def test_empty_sequence_key_is_universal_and_returns_whole_items() -> None:
    query = dataset(PatientID="P1", ScheduledProcedureStepSequence=[])
    compiled = compile_query(query)
    assert compiled.kind(SPS) is MatchKind.UNIVERSAL
    result = matches(query, ITEM)
    assert result is not None
    response = project(query, ITEM, result)
    assert len(response.ScheduledProcedureStepSequence) == 3
    first = response.ScheduledProcedureStepSequence[0]
    assert first.ScheduledProcedureStepID == "CT1"
    assert len(first.ScheduledProtocolCodeSequence) == 2
    # a universal sequence key also matches entities without the sequence
    assert matches(query, dataset(PatientID="P1")) is not None


def test_item_of_universal_keys_returns_all_items_projected() -> None:
    query = dataset(
        ScheduledProcedureStepSequence=[dataset(Modality="", ScheduledProcedureStepID="")]
    )
    assert compile_query(query).kind(SPS) is MatchKind.UNIVERSAL
    result = matches(query, ITEM)
    assert result is not None
    returned = project(query, ITEM, result).ScheduledProcedureStepSequence
    assert [item.Modality for item in returned] == ["CT", "MR", "CT"]
    assert all(set(item.keys()) == {0x00080060, 0x00400009} for item in returned)


def test_nested_sequence_returns_matching_nested_items_only() -> None:
    codes = dataset(
        ScheduledProtocolCodeSequence=[dataset(CodeValue="B", CodingSchemeDesignator="")]
    )
    codes.ScheduledStationAETitle = ""
    query = dataset(ScheduledProcedureStepSequence=[codes])
    result = matches(query, ITEM)
    assert result is not None
    assert result.sequence_items == {SPS: (0, 1)}
    assert result.item_results[(SPS, 0)].sequence_items == {CODES: (1,)}
    returned = project(query, ITEM, result).ScheduledProcedureStepSequence
    assert [item.ScheduledStationAETitle for item in returned] == ["CT1", "MR1"]
    nested = [[code.CodeValue for code in item.ScheduledProtocolCodeSequence] for item in returned]
    assert nested == [["B"], ["B"]]


def test_sequence_key_against_missing_sequence_does_not_match() -> None:
    query = dataset(ScheduledProcedureStepSequence=[dataset(Modality="CT")])
    record = record_from_dataset(wire(dataset(PatientID="P1")))
    compiled = compile_query(query)
    assert compiled.match(record) is None
    assert explain(compiled, record) == "ScheduledProcedureStepSequence: no items"


def test_explain_names_the_nested_key() -> None:
    query = dataset(ScheduledProcedureStepSequence=[dataset(Modality="US")])
    record = record_from_dataset(wire(ITEM))
    assert (
        explain(query, record)
        == "ScheduledProcedureStepSequence>Modality: 'CT' does not match 'US'"
    )
    assert explain(dataset(ScheduledProcedureStepSequence=[dataset(Modality="MR")]), record) is None


def test_more_than_one_query_item_is_refused() -> None:
    query = dataset(ScheduledProcedureStepSequence=[dataset(Modality="CT"), dataset(Modality="MR")])
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert caught.value.status == 0xA900
    assert caught.value.comment is not None
    assert "ScheduledProcedureStepSequence (0040,0100)" in caught.value.comment


def test_invalid_nested_key_is_refused_naming_the_element() -> None:
    query = dataset(
        ScheduledProcedureStepSequence=[dataset(ScheduledProcedureStepStartDate="2024-13-01")]
    )
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert caught.value.comment is not None
    assert "ScheduledProcedureStepStartDate (0040,0002)" in caught.value.comment
