"""Index planner vs plain scan: identical results on random queries over random items."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from aiodicom.dicom.reader import parse_file_bytes
from aiodicom.dicom.values import decode_record
from aiodicom.errors import QueryError
from aiodicom.matching import MatchOptions, compile_query
from aiodicom.store.worklist import AeWorklist
from aiodicom.store.worklist_loader import WorklistItem, _encode_explicit_le
from aiodicom.worklist.service import scan, search
from tests.expected_warnings import PYDICOM_INVALID_INPUT

pytestmark = PYDICOM_INVALID_INPUT  # hypothesis feeds invalid values on purpose

IDS = ["P1", "P2", "p1", "P3 ", "A\\B", ""]
NAMES = ["DOE^JOHN", "doe^jane", "DOE", "Smith^Ann", "Müller^Jürgen", "DOE^JOHN^^", ""]
MODALITIES = ["CT", "MR", "ct", "US", "CR", "MG", "NM", "DX", ""]
STATIONS = ["CT01", "MR01", "ct01", "US01", "CR01", "NM01", ""]
DATES = ["20261124", "20261125", "20261126", "20261201", "20261130", "20261203", "",
         "2026.11.25"]  # fmt: skip
UIDS = ["1.2.3", "1.2.4", "1.2.3.4"]


def _optional(values: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(values))


step_strategy = st.fixed_dictionaries(
    {
        "Modality": _optional(MODALITIES),
        "ScheduledStationAETitle": _optional(STATIONS),
        "ScheduledProcedureStepStartDate": _optional(DATES),
        "ScheduledProcedureStepStartTime": _optional(["0800", "1200", "235959", ""]),
    }
)
item_strategy = st.fixed_dictionaries(
    {
        "PatientID": _optional(IDS),
        "PatientName": _optional(NAMES),
        "AccessionNumber": _optional(["A1", "A2", "a1", ""]),
        "RequestedProcedureID": _optional(["R1", "R2"]),
        "StudyInstanceUID": _optional(UIDS),
        "steps": st.lists(step_strategy, min_size=1, max_size=2),
    }
)


def _dataset(values: dict[str, Any]) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for key, value in values.items():
        if key != "steps" and value is not None:
            setattr(ds, key, value)
    steps = []
    for step_values in values["steps"]:
        step = Dataset()
        for key, value in step_values.items():
            if value is not None:
                setattr(step, key, value)
        steps.append(step)
    ds.ScheduledProcedureStepSequence = steps
    return ds


def _item(index: int, values: dict[str, Any]) -> WorklistItem:
    raw = parse_file_bytes(_encode_explicit_le(_dataset(values), "mem"), f"item{index}")
    return WorklistItem(f"item{index}", raw, decode_record(raw), (index, 0, 0))


def _query_value(values: list[str]) -> st.SearchStrategy[str | None]:
    literal = st.sampled_from(values)
    wild = literal.map(lambda value: value[:2] + "*")
    absent = st.none()  # weighted: most queries use one or two keys, as real ones do
    return st.one_of(absent, absent, absent, absent, literal, literal, wild, st.just(""))


date_query = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from(DATES[:6]),
    st.tuples(st.sampled_from([*DATES[:6], ""]), st.sampled_from([*DATES[:6], ""])).map(
        lambda pair: f"{pair[0]}-{pair[1]}"
    ),
)
query_strategy = st.fixed_dictionaries(
    {
        "PatientID": _query_value(IDS[:5]),
        "PatientName": _query_value(NAMES[:6]),
        "AccessionNumber": _query_value(["A1", "a1", "A2"]),
        "StudyInstanceUID": st.one_of(
            st.none(), st.none(), st.none(), st.sampled_from([*UIDS, "1.2.3\\1.2.4"])
        ),
        "Modality": _query_value(MODALITIES[:8]),
        "ScheduledStationAETitle": _query_value(STATIONS[:6]),
        "ScheduledProcedureStepStartDate": date_query,
    }
)


def _query(values: dict[str, str | None]) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    step = Dataset()
    for key, value in values.items():
        if value is None:
            continue
        target = step if key.startswith(("Modality", "Scheduled")) else ds
        setattr(target, key, value)
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _items(*specs: tuple[str | None, str | None, str | None]) -> list[dict[str, Any]]:
    """Items from (PatientName, SPS Modality, SPS start date) triples, second step MR."""
    out = []
    for name, modality, date in specs:
        step = {"Modality": modality, "ScheduledStationAETitle": None,
                "ScheduledProcedureStepStartDate": date,
                "ScheduledProcedureStepStartTime": None}  # fmt: skip
        other = {**step, "Modality": "MR", "ScheduledProcedureStepStartDate": "20261203"}
        out.append(
            {
                "PatientID": None,
                "PatientName": name,
                "AccessionNumber": None,
                "RequestedProcedureID": None,
                "StudyInstanceUID": None,
                "steps": [step, other],
            }
        )
    return out


NO_KEYS: dict[str, str | None] = dict.fromkeys(
    [
        "PatientID",
        "PatientName",
        "AccessionNumber",
        "StudyInstanceUID",
        "Modality",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
    ]
)
SAMPLE = _items(
    ("DOE^JOHN", "CT", "20261124"),
    ("doe^jane", "ct", "20261125"),
    ("SMITH", "US", "20261126"),
    (None, "CT", None),
    ("Doe", None, "20261201"),
)


@example(items=SAMPLE, query={**NO_KEYS, "PatientName": "DO*"}, case_sensitive=False)
@example(items=SAMPLE, query={**NO_KEYS, "PatientName": "doe^john"}, case_sensitive=False)
@example(items=SAMPLE, query={**NO_KEYS, "Modality": "CT"}, case_sensitive=False)
@example(items=SAMPLE, query={**NO_KEYS, "Modality": "MR"}, case_sensitive=False)
@example(
    items=SAMPLE,
    query={**NO_KEYS, "ScheduledProcedureStepStartDate": "20261124-20261125"},
    case_sensitive=False,
)
@example(
    items=SAMPLE,
    query={**NO_KEYS, "ScheduledProcedureStepStartDate": "-20261125"},
    case_sensitive=True,
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(item_strategy, min_size=0, max_size=24),
    query=query_strategy,
    case_sensitive=st.booleans(),
)
def test_index_and_scan_agree(
    items: list[dict[str, Any]], query: dict[str, str | None], case_sensitive: bool
) -> None:
    worklist = AeWorklist.build("AE", [_item(i, values) for i, values in enumerate(items)])
    identifier = _query(query)
    try:
        compiled = compile_query(identifier, MatchOptions(pn_case_sensitive=case_sensitive))
    except QueryError:
        assume(False)  # e.g. an inverted date range: refused before any planning
        return
    indexed, used = search(worklist, compiled)
    event(f"index {used}")
    scanned = scan(worklist, compiled)
    assert [item.path for item, _ in indexed] == [item.path for item, _ in scanned]
    assert [r.sequence_items for _, r in indexed] == [r.sequence_items for _, r in scanned]


def test_planner_uses_the_most_selective_index() -> None:
    base = {"PatientName": "DOE^JOHN", "AccessionNumber": None, "RequestedProcedureID": None,
            "StudyInstanceUID": None}  # fmt: skip
    items = [
        _item(
            i,
            {
                **base,
                "PatientID": f"P{i}",
                "steps": [
                    {
                        "Modality": "CT" if i % 2 else "MR",
                        "ScheduledStationAETitle": None,
                        "ScheduledProcedureStepStartDate": "20261125",
                        "ScheduledProcedureStepStartTime": None,
                    }
                ],
            },
        )
        for i in range(40)
    ]
    worklist = AeWorklist.build("AE", items)
    identifier = _query({"PatientID": "P7", "Modality": "CT"})
    matches, used = search(worklist, compile_query(identifier))
    assert used == "PatientID"
    assert [item.path for item, _ in matches] == ["item7"]
    identifier = _query({"Modality": "CT", "ScheduledProcedureStepStartDate": "20261125"})
    matches, used = search(worklist, compile_query(identifier))
    assert used == "SPS.Modality" and len(matches) == 20
    identifier = _query({"PatientName": "*"})
    _, used = search(worklist, compile_query(identifier))
    assert used == "scan"
