"""Universal, Single Value and Wild Card Matching (PS3.4 C.2.2.2.1, C.2.2.2.3, C.2.2.2.4)."""

from __future__ import annotations

import pytest

from aiodicom.errors import QueryError
from aiodicom.matching import MatchKind, MatchOptions, compile_query
from tests.matching.helpers import dataset, hit, raw_dataset

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

ITEM = dataset(
    SpecificCharacterSet="ISO_IR 192",
    PatientName="Müller^Hans",
    PatientID="PID1",
    Modality="CT",
    OtherPatientIDs="A1\\B2",
    NumberOfStudyRelatedSeries="03",
)


def test_universal_matching_matches_present_and_absent_attributes() -> None:
    query = dataset(PatientName="", PatientWeight="", AccessionNumber="")
    assert hit(query, ITEM)
    compiled = compile_query(query)
    assert compiled.matching_keys == ()
    assert compiled.return_keys == (0x00080050, 0x00100010, 0x00101030)


def test_single_value_is_exact_and_case_sensitive_for_lo() -> None:
    assert hit(dataset(PatientID="PID1"), ITEM)
    assert not hit(dataset(PatientID="PID2"), ITEM)
    assert not hit(dataset(PatientID="pid1"), ITEM)
    assert not hit(dataset(PatientID="PID"), ITEM)


def test_single_value_ignores_insignificant_padding() -> None:
    # PS3.5 6.2: LO leading and trailing spaces are not significant.
    assert hit(dataset(PatientID="PID1"), dataset(PatientID="  PID1 "))
    assert hit(dataset(PatientID=" PID1  "), dataset(PatientID="PID1"))


def test_non_universal_key_does_not_match_absent_attribute() -> None:
    assert not hit(dataset(AccessionNumber="A1"), ITEM)


def test_cs_is_case_sensitive() -> None:
    assert hit(dataset(Modality="CT"), ITEM)
    assert not hit(dataset(Modality="ct"), ITEM)


def test_numeric_single_value_compares_numbers() -> None:
    assert hit(dataset(NumberOfStudyRelatedSeries="3"), ITEM)
    assert not hit(dataset(NumberOfStudyRelatedSeries="4"), ITEM)


def test_stored_multi_valued_attribute_matches_any_value() -> None:
    # PS3.4 C.2.2.3: any of the entity's values may match.
    assert hit(dataset(OtherPatientIDs="B2"), ITEM)
    assert not hit(dataset(OtherPatientIDs="C3"), ITEM)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("Mü*", True),
        ("*Hans", True),
        ("M?ller^Hans", True),  # "?" is one character, not one byte
        ("M??ller^Hans", False),
        ("*ll*", True),
        ("M*r^H?ns", True),
        ("Mu*", False),
        ("Müller", False),  # Single Value Matching: whole value
        ("*", True),
    ],
)
def test_wildcards_on_person_name(pattern: str, expected: bool) -> None:
    query = dataset(SpecificCharacterSet="ISO_IR 100", PatientName=pattern)
    assert hit(query, ITEM) is expected


def test_wildcard_on_cs_and_regex_metacharacters_are_literal() -> None:
    assert hit(dataset(Modality="C?"), ITEM)
    assert hit(dataset(Modality="*T"), ITEM)
    assert not hit(dataset(Modality="C."), ITEM)
    assert hit(dataset(StudyDescription="a+b (x)*"), dataset(StudyDescription="a+b (x) y"))
    assert not hit(dataset(StudyDescription="a+b (x)*"), dataset(StudyDescription="aab (x) y"))


def test_star_is_universal_and_classified_so() -> None:
    compiled = compile_query(dataset(PatientName="*", Modality="**"))
    assert compiled.kind(0x00100010) is MatchKind.UNIVERSAL
    assert compiled.kind(0x00080060) is MatchKind.UNIVERSAL
    assert compiled.matching_keys == ()


def test_pn_is_case_insensitive_by_default_and_switchable() -> None:
    item = dataset(PatientName="DOE^JOHN")
    assert hit(dataset(PatientName="doe^john"), item)
    assert hit(dataset(PatientName="do?^J*"), item)
    strict = MatchOptions(pn_case_sensitive=True)
    assert not hit(dataset(PatientName="doe^john"), item, strict)
    assert hit(dataset(PatientName="DOE^JOHN"), item, strict)


def test_pn_trailing_empty_components_are_insignificant() -> None:
    assert hit(dataset(PatientName="Doe^John"), dataset(PatientName="Doe^John^^^"))
    assert hit(dataset(PatientName="Doe^John^^"), dataset(PatientName="Doe^John"))


def test_fuzzy_pn_ignores_accents() -> None:
    fuzzy = MatchOptions(fuzzy_pn=True)
    assert hit(dataset(PatientName="muller^hans"), ITEM, fuzzy)
    assert not hit(dataset(PatientName="muller^hans"), ITEM)


@pytest.mark.parametrize(
    ("tag", "vr", "value", "keyword"),
    [
        (0x00080020, "DA", b"2024*", "StudyDate"),
        (0x00080030, "TM", b"10?0", "StudyTime"),
        (0x0020000D, "UI", b"1.2.*", "StudyInstanceUID"),
        (0x00201206, "IS", b"1?", "NumberOfStudyRelatedSeries"),
    ],
)
def test_wildcards_outside_the_allowed_vrs_are_refused(
    tag: int, vr: str, value: bytes, keyword: str
) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(raw_dataset((tag, vr, value)))
    assert caught.value.status == 0xA900
    assert caught.value.comment is not None
    assert keyword in caught.value.comment


def test_classification_for_planners() -> None:
    compiled = compile_query(
        dataset(PatientID="P1", PatientName="Do*", StudyInstanceUID="1.2\\1.3", StudyDate="")
    )
    assert compiled.kind(0x00100020) is MatchKind.SINGLE
    assert compiled.keys[0x00100020].values == ("P1",)
    assert compiled.kind(0x00100010) is MatchKind.WILDCARD
    assert compiled.kind(0x0020000D) is MatchKind.UID_LIST
    assert compiled.keys[0x0020000D].values == ("1.2", "1.3")
    assert compiled.kind(0x00080020) is MatchKind.UNIVERSAL
    assert compiled.matching_keys == (0x00100010, 0x00100020, 0x0020000D)
