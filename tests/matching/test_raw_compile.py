"""compile_raw (raw elements) gives the same CompiledQuery as compile_query (a Dataset).

PS3.4 C.2.2.2 is implemented once (classification in aiodicom.matching.keys); the raw
path only reads values differently, so every key must come out identical, and invalid
identifiers must be refused with the same status and comment.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.scan import parse_identifier
from aiodicom.errors import DataError, QueryError
from aiodicom.matching import CompiledQuery, MatchOptions, compile_query
from aiodicom.matching.query import timezone_offset_us
from aiodicom.matching.raw import KeyMemo, compile_raw
from tests.expected_warnings import PYDICOM_INVALID_INPUT
from tests.store.worklist_support import key_view

pytestmark = PYDICOM_INVALID_INPUT  # hypothesis feeds invalid values on purpose

SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99")

names = st.sampled_from(["", "DOE^JOHN", "doe*", "D?E^J*", "Müller^Jörg", "山田^太郎", '""',
                         "SMITH^ANNE^^^", "*", "A\\B"])  # fmt: skip
texts = st.sampled_from(["", "PID1", "PID*", "P?D1", '""', "A\\B", "  X  ", "*", "ä"])
dates = st.sampled_from(["", "20261125", "20261101-20261130", "-20261125", "20261125-",
                         "2026", "20261132", "20261125\\20261126", '""'])  # fmt: skip
times = st.sampled_from(["", "0800", "0800-1000", "2300-0100", "-1200", "12", "x", '""'])
uids = st.sampled_from(["", "1.2.3", "1.2.3\\1.2.4", "1.2.x", "*"])
charsets = st.sampled_from([None, "", "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 87",
                            "NOT A CHARSET"])  # fmt: skip
zones = st.sampled_from([None, "", "+0100", "-0530", "bad"])


def _charset_ok(value: str, charset: str | None) -> bool:
    if charset == "ISO_IR 192":
        return True
    return value.isascii() or (charset == "ISO_IR 100" and value.encode("latin-1", "ignore")
                               .decode("latin-1") == value)  # fmt: skip


@st.composite
def identifiers(draw: st.DrawFn) -> Dataset:
    ds = Dataset()
    charset = draw(charsets)
    if charset is not None:
        ds.SpecificCharacterSet = charset
    zone = draw(zones)
    if zone is not None:
        ds.TimezoneOffsetFromUTC = zone
    fields: dict[str, Any] = {
        "PatientName": draw(names), "PatientID": draw(texts), "AccessionNumber": draw(texts),
        "StudyInstanceUID": draw(uids), "PatientBirthDate": draw(dates),
    }  # fmt: skip
    for keyword, value in fields.items():
        if draw(st.booleans()) and _charset_ok(value, charset):
            setattr(ds, keyword, value)
    items = draw(st.integers(0, 2)) if draw(st.booleans()) else None
    if items is not None:
        steps = []
        for _ in range(items):
            step = Dataset()
            step.Modality = draw(st.sampled_from(["", "CT", "C*", '""']))
            step.ScheduledProcedureStepStartDate = draw(dates)
            if draw(st.booleans()):
                step.ScheduledProcedureStepStartTime = draw(times)
            if draw(st.booleans()):
                step.ScheduledPerformingPhysicianName = draw(names.filter(str.isascii))
            steps.append(step)
        ds.ScheduledProcedureStepSequence = steps
    return ds


def _outcome(build: Any) -> tuple[str, object]:
    try:
        compiled: CompiledQuery = build()
    except QueryError as exc:
        return "refused", (exc.status, exc.comment)
    return "compiled", (key_view(compiled), compiled.encodings, compiled.matching_keys)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    identifier=identifiers(),
    syntax=st.sampled_from(SYNTAXES),
    pn_case_sensitive=st.booleans(),
    combine=st.booleans(),
)
def test_raw_and_dataset_compile_agree(
    identifier: Dataset, syntax: str, pn_case_sensitive: bool, combine: bool
) -> None:
    options = MatchOptions(pn_case_sensitive=pn_case_sensitive, combine_datetime=combine)
    try:
        data = encode_identifier(identifier, syntax)
    except DataError:  # a value the drawn character set cannot hold
        assume(False)
        return
    elements = parse_identifier(data, syntax)
    assert elements is not None
    memo = KeyMemo()
    raw_first = _outcome(lambda: compile_raw(elements, options, memo))
    raw_memo = _outcome(lambda: compile_raw(elements, options, memo))
    decoded = decode_identifier(data, syntax, materialize=False)
    expected = _outcome(lambda: compile_query(decoded, options))
    assert raw_first == expected
    assert raw_memo == expected  # a memo hit is what classify would return


def test_memo_is_bounded() -> None:
    memo = KeyMemo(entries=3)
    options = MatchOptions()
    for number in range(7):
        ds = Dataset()
        ds.PatientID = f"P{number}"
        data = encode_identifier(ds, SYNTAXES[1])
        elements = parse_identifier(data, SYNTAXES[1])
        assert elements is not None
        assert compile_raw(elements, options, memo).keys[0x00100020].text == f"P{number}"
        assert 1 <= len(memo) <= 3


def test_timezone_padding_is_not_significant() -> None:
    """PS3.5 6.2: an SH value padded to even length means the same as the bare value."""
    assert timezone_offset_us("+0100 ") == timezone_offset_us("+0100") == 3_600_000_000
    refusals = []
    for text in ("bad", "bad "):
        with pytest.raises(QueryError) as caught:
            timezone_offset_us(text)
        refusals.append((caught.value.status, caught.value.comment))
    assert refusals[0] == refusals[1]
    assert "'bad'" in str(refusals[0][1])
