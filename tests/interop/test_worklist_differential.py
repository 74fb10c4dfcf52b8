"""Differential test: our worklist SCP vs DCMTK wlmscpfs on the same folder and queries.

Both run on a generated folder (hundreds of items, several SPS items each, ISO_IR 100 /
ISO_IR 192 / default character sets, missing optional attributes) and answer the same
findscu queries. Response sets must be equal, modulo the documented wlmscpfs departures
from PS3.4 (docs/worklist.md): wlmscpfs returns *all* SPS items of a matching item
(PS3.4 C.2.2.2.6 says only the matching ones), so our SPS items must be the subset of
its items that match the query's sequence keys.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from aiodicom.matching import MatchOptions, compile_query, record_from_dataset
from aiodicom.worklist.sample import write_folder
from tests.interop.worklist_peers import WLMSCPFS, findscu, our_scp, wlmscpfs

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which(WLMSCPFS) is None, reason="DCMTK wlmscpfs not installed"),
]
SPS = "(0040,0100)[0]."
RETURN = ["PatientName", "PatientID", "AccessionNumber", "PatientBirthDate", "PatientSex",
          "RequestedProcedureID", "StudyInstanceUID", "ReferringPhysicianName",
          SPS + "Modality", SPS + "ScheduledStationAETitle",
          SPS + "ScheduledProcedureStepStartDate",
          SPS + "ScheduledProcedureStepStartTime", SPS + "ScheduledProcedureStepID",
          SPS + "ScheduledPerformingPhysicianName"]  # fmt: skip
QUERIES: list[list[str]] = [
    [],
    ["PatientID=PID0000042"],
    ["PatientID=PID00001*"],
    ["AccessionNumber=ACC0000100"],
    ["PatientName=SMITH*"],
    ["PatientName=*^MARY"],
    ["PatientName=J?NES*"],
    ["PatientName=W*", "AccessionNumber="],
    ["RequestedProcedureID=RP0000010"],
    ["StudyInstanceUID=1.2.826.0.1.3680043.10.1453.77"],
    ["ReferringPhysicianName=HOUSE*"],
    [SPS + "Modality=CT"],
    [SPS + "Modality=MR"],
    [SPS + "Modality=NM"],
    [SPS + "Modality=US"],
    [SPS + "ScheduledStationAETitle=CT01"],
    [SPS + "ScheduledStationAETitle=MR02"],
    [SPS + "ScheduledProcedureStepStartDate=20261126"],
    [SPS + "ScheduledProcedureStepStartDate=20261125-20261126"],
    [SPS + "ScheduledProcedureStepStartDate=-20261125"],
    [SPS + "ScheduledProcedureStepStartDate=20261128-"],
    [SPS + "Modality=CT", SPS + "ScheduledProcedureStepStartDate=20261126-20261127"],
    [SPS + "Modality=CT", SPS + "ScheduledStationAETitle=MR01"],
    [SPS + "ScheduledPerformingPhysicianName=GREY^MEREDITH"],
    [SPS + "ScheduledPerformingPhysicianName=K*"],
    [SPS + "ScheduledProcedureStepID=SPS0000101*"],
    ["PatientName=T*", SPS + "Modality=MR"],
    ["PatientID=PID0000007", SPS + "Modality=CT"],
    [SPS + "ScheduledStationAETitle=US01", SPS + "ScheduledProcedureStepStartDate=20261129"],
    ["PatientName=*", SPS + "Modality=CR"],
    ["AccessionNumber=ACC00002?0"],
]


# wlmscpfs departures, see docs/worklist.md: query -> (wlmscpfs answer, our rule)
DEPARTURES = {
    "PatientID=PID00001*": ("none", "C.2.2.2.4: wild card matching applies to LO"),
    "StudyInstanceUID=1.2.826.0.1.3680043.10.1453.77": ("all", "K.6-1 optional key ignored"),
    SPS + "ScheduledProcedureStepID=SPS0000101*": ("all", "K.6-1 optional key ignored"),
}


def _expected_count(data: Path, key: str) -> int:
    """Our answer for a departure query, from the files themselves (independent check)."""
    name, _, value = key.removeprefix(SPS).partition("=")
    count = 0
    for path in (data / "WLMSCP").glob("*.wl"):
        ds = dcmread(path, force=True)
        values = [str(step.get(name, "")) for step in ds.ScheduledProcedureStepSequence]
        values.append(str(ds.get(name, "")))
        if value.endswith("*"):
            count += any(v.startswith(value[:-1]) for v in values)
        else:
            count += value in values
    return count


def _keys(keys: list[str]) -> list[str]:
    """Query keys plus the return keys not already given (a later -k would override)."""
    named = {key.split("=", 1)[0] for key in keys}
    return keys + [key for key in RETURN if key not in named]


def _canonical(ds: Dataset) -> Any:
    """A hashable, order-free form of a response (Specific Character Set dropped)."""
    out: list[tuple[int, Any]] = []
    for element in ds:
        if element.tag == 0x00080005 or element.tag.group == 0x0002:
            continue
        if element.VR == "SQ":
            items = tuple(sorted(_canonical(item) for item in element.value))
            out.append((int(element.tag), items))
        else:
            out.append((int(element.tag), str(element.value).rstrip()))
    return tuple(sorted(out, key=repr))


def _split(ds: Dataset) -> tuple[Any, Any]:
    top = Dataset()
    for element in ds:
        if element.tag != 0x00400100:
            top.add(element)
    steps = ds.get("ScheduledProcedureStepSequence") or []
    return _canonical(top), steps


def _query_dataset(keys: list[str]) -> Dataset:
    """The SPS item part of a findscu key list, as a Dataset (for the subset check)."""
    item = Dataset()
    for key in keys:
        if key.startswith(SPS) and "=" in key:
            name, value = key[len(SPS) :].split("=", 1)
            setattr(item, name, value)
    return item


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diff")
    write_folder(root, "WLMSCP", 300, seed=2026)
    return root


async def test_same_answers_as_wlmscpfs(data: Path, tmp_path: Path) -> None:
    theirs: list[list[Dataset]] = []
    async with wlmscpfs(data) as port:
        for number, keys in enumerate(QUERIES):
            responses, log = await findscu(port, _keys(keys), tmp_path / f"w{number}")
            assert "Final Find Response (Success)" in log, log[-400:]
            theirs.append(responses)
    problems: list[str] = []
    async with our_scp(data, max_matches=100_000) as server:
        for number, keys in enumerate(QUERIES):
            ours, log = await findscu(server.port, _keys(keys), tmp_path / f"o{number}")
            assert "Final Find Response (Success)" in log, log[-400:]
            if len(keys) == 1 and keys[0] in DEPARTURES:
                kind, _rule = DEPARTURES[keys[0]]
                assert len(theirs[number]) == (0 if kind == "none" else 300)
                assert len(ours) == _expected_count(data, keys[0]) > 0
                continue
            problem = _compare(keys, ours, theirs[number])
            if problem:
                problems.append(problem)
    assert problems == [], "\n".join(problems)
    assert sum(map(len, theirs)) > 300  # the queries do select something


def _compare(keys: list[str], ours: list[Dataset], theirs: list[Dataset]) -> str | None:
    ours_by_top = {_split(ds)[0]: _split(ds)[1] for ds in ours}
    theirs_by_top = {_split(ds)[0]: _split(ds)[1] for ds in theirs}
    assert len(ours_by_top) == len(ours) and len(theirs_by_top) == len(theirs)
    if set(ours_by_top) != set(theirs_by_top):
        return f"{keys}: ours {len(ours)} items, wlmscpfs {len(theirs)}"
    step_query = compile_query(_query_dataset(keys), MatchOptions(pn_case_sensitive=True))
    for top, their_steps in theirs_by_top.items():
        # departure: wlmscpfs returns every SPS item; keep those matching the SPS keys
        expected = sorted(
            _canonical(step)
            for step in their_steps
            if step_query.match(record_from_dataset(step)) is not None
        )
        got = sorted(_canonical(step) for step in ours_by_top[top])
        if got != expected:
            return f"{keys}: SPS items differ: ours {got} expected {expected}"
    return None
