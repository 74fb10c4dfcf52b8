"""Differential test: aiodicom-qrscp and DCMTK dcmqrscp answer the same findscu queries.

Both servers index the same files. Responses are compared as sets (order is free, PS3.4
C.4.1.3) on the keys both return. The known departures (docs/qrscp.md) are each pinned
by their own test below, so the documentation stays true.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from aiodicom.config import MatchingSection
from servers.qrscp.app import QRApp
from tests.clients.peers import free_port, stop_process, write_dcmqrscp_config
from tests.qr.helpers import FindscuResult, app_config, make_folder, run_findscu, running_app

pytestmark = pytest.mark.interop
RETRIEVE_AE_TITLE = 0x00080054
SPECIFIC_CHARACTER_SET = 0x00080005
PID = "PID000001"
STUDY = "1.2.826.0.1.3680043.10.1234.1.1.0"
SERIES = "1.2.826.0.1.3680043.10.1234.1.1.0.1"

# (model flag, keys): queries where both servers must agree exactly.
SAME: list[tuple[str, list[str]]] = [
    ("-P", ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientName", "PatientBirthDate"]),
    ("-P", ["QueryRetrieveLevel=PATIENT", "PatientID=PID00000*", "PatientSex=F"]),
    ("-P", ["QueryRetrieveLevel=STUDY", f"PatientID={PID}", "StudyInstanceUID", "StudyDate"]),
    ("-P", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]),
    (
        "-P",
        [
            "QueryRetrieveLevel=SERIES",
            f"PatientID={PID}",
            f"StudyInstanceUID={STUDY}",
            "SeriesInstanceUID",
            "Modality",
            "SeriesNumber",
        ],
    ),
    (
        "-P",
        [
            "QueryRetrieveLevel=IMAGE",
            f"PatientID={PID}",
            f"StudyInstanceUID={STUDY}",
            f"SeriesInstanceUID={SERIES}",
            "SOPInstanceUID",
            "InstanceNumber",
        ],
    ),
    (
        "-S",
        [
            "QueryRetrieveLevel=STUDY",
            "StudyInstanceUID",
            "PatientName",
            "StudyDate",
            "AccessionNumber",
            "StudyID",
            "StudyDescription",
            "ReferringPhysicianName",
        ],
    ),
    ("-S", ["QueryRetrieveLevel=STUDY", "StudyDate=20200101-", "StudyInstanceUID"]),
    ("-S", ["QueryRetrieveLevel=STUDY", "StudyDate=-20191231", "StudyTime", "StudyInstanceUID"]),
    ("-S", ["QueryRetrieveLevel=STUDY", "AccessionNumber=ACC00001*", "StudyInstanceUID"]),
    ("-S", ["QueryRetrieveLevel=STUDY", "PatientName=Doe*", "StudyInstanceUID"]),
    ("-S", ["QueryRetrieveLevel=STUDY", "PatientName=*^Anna", "PatientID"]),
    ("-S", ["QueryRetrieveLevel=STUDY", "StudyDescription=HEAD", "StudyInstanceUID"]),
    (
        "-S",
        [
            "QueryRetrieveLevel=STUDY",
            f"StudyInstanceUID={STUDY}\\1.2.826.0.1.3680043.10.1234.1.2.1",
        ],
    ),
    (
        "-S",
        [
            "QueryRetrieveLevel=SERIES",
            f"StudyInstanceUID={STUDY}",
            "SeriesInstanceUID",
            "Modality=M?",
            "SeriesDescription",
        ],
    ),
    (
        "-S",
        [
            "QueryRetrieveLevel=IMAGE",
            f"StudyInstanceUID={STUDY}",
            f"SeriesInstanceUID={SERIES}",
            "SOPInstanceUID",
            "InstanceNumber=2",
        ],
    ),
    ("-S", ["QueryRetrieveLevel=SERIES", "SeriesInstanceUID"]),
    ("-S", ["SeriesInstanceUID"]),
    ("-O", ["QueryRetrieveLevel=PATIENT", "PatientName=*a*", "PatientID"]),
    ("-O", ["QueryRetrieveLevel=STUDY", f"PatientID={PID}", "StudyInstanceUID", "StudyID"]),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("diff"))


@pytest.fixture(scope="module")
def dcmqrscp(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """DCMTK dcmqrscp in the foreground on a free port, indexed with dcmqridx."""
    root = tmp_path_factory.mktemp("dcmqrscp")
    storage = root / "db"
    storage.mkdir()
    files = sorted(str(p.resolve()) for p in folder.rglob("*.dcm"))
    subprocess.run(["/usr/bin/dcmqridx", str(storage), *files], check=True, timeout=60)
    port = free_port()
    config = write_dcmqrscp_config(root / "dcmqrscp.cfg", port, "QRSCP", storage)
    env = dict(os.environ, TCP_NODELAY="1")
    proc = subprocess.Popen(
        ["/usr/bin/dcmqrscp", "-c", str(config), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port)
        yield port
    finally:
        stop_process(proc)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("dcmqrscp did not start listening")


@pytest.fixture
async def ours(folder: Path, qr_index: str | Path) -> AsyncIterator[QRApp]:
    async with running_app(folder, qr_index, watch=False) as app:
        yield app


def _text(elem_value: object) -> str:
    if isinstance(elem_value, list | tuple) or type(elem_value).__name__ == "MultiValue":
        return "\\".join(str(v).strip() for v in elem_value)  # type: ignore[attr-defined]
    return "" if elem_value is None else str(elem_value).strip()


def _view(ds: Dataset, keys: set[int]) -> tuple[tuple[int, str], ...]:
    return tuple(sorted((int(e.tag), _text(e.value)) for e in ds if int(e.tag) in keys))


def _returned_keys(result: FindscuResult) -> set[int]:
    keys: set[int] = set()
    for ds in result.responses:
        keys |= {int(e.tag) for e in ds}
    return keys - {RETRIEVE_AE_TITLE, SPECIFIC_CHARACTER_SET}


def compare(a: FindscuResult, b: FindscuResult) -> None:
    assert a.final == b.final, (a.output, b.output)
    common = _returned_keys(a) & _returned_keys(b)
    assert sorted(_view(d, common) for d in a.responses) == sorted(
        _view(d, common) for d in b.responses
    )


@pytest.mark.parametrize(("flag", "keys"), SAME, ids=[f"{f}{i}" for i, (f, _) in enumerate(SAME)])
async def test_same_answers(
    ours: QRApp, dcmqrscp: int, tmp_path: Path, flag: str, keys: list[str]
) -> None:
    mine = await run_findscu(ours.port, flag, keys, tmp_path / "ours")
    theirs = await run_findscu(dcmqrscp, flag, keys, tmp_path / "dcmtk")
    compare(mine, theirs)
    assert mine.final in (
        "Success",
        "Failed: UnableToProcess",
        "Error: DataSetDoesNotMatchSOPClass",
    )


async def test_departure_pn_case(ours: QRApp, dcmqrscp: int, tmp_path: Path) -> None:
    """dcmqrscp matches PN case-sensitively; we don't by default (PS3.4 C.2.2.2.1)."""
    keys = ["QueryRetrieveLevel=STUDY", "PatientName=doe*", "StudyInstanceUID"]
    mine = await run_findscu(ours.port, "-S", keys, tmp_path / "ours")
    theirs = await run_findscu(dcmqrscp, "-S", keys, tmp_path / "dcmtk")
    assert len(theirs.responses) == 0 and len(mine.responses) == 2


