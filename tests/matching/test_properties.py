"""Property tests of the matching rules (PS3.4 C.2.2.2) with hypothesis."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aiodicom.matching import MatchOptions, compile_query, record_from_dataset
from tests.matching.helpers import dataset, hit, wire

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Letters (incl. non-ASCII), digits, inner spaces; never wild cards, "\", "^", "=" or '"'.
_CHARS = st.characters(
    whitelist_categories=("Lu", "Ll", "Nd"),
    whitelist_characters=" -._",
    max_codepoint=0x30FF,
)
WORD = st.text(_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
NAME = st.lists(WORD, min_size=1, max_size=3).map("^".join)
DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
TEXT_KEYWORDS = ("PatientID", "AccessionNumber", "StudyDescription", "InstitutionName")


def item_for(keyword: str, value: str) -> dict[str, str]:
    return {"SpecificCharacterSet": "ISO_IR 192", keyword: value}


@SETTINGS
@given(keyword=st.sampled_from(TEXT_KEYWORDS), value=WORD, name=NAME)
def test_universal_keys_always_match(keyword: str, value: str, name: str) -> None:
    item = dataset(**item_for(keyword, value), PatientName=name)
    query = dataset(**{keyword: "", "PatientName": "", "StudyDate": ""})
    assert hit(query, item)


@SETTINGS
@given(keyword=st.sampled_from(TEXT_KEYWORDS), value=WORD)
def test_own_value_always_matches(keyword: str, value: str) -> None:
    item = dataset(**item_for(keyword, value))
    assert hit(dataset(**item_for(keyword, value)), item)


@SETTINGS
@given(name=NAME)
def test_own_name_matches_in_any_case_unless_case_sensitive(name: str) -> None:
    assume(name.swapcase().casefold() == name.casefold())  # e.g. Turkish dotless i
    item = dataset(**item_for("PatientName", name))
    assert hit(dataset(**item_for("PatientName", name.swapcase())), item)
    strict = MatchOptions(pn_case_sensitive=True)
    assert hit(dataset(**item_for("PatientName", name)), item, strict)
    if name.swapcase() != name:
        assert not hit(dataset(**item_for("PatientName", name.swapcase())), item, strict)


@SETTINGS
@given(value=WORD, data=st.data())
def test_star_prefix_and_question_mark_match_own_value(value: str, data: st.DataObject) -> None:
    item = dataset(**item_for("StudyDescription", value))
    cut = data.draw(st.integers(min_value=0, max_value=len(value)))
    assert hit(dataset(**item_for("StudyDescription", value[:cut] + "*")), item)
    spot = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    masked = value[:spot] + "?" + value[spot + 1 :]
    assert hit(dataset(**item_for("StudyDescription", masked)), item)
    longer = value + "?"
    assert not hit(dataset(**item_for("StudyDescription", longer)), item)


@SETTINGS
@given(value=WORD)
def test_star_matches_any_non_empty_value(value: str) -> None:
    assert hit(dataset(StudyDescription="*"), dataset(**item_for("StudyDescription", value)))


@SETTINGS
@given(stored=DATES, low=DATES, high=DATES)
def test_date_range_membership(stored: date, low: date, high: date) -> None:
    low, high = min(low, high), max(low, high)
    key = f"{low:%Y%m%d}-{high:%Y%m%d}"
    expected = low <= stored <= high
    assert hit(dataset(StudyDate=key), dataset(StudyDate=f"{stored:%Y%m%d}")) is expected
    assert hit(dataset(StudyDate=f"-{high:%Y%m%d}"), dataset(StudyDate=f"{stored:%Y%m%d}")) is (
        stored <= high
    )


@SETTINGS
@given(keyword=st.sampled_from(TEXT_KEYWORDS), value=WORD, name=NAME, day=DATES)
def test_raw_and_in_memory_records_agree(keyword: str, value: str, name: str, day: date) -> None:
    item = dataset(**item_for(keyword, value), PatientName=name, StudyDate=f"{day:%Y%m%d}")
    assert record_from_dataset(item) == record_from_dataset(wire(item))


@SETTINGS
@given(value=WORD, other=WORD)
def test_single_value_matches_only_equal_values(value: str, other: str) -> None:
    item = dataset(**item_for("PatientID", value))
    compiled = compile_query(wire(dataset(**item_for("PatientID", other))))
    assert (compiled.match(record_from_dataset(wire(item))) is not None) is (value == other)
