"""C-STORE into aiodicom-qrscp from DCMTK storescu, pynetdicom and Orthanc; then C-FIND.

Each sender stores into an in-process QRApp (storage on, the default); what it stored is
then found by DCMTK findscu (TCP_NODELAY=1) and, for Orthanc, by Orthanc's own C-FIND
(REST ``/modalities/{id}/query``). storescu covers ``+sd`` on a whole folder and several
transfer syntaxes: implicit, explicit big endian, deflated (storescu converts on the fly)
and JPEG lossless (files compressed by dcmcjpeg, stored as received).
"""

from __future__ import annotations

import array
import asyncio
import json
import os
import shutil
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from aiodicom.testing.qr_sample import SampleShape, write_sample
from servers.qrscp.app import QRApp
from tests.interop.orthanc_peer import orthanc, requires_orthanc
from tests.qr.helpers import run_findscu, running_app

pytestmark = pytest.mark.interop
STORESCU = "/usr/bin/storescu"
DCMCJPEG = "/usr/bin/dcmcjpeg"
DCMCONV = "/usr/bin/dcmconv"
SHAPE = SampleShape(patients=3, studies_per_patient=2, series_per_study=2, instances_per_series=3)
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
SYNTAXES = {
    "-xi": "1.2.840.10008.1.2",
    "-xe": "1.2.840.10008.1.2.1",
    "-xb": "1.2.840.10008.1.2.2",
    "-xd": "1.2.840.10008.1.2.1.99",
}


@pytest.fixture
async def app(tmp_path: Path, qr_index: str | Path) -> AsyncIterator[QRApp]:
    """An in-process server on each index backend (the ``qr_index`` fixture)."""
    data = tmp_path / "data"
    data.mkdir()
    async with running_app(data, qr_index) as started:
        yield started


def sample(tmp_path: Path, shape: SampleShape = SHAPE) -> Path:
    folder = tmp_path / "to-send"
    folder.mkdir()
    write_sample(folder, shape, time_limit=60)
    return folder


async def run(args: Sequence[str], seconds: float = 120.0) -> tuple[int, str]:
    """A DCMTK tool with TCP_NODELAY=1; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, TCP_NODELAY="1"),
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode("latin-1")


async def storescu(port: int, *options: str, files: Sequence[Path]) -> str:
    args = [STORESCU, "-aec", "QRSCP", *options, "127.0.0.1", str(port), *map(str, files)]
    code, out = await run(args)
    assert code == 0, out
    return out


async def images_found(port: int, tmp_path: Path, files: Sequence[Dataset]) -> int:
    """SOP Instances DCMTK findscu finds (Study Root, IMAGE level, series by series)."""
    found = 0
    series = {(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)) for ds in files}
    for study_uid, series_uid in sorted(series):
        result = await run_findscu(
            port,
            "-S",
            [
                "QueryRetrieveLevel=IMAGE",
                f"StudyInstanceUID={study_uid}",
                f"SeriesInstanceUID={series_uid}",
                "SOPInstanceUID",
            ],
            tmp_path / "rsp",
        )
        assert result.final == "Success", result.output
        found += len(result.responses)
    return found


def stored_syntaxes(app: QRApp) -> set[str]:
    return {
        str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        for path in app.received.root.rglob("*.dcm")
    }


async def test_storescu_sends_a_whole_folder(app: QRApp, tmp_path: Path) -> None:
    folder = sample(tmp_path)
    await storescu(app.port, "+sd", "+r", files=[folder])
    files = [dcmread(p) for p in sorted(folder.rglob("*.dcm"))]
    assert len(files) == SHAPE.total_instances
    assert await images_found(app.port, tmp_path, files) == SHAPE.total_instances
    studies = await run_findscu(
        app.port, "-S", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"], tmp_path / "rsp"
    )
    assert len(studies.responses) == SHAPE.patients * SHAPE.studies_per_patient
    for path in folder.rglob("*.dcm"):  # the data set is stored exactly as sent
        ds = dcmread(path)
        stored = app.received.root / ds.StudyInstanceUID / ds.SeriesInstanceUID
        received = (stored / f"{ds.SOPInstanceUID}.dcm").read_bytes()
        assert received.endswith(path.read_bytes()[-200:])


@pytest.mark.parametrize("flag", sorted(SYNTAXES))
async def test_storescu_transfer_syntaxes(app: QRApp, tmp_path: Path, flag: str) -> None:
    shape = SampleShape(
        patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=3
    )
    folder = sample(tmp_path, shape)
    if flag == "-xb":  # storescu prefers a file's own syntax: make the files big endian
        for path in folder.rglob("*.dcm"):
            code, out = await run([DCMCONV, "+tb", str(path), str(path)])
            assert code == 0, out
    await storescu(app.port, flag, "+sd", "+r", files=[folder])
    assert stored_syntaxes(app) == {SYNTAXES[flag]}
    files = [dcmread(p) for p in folder.rglob("*.dcm")]
    assert await images_found(app.port, tmp_path, files) == 3


def image(index: int, study: str, series: str) -> Dataset:
    """A small 16-bit monochrome image, so that dcmcjpeg has pixels to compress."""
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID = "Jpeg^Patient", "JPEG1"
    ds.StudyDate, ds.Modality, ds.InstanceNumber = "20260101", "OT", index
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = array.array("H", [i * (index + 1) % 4096 for i in range(256)]).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


@pytest.mark.skipif(not Path(DCMCJPEG).exists(), reason="DCMTK dcmcjpeg missing")
async def test_storescu_jpeg_lossless_files_are_stored_as_received(
    app: QRApp, tmp_path: Path
) -> None:
    folder = tmp_path / "jpeg"
    folder.mkdir()
    study, series = generate_uid(), generate_uid()
    for index in range(3):
        plain = tmp_path / f"plain{index}.dcm"
        image(index, study, series).save_as(plain, enforce_file_format=True)
        code, out = await run([DCMCJPEG, str(plain), str(folder / f"j{index}.dcm")])
        assert code == 0, out
    await storescu(app.port, "-xs", "+sd", files=[folder])  # propose JPEG lossless
    assert stored_syntaxes(app) == {"1.2.840.10008.1.2.4.70"}  # JPEG lossless SV1
    for path in folder.glob("*.dcm"):
        sent = dcmread(path)
        stored = app.received.root / study / series / f"{sent.SOPInstanceUID}.dcm"
        assert dcmread(stored).PixelData == sent.PixelData  # compressed bytes, untouched
    files = [dcmread(p) for p in folder.glob("*.dcm")]
    assert await images_found(app.port, tmp_path, files) == 3


def pynetdicom_store(port: int, files: Sequence[Dataset]) -> list[int]:
    """pynetdicom's send_c_store of each data set on one association: the statuses."""
    from pynetdicom import AE

    ae = AE(ae_title="PYNETDICOM")
    for uid in sorted({str(ds.SOPClassUID) for ds in files}):
        ae.add_requested_context(uid, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="QRSCP")
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in files]
    finally:
        assoc.release()


