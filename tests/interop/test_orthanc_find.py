"""C-FIND against a real Orthanc (Debian package): Modality Worklist and Study Root.

The test writes the worklist items and uploads the Study Root instances itself, then
compares the sets Orthanc returns to aiodicom's async API and to the aiodicom-findscu
console script with what it put in. Orthanc is built on DCMTK, so odd-length UIDs come
back padded with one NUL byte (PS3.5 6.2, VR UI): the client must strip it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

import aiodicom
from tests.clients.peers import findscu_json
from tests.interop.orthanc_peer import (
    DCMTK_AE,
    ORTHANC_AE,
    OUR_AE,
    OrthancPeer,
    orthanc,
    requires_orthanc,
)

pytestmark = [pytest.mark.interop, requires_orthanc]

UID_ROOT = "1.2.826.0.1.3680043.10.1450.7"  # 29 characters: derived UIDs below are odd


@dataclass(frozen=True)
class WorklistEntry:
    """What the test puts into one worklist item."""

    name: str
    patient_id: str
    modality: str
    date: str
    study_uid: str


WORKLIST = [
    WorklistEntry("WLTEST^ALICE", "WL0", "CT", "20261101", f"{UID_ROOT}.1.0"),
    WorklistEntry("WLTEST^BOB", "WL1", "MR", "20261102", f"{UID_ROOT}.1.1"),
    WorklistEntry("WLTEST^CAROL", "WL2", "CT", "20261105", f"{UID_ROOT}.1.2"),
    WorklistEntry("WLTEST^DAVE", "WL3", "US", "20261103", f"{UID_ROOT}.1.3"),
    WorklistEntry("OTHER^EVE", "WL4", "MR", "20261110", f"{UID_ROOT}.1.4"),
    WorklistEntry("WLTEST^FRANK", "WL5", "MR", "20261201", f"{UID_ROOT}.1.5"),
]


def worklist_dataset(entry: WorklistEntry) -> Dataset:
    """A Modality Worklist item (PS3.4 K.6.1.2) with one Scheduled Procedure Step."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = entry.name
    ds.PatientID = entry.patient_id
    ds.AccessionNumber = f"A{entry.patient_id}"
    ds.StudyInstanceUID = entry.study_uid
    step = Dataset()
    step.Modality = entry.modality
    step.ScheduledStationAETitle = f"{entry.modality}1"
    step.ScheduledProcedureStepStartDate = entry.date
    step.ScheduledProcedureStepStartTime = "090000"
    step.ScheduledProcedureStepID = f"SPS{entry.patient_id}"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def study_instance(patient: int, study: int, series: int, image: int) -> Dataset:
    """A tiny Secondary Capture instance; every UID has an odd length."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.PatientName = f"QR^PATIENT{patient}"
    ds.PatientID = f"QRP{patient}"
    ds.StudyInstanceUID = f"{UID_ROOT}.{patient}.{study}"
    ds.StudyDate = f"2026110{1 + 2 * patient + study}"
    ds.StudyTime = "101010"
    ds.StudyID = f"S{patient}{study}"
    ds.AccessionNumber = f"QA{patient}{study}"
    ds.SeriesInstanceUID = f"{ds.StudyInstanceUID}.{series}"
    ds.Modality = ("CT", "MR")[series]
    ds.SeriesNumber = series + 1
    ds.SOPInstanceUID = f"{ds.SeriesInstanceUID}.{image}"
    ds.InstanceNumber = image + 1
    return ds


STUDY_DATA = [
    study_instance(p, s, r, i)
    for p in range(2)
    for s in range(2)
    for r in range(2)
    for i in range(2)
]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancPeer]:
    with orthanc(tmp_path_factory.mktemp("orthanc")) as running:
        for index, entry in enumerate(WORKLIST):
            running.add_worklist_item(worklist_dataset(entry), f"item{index}")
        for ds in STUDY_DATA:
            assert running.upload(ds) == "Success"
        yield running


# -- the two front ends -------------------------------------------------------------------


async def api_find(peer: OrthancPeer, query: Dataset, model: str) -> list[Dataset]:
    """All identifiers of one C-FIND through ``aiodicom.connect``; final status Success."""
    async with aiodicom.connect(
        "127.0.0.1", peer.dicom_port, calling_ae=OUR_AE, called_ae=ORTHANC_AE
    ) as assoc:
        stream = assoc.find(query, model=model)
        found = [ds async for ds in stream]
        assert stream.status == 0x0000
        assert stream.responses == len(found)
        return found


def cli_find(peer: OrthancPeer, model_flag: str, keys: list[str]) -> list[dict[str, object]]:
    """The aiodicom-findscu console script with --json: one DICOM JSON object a line."""
    options = [model_flag, "-aet", DCMTK_AE, "-aec", ORTHANC_AE]
    return findscu_json(options, keys, peer.dicom_port)


def json_text(row: dict[str, object], tag: str) -> str:
    """The first value of ``tag`` (8 hex digits) in a DICOM JSON object (PS3.18 F.2)."""
    element = row[tag]
    assert isinstance(element, dict)
    value = element["Value"][0]
    return str(value["Alphabetic"] if isinstance(value, dict) else value)


# -- Modality Worklist ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorklistCase:
    """One MWL query, as -k keys and as a Dataset, and which entries must match."""

    keys: list[str]
    step: dict[str, str]
    top: dict[str, str]
    matches: Callable[[WorklistEntry], bool]


WORKLIST_CASES = {
    "modality in SPS": WorklistCase(
        ["ScheduledProcedureStepSequence[0].Modality=MR"],
        {"Modality": "MR"},
        {},
        lambda e: e.modality == "MR",
    ),
    "patient name wildcard": WorklistCase(
        ["PatientName=WLTEST^*"],
        {},
        {"PatientName": "WLTEST^*"},
        lambda e: e.name.startswith("WLTEST^"),
    ),
    "SPS start date range": WorklistCase(
        ["ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261101-20261103"],
        {"ScheduledProcedureStepStartDate": "20261101-20261103"},
        {},
        lambda e: "20261101" <= e.date <= "20261103",
    ),
    "name wildcard and modality": WorklistCase(
        ["PatientName=WLTEST*", "ScheduledProcedureStepSequence[0].Modality=CT"],
        {"Modality": "CT"},
        {"PatientName": "WLTEST*"},
        lambda e: e.name.startswith("WLTEST") and e.modality == "CT",
    ),
}

RETURN_KEYS = ["PatientID=", "StudyInstanceUID=", "PatientName="]


def worklist_query(case: WorklistCase) -> Dataset:
    """The MWL identifier of ``case`` with the return keys (PS3.4 K.6.1.2)."""
    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    query.StudyInstanceUID = ""
    for keyword, value in case.top.items():
        setattr(query, keyword, value)
    step = Dataset()
    step.Modality = ""
    step.ScheduledProcedureStepStartDate = ""
    for keyword, value in case.step.items():
        setattr(step, keyword, value)
    query.ScheduledProcedureStepSequence = [step]
    return query


def expected_worklist(case: WorklistCase) -> dict[str, str]:
    """PatientID -> StudyInstanceUID of the entries ``case`` must find."""
    found = {e.patient_id: e.study_uid for e in WORKLIST if case.matches(e)}
    assert found, "every case matches at least one item"
    assert len(found) < len(WORKLIST), "and not all of them"
    return found


@pytest.mark.parametrize("name", list(WORKLIST_CASES))
async def test_worklist_api(peer: OrthancPeer, name: str) -> None:
    case = WORKLIST_CASES[name]
    found = await api_find(peer, worklist_query(case), "worklist")
    got = {ds.PatientID: ds.StudyInstanceUID for ds in found}
    assert got == expected_worklist(case)
    entries = {e.patient_id: e for e in WORKLIST}
    for ds in found:
        step = ds.ScheduledProcedureStepSequence[0]
        assert case.matches(entries[ds.PatientID])
        assert step.Modality == entries[ds.PatientID].modality
        assert ds.PatientName == entries[ds.PatientID].name


@pytest.mark.parametrize("name", list(WORKLIST_CASES))
def test_worklist_console_script(peer: OrthancPeer, name: str) -> None:
    case = WORKLIST_CASES[name]
    rows = cli_find(peer, "-W", [*RETURN_KEYS, *case.keys])  # the last -k wins
    got = {json_text(row, "00100020"): json_text(row, "0020000D") for row in rows}
    assert got == expected_worklist(case)
    assert len(rows) == len(got)


async def test_worklist_odd_uid_is_nul_padded_on_the_wire(peer: OrthancPeer) -> None:
    """Orthanc pads odd-length UIDs with NUL (PS3.5 6.2); the identifier has none."""
    entry = WORKLIST[0]
    assert len(entry.study_uid) % 2 == 1
    query = Dataset()
    query.PatientID = entry.patient_id
    query.StudyInstanceUID = ""
    async with aiodicom.connect(
        "127.0.0.1", peer.dicom_port, calling_ae=OUR_AE, called_ae=ORTHANC_AE
    ) as assoc:
        results = [r async for r in assoc.find_responses(query, "worklist")]
    assert [r.status for r in results] == [0xFF00, 0x0000]
    pending = results[0]
    assert pending.raw is not None
    assert entry.study_uid.encode() + b"\x00" in pending.raw
    assert pending.identifier is not None
    assert pending.identifier.StudyInstanceUID == entry.study_uid


# -- Study Root ----------------------------------------------------------------------------


def study_query(level: str, **keys: str) -> Dataset:
    """A Study Root identifier at ``level`` (PS3.4 C.6.2)."""
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    return query


async def test_study_level(peer: OrthancPeer) -> None:
    query = study_query("STUDY", StudyInstanceUID="", StudyDate="20261102-20261103", PatientID="")
    found = await api_find(peer, query, "study")
    expected = {
        ds.StudyInstanceUID: ds.PatientID
        for ds in STUDY_DATA
        if "20261102" <= ds.StudyDate <= "20261103"
    }
    assert len(expected) == 2
    assert {ds.StudyInstanceUID: ds.PatientID for ds in found} == expected
    assert len(found) == len(expected)
    assert all(ds.QueryRetrieveLevel == "STUDY" for ds in found)


async def test_series_level(peer: OrthancPeer) -> None:
    study_uid = STUDY_DATA[-1].StudyInstanceUID
    query = study_query("SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID="", Modality="")
    found = await api_find(peer, query, "study")
    expected = {
        ds.SeriesInstanceUID: ds.Modality for ds in STUDY_DATA if ds.StudyInstanceUID == study_uid
    }
    assert len(expected) == 2
    assert {ds.SeriesInstanceUID: ds.Modality for ds in found} == expected
    assert len(found) == len(expected)


async def test_image_level(peer: OrthancPeer) -> None:
    series_uid = STUDY_DATA[5].SeriesInstanceUID
    study_uid = STUDY_DATA[5].StudyInstanceUID
    query = study_query(
        "IMAGE",
        StudyInstanceUID=study_uid,
        SeriesInstanceUID=series_uid,
        SOPInstanceUID="",
        InstanceNumber="",
    )
    found = await api_find(peer, query, "study")
    expected = {
        ds.SOPInstanceUID: ds.InstanceNumber
        for ds in STUDY_DATA
        if ds.SeriesInstanceUID == series_uid
    }
    assert len(expected) == 2
    assert {ds.SOPInstanceUID: ds.InstanceNumber for ds in found} == expected


def test_study_level_console_script(peer: OrthancPeer) -> None:
    rows = cli_find(peer, "-S", ["QueryRetrieveLevel=STUDY", "PatientID=QRP1", "StudyInstanceUID="])
    got = sorted(json_text(row, "0020000D") for row in rows)
    expected = sorted({ds.StudyInstanceUID for ds in STUDY_DATA if ds.PatientID == "QRP1"})
    assert got == expected
    assert all(len(uid) % 2 == 1 for uid in got)


# -- association negotiation --------------------------------------------------------------


async def test_called_ae_not_checked_by_default(peer: OrthancPeer) -> None:
    async with aiodicom.connect(
        "127.0.0.1", peer.dicom_port, calling_ae=OUR_AE, called_ae="SOMEONE-ELSE"
    ) as assoc:
        assert await assoc.echo() == 0x0000


async def test_called_ae_checked(tmp_path: Path) -> None:
    """DicomCheckCalledAet: a wrong called AE is rejected (PS3.8 Table 9-21 reason 7)."""
    with orthanc(tmp_path, check_called_aet=True) as strict:
        with pytest.raises(aiodicom.AssociationRejected) as info:
            async with aiodicom.connect(
                "127.0.0.1", strict.dicom_port, calling_ae=OUR_AE, called_ae="SOMEONE-ELSE"
            ):
                pass
        assert info.value.reason == 7
        async with aiodicom.connect(
            "127.0.0.1", strict.dicom_port, calling_ae=OUR_AE, called_ae=ORTHANC_AE
        ) as assoc:
            assert await assoc.echo() == 0x0000


async def test_unknown_calling_ae_may_echo_but_not_find(peer: OrthancPeer) -> None:
    """Orthanc answers C-ECHO from anyone but aborts a C-FIND from an AE that is not in
    DicomModalities (it rejects the request with an A-ABORT, PS3.8 7.3, not a status)."""
    async with aiodicom.connect(
        "127.0.0.1", peer.dicom_port, calling_ae="STRANGER", called_ae=ORTHANC_AE
    ) as assoc:
        assert await assoc.echo() == 0x0000
        with pytest.raises(aiodicom.AssociationAborted):
            await api_collect(assoc.find(worklist_query(WORKLIST_CASES["modality in SPS"])))
    assert 'AET "STRANGER"' in peer.log()


async def api_collect(stream: aiodicom.FindStream) -> list[Dataset]:
    """Every identifier of ``stream``."""
    return [ds async for ds in stream]
