"""The mapping table: location syntax, conversions, and docs/worklist.md printing it."""

from __future__ import annotations

import re
from pathlib import Path

import hl7
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodicom.errors import Hl7Error
from aiodicom.hl7 import build_rules, table_rows
from aiodicom.hl7.dataset import Segments, apply_rule
from aiodicom.hl7.mapping import Location, parse_spec
from aiodicom.hl7.message import OrderGroup

DOCS = Path(__file__).resolve().parents[2] / "docs" / "worklist.md"


def test_docs_print_the_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\w+) \| \(\w{4},\w{4}\) \| (.*?) \| (.*?) \|$", text, flags=re.M)

    def cell(text: str) -> str:
        return "" if text == "-" else text.strip("`")

    documented = [(keyword, cell(old), cell(new)) for keyword, old, new in rows]
    assert documented == table_rows()


def test_spec_syntax() -> None:
    rule = parse_spec("Modality", "ipc-5.1, OBR-24:text")
    assert rule.locations == (Location("IPC", 5, 1), Location("OBR", 24))
    assert rule.spec() == "IPC-5, OBR-24"
    for bad in ("OBR24", "OBR-24.1.2.3", "OB-1", "PID-5:name"):
        with pytest.raises(ValueError):
            parse_spec("PatientName", bad)
    with pytest.raises(ValueError, match="not a DICOM attribute keyword"):
        build_rules("2.3.1", {"NotAKeyword": "PID-5"})


def _apply(spec: str, keyword: str, segment: str) -> tuple[dict[str, object], dict[str, object]]:
    message = hl7.parse("MSH|^~\\&|A|B|C|D|20260101||ORM^O01|1|P|2.3.1\r" + segment)
    found = Segments({"PID": message.segment("PID")}, OrderGroup(1), None)
    top: dict[str, object] = {}
    step: dict[str, object] = {}
    apply_rule(parse_spec(keyword, spec), found, top, step)
    return top, step


def test_person_names_reorder_prefix_and_suffix() -> None:
    top, _ = _apply("PID-5:xpn", "PatientName", "PID|1||X||Doe^John^Q^Jr^Dr")
    assert top == {"PatientName": "Doe^John^Q^Dr^Jr"}  # PS3.5 6.2.1.1 order
    top, _ = _apply("PID-5:xcn", "ReferringPhysicianName", "PID|1||X||77^Doe^Ann")
    assert top == {"ReferringPhysicianName": "Doe^Ann"}


def test_start_with_seconds_and_zone() -> None:
    _, step = _apply("PID-7:start", "ScheduledProcedureStepStartDate",
                     "PID|1||X||N||20261206143015.25+0100")  # fmt: skip
    assert step == {"ScheduledProcedureStepStartDate": "20261206",
                    "ScheduledProcedureStepStartTime": "143015"}  # fmt: skip


@example("0001010100")  # a date with hours only (once an internal error)
@given(st.text(alphabet="0123456789+-.", max_size=20))
def test_dates_are_converted_or_refused_with_102(text: str) -> None:
    try:
        top, step = _apply("PID-7:start", "ScheduledProcedureStepStartDate",
                           f"PID|1||X||N||{text}")  # fmt: skip
    except Hl7Error as exc:
        assert (exc.segment, exc.field, exc.code) == ("PID", 7, 102)
        return
    assert top == {}
    if text:
        assert len(str(step["ScheduledProcedureStepStartDate"])) == 8
        time = str(step.get("ScheduledProcedureStepStartTime", ""))
        assert len(time) in {0, 2, 6} and (not time or int(time[:2]) < 24)