async def test_pynetdicom_send_c_store(app: QRApp, tmp_path: Path) -> None:
    folder = sample(tmp_path)
    files = [dcmread(p) for p in sorted(folder.rglob("*.dcm"))]
    statuses = await asyncio.to_thread(pynetdicom_store, app.port, files)
    assert statuses == [0] * len(files)
    assert await images_found(app.port, tmp_path, files) == len(files)


def rest(port: int, method: str, path: str, body: Any = None) -> Any:
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


@requires_orthanc
async def test_orthanc_stores_to_us_and_queries_us(app: QRApp, tmp_path: Path) -> None:
    folder = sample(tmp_path)
    files = sorted(folder.rglob("*.dcm"))
    ours = {"QRSCP": ["QRSCP", "127.0.0.1", app.port]}
    with orthanc(tmp_path / "orthanc", extra_modalities=ours) as peer:
        http = peer.http_port

        def send_and_query() -> tuple[Any, list[Any]]:
            ids = [rest(http, "POST", "/instances", p.read_bytes())["ID"] for p in files]
            sent = rest(http, "POST", "/modalities/QRSCP/store", {"Resources": ids})
            query = {"Level": "Study", "Query": {"PatientID": "*", "StudyInstanceUID": ""}}
            found = rest(http, "POST", "/modalities/QRSCP/query", query)
            answers = rest(http, "GET", f"/queries/{found['ID']}/answers?expand")
            return sent, answers

        sent, answers = await asyncio.to_thread(send_and_query)
    assert sent["InstancesCount"] == len(files) and sent["FailedInstancesCount"] == 0
    assert len(answers) == SHAPE.patients * SHAPE.studies_per_patient
    datasets = [dcmread(p) for p in files]
    assert await images_found(app.port, tmp_path, datasets) == len(files)
    shutil.rmtree(tmp_path / "orthanc", ignore_errors=True)


@requires_orthanc
async def test_orthanc_finds_what_storescu_and_pynetdicom_stored(
    app: QRApp, tmp_path: Path
) -> None:
    """The other senders' instances, found by Orthanc's C-FIND (REST
    ``/modalities/{id}/query``) at STUDY and at SERIES level."""
    by_storescu = sample(tmp_path)
    await storescu(app.port, "+sd", "+r", files=[by_storescu])
    other = tmp_path / "pynetdicom"
    other.mkdir()
    shape = SampleShape(1, 1, 2, 2, seed=2)  # other patients and UIDs than SHAPE's
    write_sample(other, shape, time_limit=60)
    datasets = [dcmread(p) for p in sorted(other.rglob("*.dcm"))]
    assert await asyncio.to_thread(pynetdicom_store, app.port, datasets) == [0] * len(datasets)
    sent = [dcmread(p) for p in sorted(by_storescu.rglob("*.dcm"))] + datasets
    ours = {"QRSCP": ["QRSCP", "127.0.0.1", app.port]}
    with orthanc(tmp_path / "orthanc", extra_modalities=ours) as peer:

        def uids(level: str, key: str, **match: str) -> set[str]:
            query = {"Level": level, "Query": {"PatientID": "*", **match, key: ""}}
            found = rest(peer.http_port, "POST", "/modalities/QRSCP/query", query)
            answers = rest(peer.http_port, "GET", f"/queries/{found['ID']}/answers?expand")
            return {answer[_TAGS[key]]["Value"] for answer in answers}

        def study_and_series_uids() -> tuple[set[str], set[str]]:
            studies = uids("Study", "StudyInstanceUID")
            series: set[str] = set()
            for study in sorted(studies):  # SERIES level names its study (PS3.4 C.4.1.2.1)
                series |= uids("Series", "SeriesInstanceUID", StudyInstanceUID=study)
            return studies, series

        studies, series = await asyncio.to_thread(study_and_series_uids)
    assert studies == {str(ds.StudyInstanceUID) for ds in sent}
    assert series == {str(ds.SeriesInstanceUID) for ds in sent}
    shutil.rmtree(tmp_path / "orthanc", ignore_errors=True)


_TAGS = {"StudyInstanceUID": "0020,000d", "SeriesInstanceUID": "0020,000e"}