async def test_pn_case_sensitive_option_agrees(
    folder: Path, dcmqrscp: int, tmp_path: Path, qr_index: str | Path
) -> None:
    config = dataclasses.replace(
        app_config(folder, qr_index, watch=False),
        matching=MatchingSection(pn_case_sensitive=True),
    )
    app = QRApp(config)
    await app.start("127.0.0.1", 0)
    try:
        keys = ["QueryRetrieveLevel=STUDY", "PatientName=doe*", "StudyInstanceUID"]
        compare(
            await run_findscu(app.port, "-S", keys, tmp_path / "ours"),
            await run_findscu(dcmqrscp, "-S", keys, tmp_path / "dcmtk"),
        )
    finally:
        await app.stop()


async def test_departure_computed_keys(ours: QRApp, dcmqrscp: int, tmp_path: Path) -> None:
    """dcmqrscp drops ModalitiesInStudy, SOPClassesInStudy and the Number of ... keys."""
    keys = [
        "QueryRetrieveLevel=STUDY",
        f"PatientID={PID}",
        "StudyInstanceUID",
        "ModalitiesInStudy",
        "SOPClassesInStudy",
        "NumberOfStudyRelatedInstances",
    ]
    mine = await run_findscu(ours.port, "-S", keys, tmp_path / "ours")
    theirs = await run_findscu(dcmqrscp, "-S", keys, tmp_path / "dcmtk")
    compare(mine, theirs)
    assert all("ModalitiesInStudy" not in d for d in theirs.responses)
    assert all(d.ModalitiesInStudy and d.NumberOfStudyRelatedInstances == 4 for d in mine.responses)


async def test_departure_patient_study_only_series(
    ours: QRApp, dcmqrscp: int, tmp_path: Path
) -> None:
    """dcmqrscp answers a SERIES query on Patient/Study Only; the model has no such level."""
    keys = ["QueryRetrieveLevel=SERIES", f"PatientID={PID}", f"StudyInstanceUID={STUDY}"]
    mine = await run_findscu(ours.port, "-O", keys, tmp_path / "ours")
    theirs = await run_findscu(dcmqrscp, "-O", keys, tmp_path / "dcmtk")
    assert theirs.final == "Success" and len(theirs.responses) == 2
    assert mine.final == "Error: DataSetDoesNotMatchSOPClass"


async def test_cases_are_not_vacuous(ours: QRApp, tmp_path: Path) -> None:
    """Most SAME queries must return responses, so agreement means something."""
    empty = []
    for index, (flag, keys) in enumerate(SAME):
        result = await run_findscu(ours.port, flag, keys, tmp_path / "ours")
        if result.final == "Success" and not result.responses:
            empty.append(index)
    assert len(empty) <= 2, empty
