"""DCMTK findscu (-P, -S, -O) against aiodicom-qrscp at every level of every model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from servers.qrscp.app import QRApp
from tests.qr.helpers import make_folder, run_findscu, running_app

pytestmark = pytest.mark.interop
PID = "PID000002"


@pytest.fixture
async def app(tmp_path: Path, qr_index: str | Path) -> AsyncIterator[QRApp]:
    async with running_app(make_folder(tmp_path), qr_index) as started:
        yield started


async def test_patient_root_every_level(app: QRApp, tmp_path: Path) -> None:
    out = tmp_path / "rsp"
    patients = await run_findscu(
        app.port,
        "-P",
        ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientName", "NumberOfPatientRelatedStudies"],
        out,
    )
    assert patients.final == "Success", patients.output
    assert len(patients.responses) == 4
    assert {int(r.NumberOfPatientRelatedStudies) for r in patients.responses} == {2}
    studies = await run_findscu(
        app.port,
        "-P",
        ["QueryRetrieveLevel=STUDY", f"PatientID={PID}", "StudyInstanceUID", "StudyDate"],
        out,
    )
    assert studies.final == "Success" and len(studies.responses) == 2
    study = str(studies.responses[0].StudyInstanceUID)
    series = await run_findscu(
        app.port,
        "-P",
        [
            "QueryRetrieveLevel=SERIES",
            f"PatientID={PID}",
            f"StudyInstanceUID={study}",
            "SeriesInstanceUID",
            "Modality",
        ],
        out,
    )
    assert series.final == "Success" and len(series.responses) == 2
    images = await run_findscu(
        app.port,
        "-P",
        [
            "QueryRetrieveLevel=IMAGE",
            f"PatientID={PID}",
            f"StudyInstanceUID={study}",
            f"SeriesInstanceUID={series.responses[0].SeriesInstanceUID}",
            "SOPInstanceUID",
            "InstanceNumber",
        ],
        out,
    )
    assert images.final == "Success" and len(images.responses) == 2
    missing = await run_findscu(
        app.port, "-P", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"], out
    )
    assert missing.final.startswith("Failed") and missing.responses == []


async def test_study_root_every_level(app: QRApp, tmp_path: Path) -> None:
    out = tmp_path / "rsp"
    studies = await run_findscu(
        app.port,
        "-S",
        ["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName=doe*", "ModalitiesInStudy"],
        out,
    )
    assert studies.final == "Success" and len(studies.responses) == 2
    assert all(str(r.PatientName).startswith("Doe") for r in studies.responses)
    study = str(studies.responses[0].StudyInstanceUID)
    series = await run_findscu(
        app.port,
        "-S",
        [
            "QueryRetrieveLevel=SERIES",
            f"StudyInstanceUID={study}",
            "SeriesInstanceUID",
            "NumberOfSeriesRelatedInstances",
        ],
        out,
    )
    assert series.final == "Success" and len(series.responses) == 2
    assert {int(r.NumberOfSeriesRelatedInstances) for r in series.responses} == {2}
    images = await run_findscu(
        app.port,
        "-S",
        [
            "QueryRetrieveLevel=IMAGE",
            f"StudyInstanceUID={study}",
            f"SeriesInstanceUID={series.responses[1].SeriesInstanceUID}",
            "SOPInstanceUID",
        ],
        out,
    )
    assert images.final == "Success" and len(images.responses) == 2
    wrong = await run_findscu(app.port, "-S", ["QueryRetrieveLevel=PATIENT", "PatientID"], out)
    assert wrong.final == "Error: DataSetDoesNotMatchSOPClass"


async def test_patient_study_only(app: QRApp, tmp_path: Path) -> None:
    out = tmp_path / "rsp"
    patients = await run_findscu(app.port, "-O", ["QueryRetrieveLevel=PATIENT", "PatientID"], out)
    assert patients.final == "Success" and len(patients.responses) == 4
    studies = await run_findscu(
        app.port,
        "-O",
        [
            "QueryRetrieveLevel=STUDY",
            f"PatientID={PID}",
            "StudyInstanceUID",
            "NumberOfStudyRelatedInstances",
        ],
        out,
    )
    assert studies.final == "Success" and len(studies.responses) == 2
    assert {int(r.NumberOfStudyRelatedInstances) for r in studies.responses} == {4}
    series = await run_findscu(
        app.port,
        "-O",
        [
            "QueryRetrieveLevel=SERIES",
            f"PatientID={PID}",
            f"StudyInstanceUID={studies.responses[0].StudyInstanceUID}",
        ],
        out,
    )
    assert series.final == "Error: DataSetDoesNotMatchSOPClass" and series.responses == []


async def test_implicit_and_big_endian_transfer_syntaxes(app: QRApp, tmp_path: Path) -> None:
    out = tmp_path / "rsp"
    for flag in ("-xi", "-xb"):
        result = await run_findscu(
            app.port,
            "-S",
            ["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName"],
            out,
            extra=[flag],
        )
        assert result.final == "Success", result.output
        assert len(result.responses) == 8
