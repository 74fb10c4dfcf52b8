"""Character sets: queries and records decoded with their own (0008,0005) (PS3.4 C.2.2.2,
PS3.5 6.1), matching on characters rather than bytes."""

from __future__ import annotations

import pytest

from aiodicom.errors import DataError, QueryError
from aiodicom.matching import compile_query, record_from_dataset
from tests.matching.helpers import dataset, hit, raw_dataset, wire

# PS3.5 Annex H example: Yamada^Tarou in alphabetic, ideographic and phonetic groups.
JAPANESE_PN = (
    b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"
)
JAPANESE = raw_dataset(
    (0x00080005, "CS", b"\\ISO 2022 IR 87"),
    (0x00100010, "PN", JAPANESE_PN),
)


def test_latin1_query_matches_utf8_item() -> None:
    query = raw_dataset((0x00080005, "CS", b"ISO_IR 100"), (0x00100010, "PN", b"M\xfcller*"))
    item = raw_dataset((0x00080005, "CS", b"ISO_IR 192"), (0x00100010, "PN", b"M\xc3\xbcller^Hans"))
    assert compile_query(query).match(record_from_dataset(item)) is not None
    wrong = raw_dataset((0x00100010, "PN", b"M\xc3\xbcller^Hans"))  # UTF-8 bytes, no SCS
    assert compile_query(query).match(record_from_dataset(wrong)) is None


def test_question_mark_is_one_character_in_utf8() -> None:
    item = dataset(SpecificCharacterSet="ISO_IR 192", PatientName="Müller^Jürgen")
    assert hit(dataset(SpecificCharacterSet="ISO_IR 192", PatientName="M?ller^J?rgen"), item)
    assert not hit(dataset(SpecificCharacterSet="ISO_IR 192", PatientName="M??ller*"), item)


def test_iso_2022_japanese_record_is_decoded() -> None:
    record = record_from_dataset(JAPANESE)
    assert record[0x00100010] == "Yamada^Tarou=山田^太郎=やまだ^たろう"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("山田^太郎", True),  # ideographic group
        ("山?^*", True),
        ("やまだ*", True),  # phonetic group
        ("yamada^tarou", True),  # alphabetic, case-insensitive
        ("Yamada^Tarou=山田^太郎", True),  # group by group
        ("Yamada^Tarou=山本*", False),
        ("=山田*", True),  # empty alphabetic group: don't care
        ("山本^太郎", False),
        ("山^太郎", False),
    ],
)
def test_japanese_name_groups(pattern: str, expected: bool) -> None:
    query = dataset(SpecificCharacterSet="ISO_IR 192", PatientName=pattern)
    result = compile_query(wire(query)).match(record_from_dataset(JAPANESE))
    assert (result is not None) is expected


def test_japanese_query_in_iso_2022() -> None:
    query = raw_dataset(
        (0x00080005, "CS", b"\\ISO 2022 IR 87"),
        (0x00100010, "PN", b"=\x1b$B;3ED\x1b(B*"),
    )
    assert compile_query(query).keys[0x00100010].text == "=山田*"
    assert compile_query(query).match(record_from_dataset(JAPANESE)) is not None


def test_greek_item_against_utf8_query() -> None:
    item = raw_dataset(
        (0x00080005, "CS", b"ISO_IR 126"),
        (0x00100010, "PN", b"\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"),
    )
    assert record_from_dataset(item)[0x00100010] == "Διονυσιος"
    assert hit(dataset(SpecificCharacterSet="ISO_IR 192", PatientName="διον*"), item)


@pytest.mark.filterwarnings("ignore:Unknown encoding:UserWarning")
def test_unknown_character_set_in_query_is_refused() -> None:
    query = raw_dataset((0x00080005, "CS", b"ISO_IR 999"), (0x00100010, "PN", b"X*"))
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert caught.value.status == 0xC000
    assert caught.value.comment is not None
    assert "(0008,0005)" in caught.value.comment
    assert "ISO_IR 999" in caught.value.comment


@pytest.mark.filterwarnings("ignore:Unknown encoding:UserWarning")
def test_unknown_character_set_in_record_raises_data_error() -> None:
    item = raw_dataset((0x00080005, "CS", b"KLINGON"), (0x00100010, "PN", b"X"))
    with pytest.raises(DataError, match="KLINGON"):
        record_from_dataset(item)


def test_implicit_vr_records_use_the_dictionary() -> None:
    item = dataset(
        SpecificCharacterSet="ISO_IR 100",
        PatientName="Müller",
        StudyDate="20240101",
        NumberOfStudyRelatedSeries="2",
        Rows=512,
    )
    record = record_from_dataset(wire(item, implicit=True))
    assert record[0x00100010] == "Müller"
    assert record[0x00080020] == "20240101"
    assert record[0x00201206] == "2"
    assert record[0x00280010] == "512"
