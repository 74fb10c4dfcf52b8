"""Range Matching of DA, TM, DT and combined date-time matching (PS3.4 C.2.2.2.5)."""

from __future__ import annotations

import pytest

from aiodicom.errors import QueryError
from aiodicom.matching import MatchKind, MatchOptions, compile_query
from tests.matching.helpers import dataset, hit

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")


@pytest.mark.parametrize(
    ("key", "stored", "expected"),
    [
        ("20240101-20240131", "20240101", True),  # C.2.2.2.5.1 a: inclusive
        ("20240101-20240131", "20240131", True),
        ("20240101-20240131", "20240115", True),
        ("20240101-20240131", "20231231", False),
        ("20240101-20240131", "20240201", False),
        ("-20240101", "19991231", True),  # b: prior to and including
        ("-20240101", "20240101", True),
        ("-20240101", "20240102", False),
        ("20240101-", "20240101", True),  # c: date1 and subsequent
        ("20240101-", "20991231", True),
        ("20240101-", "20231231", False),
        ("20240101", "20240101", True),  # single value
        ("20240101", "20240102", False),
        ("20240101\\20240301-20240302", "20240302", True),  # several values: any
        ("20240101\\20240301-20240302", "20240201", False),
    ],
)
def test_date_ranges(key: str, stored: str, expected: bool) -> None:
    assert hit(dataset(StudyDate=key), dataset(StudyDate=stored)) is expected


@pytest.mark.parametrize(
    ("key", "stored", "expected"),
    [
        ("1000-1030", "1000", True),  # C.2.2.2.5.2 a
        ("1000-1030", "103059.999", True),  # 10:30 covers the whole minute
        ("1000-1030", "1031", False),
        ("1000-1030", "095959", False),
        ("-1030", "000000", True),  # b: from midnight
        ("-1030", "1031", False),
        ("1030-", "235959.999999", True),  # c: until midnight
        ("1030-", "1029", False),
        ("10:00-10:30", "10:15:00", True),  # legacy ACR-NEMA form
        ("1015", "101530", True),  # single TM value at minute precision
        ("1015", "1016", False),
    ],
)
def test_time_ranges(key: str, stored: str, expected: bool) -> None:
    assert hit(dataset(StudyTime=key), dataset(StudyTime=stored)) is expected


@pytest.mark.parametrize(
    ("key", "stored", "expected"),
    [
        ("20240101120000-20240101130000", "20240101123000", True),
        ("20240101120000-20240101130000", "20240101130001", False),
        ("2024-2025", "20251231235959", True),  # year precision bounds
        ("2024-2025", "20260101", False),
        ("-202402", "20240229", True),
        ("-202402", "20240301", False),
        # C.2.2.2.5.3 d: the UTC offset is taken into account.
        ("20240101120000+0100-20240101130000+0100", "20240101113000+0000", True),
        ("20240101120000+0100-20240101130000+0100", "20240101113000+0100", False),
        ("20240101120000-0500-", "20240101170000+0000", True),
        ("20240101120000-0500-", "20240101165959+0000", False),
    ],
)
def test_datetime_ranges(key: str, stored: str, expected: bool) -> None:
    assert hit(dataset(AcquisitionDateTime=key), dataset(AcquisitionDateTime=stored)) is expected


def test_combined_datetime_matching_standard_example() -> None:
    # PS3.4 C.2.2.2.5.4 note: Study Date "20060705-20060707" and Study Time "1000-1800"
    # match from 10:00 on July 5th to 18:00 on July 7th.
    query = dataset(StudyDate="20060705-20060707", StudyTime="1000-1800")
    combined, separate = MatchOptions(), MatchOptions(combine_datetime=False)
    night = dataset(StudyDate="20060706", StudyTime="0200")
    assert hit(query, night, combined)
    assert not hit(query, night, separate)
    assert not hit(query, dataset(StudyDate="20060705", StudyTime="0959"), combined)
    assert hit(query, dataset(StudyDate="20060705", StudyTime="1000"), combined)
    assert hit(query, dataset(StudyDate="20060707", StudyTime="1800"), combined)
    assert not hit(query, dataset(StudyDate="20060707", StudyTime="1801"), combined)
    assert hit(query, dataset(StudyDate="20060706"), combined)  # no time: the whole day


def test_combined_open_ranges_and_differing_forms() -> None:
    opened = dataset(StudyDate="20060705-", StudyTime="1000-")
    assert hit(opened, dataset(StudyDate="20060706", StudyTime="0100"))
    assert not hit(opened, dataset(StudyDate="20060705", StudyTime="0900"))
    # different range forms are matched separately
    mixed = dataset(StudyDate="20060705-20060707", StudyTime="1000-")
    assert not hit(mixed, dataset(StudyDate="20060706", StudyTime="0100"))
    assert hit(mixed, dataset(StudyDate="20060706", StudyTime="1100"))


def test_combined_matching_inside_the_worklist_sequence() -> None:
    step = dataset(ScheduledProcedureStepStartDate="20240101-20240102")
    step.ScheduledProcedureStepStartTime = "2200-0600"  # overnight: valid once combined
    query = dataset(ScheduledProcedureStepSequence=[step])
    late = dataset(ScheduledProcedureStepStartDate="20240101")
    late.ScheduledProcedureStepStartTime = "2330"
    item = dataset(ScheduledProcedureStepSequence=[late])
    assert hit(query, item)
    early = dataset(ScheduledProcedureStepStartDate="20240101")
    early.ScheduledProcedureStepStartTime = "2100"
    assert not hit(query, dataset(ScheduledProcedureStepSequence=[early]))
    compiled = compile_query(query)
    sub = compiled.keys[0x00400100].sub
    assert sub is not None
    assert sub.keys[0x00400002].combined_with == 0x00400003
    assert sub.keys[0x00400002].bounds == ("20240101", "20240102")


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("StudyDate", "2024-13-01"),
        ("StudyDate", "20241301"),
        ("StudyDate", "20240230"),
        ("StudyDate", "20240131-20240101"),
        ("StudyDate", "-"),
        ("StudyDate", "yesterday"),
        ("StudyTime", "1000-0900"),  # crossing midnight is not supported
        ("StudyTime", "2500"),
        ("AcquisitionDateTime", "2024013"),
    ],
)
def test_malformed_ranges_are_refused(keyword: str, value: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(dataset(**{keyword: value}))
    assert caught.value.status == 0xA900
    assert caught.value.comment is not None
    assert keyword in caught.value.comment


def test_combined_range_with_start_after_end_is_refused() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(dataset(StudyDate="20240101-20240101", StudyTime="1800-1000"))
    assert caught.value.status == 0xA900


def test_range_key_exposes_bounds() -> None:
    compiled = compile_query(dataset(StudyDate="20240101-", StudyTime="-1200"))
    assert compiled.kind(0x00080020) is MatchKind.RANGE
    assert compiled.keys[0x00080020].bounds == ("20240101", "")
    assert compiled.keys[0x00080030].bounds == ("", "1200")


def test_unparsable_stored_values_do_not_match() -> None:
    assert not hit(dataset(StudyDate="20240101-"), dataset(StudyDate="garbage"))
