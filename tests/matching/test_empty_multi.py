"""Empty Value, Multiple Value and List of UID Matching (PS3.4 C.2.2.2.1.5, .2.8, .2.2)."""

from __future__ import annotations

import pytest

from aiodicom.errors import QueryError
from aiodicom.matching import MatchKind, MatchOptions, compile_query
from tests.matching.helpers import dataset, hit

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")


def test_empty_value_matching_selects_empty_or_absent_attributes() -> None:
    query = dataset(AccessionNumber='""')
    assert compile_query(query).kind(0x00080050) is MatchKind.EMPTY
    assert hit(query, dataset(AccessionNumber=""))
    assert hit(query, dataset(AccessionNumber="  "))  # only padding: zero length
    assert hit(query, dataset(PatientID="P1"))  # absent
    assert not hit(query, dataset(AccessionNumber="A1"))


def test_empty_value_matching_on_dates() -> None:
    query = dataset(PatientBirthDate='""')
    assert hit(query, dataset(PatientBirthDate=""))
    assert not hit(query, dataset(PatientBirthDate="19700101"))


def test_multiple_key_values_match_any_value_by_default() -> None:
    query = dataset(Modality="CT\\MR")
    assert hit(query, dataset(Modality="CT"))
    assert hit(query, dataset(Modality="MR"))
    assert not hit(query, dataset(Modality="US"))


def test_multiple_key_values_with_wildcards() -> None:
    query = dataset(PatientID="A*\\B?")
    assert hit(query, dataset(PatientID="A123"))
    assert hit(query, dataset(PatientID="B1"))
    assert not hit(query, dataset(PatientID="B12"))


def test_multiple_value_matching_and_semantics_when_negotiated() -> None:
    # PS3.4 C.2.2.2.8 note 1: CT\PT matches only studies with both a CT and a PT series.
    query = dataset(ModalitiesInStudy="CT\\PT")
    both = dataset(ModalitiesInStudy="PT\\SR\\CT")
    one = dataset(ModalitiesInStudy="CT\\MR")
    negotiated = MatchOptions(multi_value_and=True)
    assert hit(query, both, negotiated)
    assert not hit(query, one, negotiated)
    assert hit(query, one)  # default: any value


def test_list_of_uid_matching() -> None:
    query = dataset(StudyInstanceUID="1.2.3\\1.2.4\\1.2.5")
    compiled = compile_query(query)
    assert compiled.kind(0x0020000D) is MatchKind.UID_LIST
    assert hit(query, dataset(StudyInstanceUID="1.2.4"))
    assert not hit(query, dataset(StudyInstanceUID="1.2.6"))
    assert not hit(query, dataset(StudyInstanceUID="1.2.45"))


def test_single_uid_matching_ignores_nul_padding() -> None:
    assert hit(dataset(SOPInstanceUID="1.2.3"), dataset(SOPInstanceUID="1.2.3"))  # odd: padded


def test_malformed_uid_is_refused() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(dataset(StudyInstanceUID="1.2.x"))
    assert caught.value.status == 0xA900
