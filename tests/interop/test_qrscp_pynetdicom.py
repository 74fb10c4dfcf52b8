"""pynetdicom's SCU and our own client against aiodicom-qrscp; live folder changes."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

import aiodicom
from aiodicom.testing.qr_sample import SampleShape, write_sample
from servers.qrscp.app import QRApp
from tests.qr.helpers import PATIENT_ROOT, STUDY_ROOT, make_folder, query, run_findscu, running_app

pytestmark = pytest.mark.interop


def pynetdicom_find(
    port: int, model: str, ds: Dataset, relational: bool = False
) -> tuple[int, list[Dataset]]:
    """Blocking pynetdicom C-FIND; returns (final status, identifiers)."""
    ae = AE(ae_title="PYNETDICOM")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 15
    ae.requested_contexts = [build_context(model)]
    ext: list[Any] = []
    if relational:
        item = SOPClassExtendedNegotiation()
        item.sop_class_uid = model
        item.service_class_application_information = b"\x01"
        ext.append(item)
    assoc = ae.associate("127.0.0.1", port, ae_title="QRSCP", ext_neg=ext)
    assert assoc.is_established
    found: list[Dataset] = []
    final = -1
    try:
        for status, identifier in assoc.send_c_find(ds, model):
            assert status is not None
            if status.Status in (0xFF00, 0xFF01):
                assert identifier is not None
                found.append(identifier)
            else:
                final = int(status.Status)
        accepted = [
            x for x in assoc.acceptor.user_information if isinstance(x, SOPClassExtendedNegotiation)
        ]
        if relational:
            info = accepted[0].service_class_application_information if accepted else None
            assert info is not None and info[0] == 1
    finally:
        assoc.release()
    return final, found


@pytest.fixture
async def folder(tmp_path: Path) -> Path:
    return await asyncio.to_thread(make_folder, tmp_path)


@pytest.fixture
async def app(folder: Path, tmp_path: Path, qr_index: str | Path) -> AsyncIterator[QRApp]:
    (folder / "corrupt.dcm").write_bytes(b"\x00" * 132 + b"garbage that is not a data set")
    async with running_app(folder, qr_index, poll_interval=0.1) as started:
        yield started


async def test_pynetdicom_patient_and_study_root(app: QRApp) -> None:
    ds = query("STUDY", StudyInstanceUID="", PatientName="", NumberOfStudyRelatedSeries="")
    status, studies = await asyncio.to_thread(pynetdicom_find, app.port, STUDY_ROOT, ds)
    assert status == 0x0000 and len(studies) == 8
    assert {int(s.NumberOfStudyRelatedSeries) for s in studies} == {2}
    ds = query("STUDY", StudyInstanceUID="")
    status, none = await asyncio.to_thread(pynetdicom_find, app.port, PATIENT_ROOT, ds)
    assert status == 0xC001 and none == []


async def test_pynetdicom_relational_negotiated(app: QRApp) -> None:
    ds = query("IMAGE", SOPInstanceUID="", PatientID="PID000003")
    status, images = await asyncio.to_thread(pynetdicom_find, app.port, PATIENT_ROOT, ds, True)
    assert status == 0x0000 and len(images) == 8
    assert all(i.PatientID == "PID000003" for i in images)


async def test_corrupt_file_skipped(app: QRApp) -> None:
    assert (await asyncio.to_thread(app.store.counts))["instance"] == 32


async def test_leaving_early_then_querying_again(app: QRApp) -> None:
    """C-CANCEL after 3 responses (or Success if all were already sent), then a full query."""
    ds = query("IMAGE", SOPInstanceUID="")
    async with aiodicom.connect(
        "127.0.0.1",
        app.port,
        called_ae="QRSCP",
        models=["study"],
        extended_negotiation={"study": b"\x01"},
    ) as assoc:
        stream = assoc.find(ds, "study")
        got = 0
        async for _item in stream:
            got += 1
            if got == 3:
                break
        await stream.aclose()
        assert stream.status in (0xFE00, 0x0000)
        count = 0
        async for _item in assoc.find(ds, "study"):
            count += 1
        assert count == 32


async def _eventually(
    check: Callable[[], asyncio.Future[bool] | bool], within: float = 10.0
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


async def test_files_added_and_removed_while_running(
    app: QRApp, folder: Path, tmp_path: Path
) -> None:
    keys = ["QueryRetrieveLevel=PATIENT", "PatientID"]

    async def patients() -> int:
        return len((await run_findscu(app.port, "-P", keys, tmp_path / "rsp")).responses)

    assert await patients() == 4
    shape = SampleShape(
        patients=2, studies_per_patient=1, series_per_study=1, instances_per_series=2, seed=3
    )
    await asyncio.to_thread(write_sample, folder / "incoming", shape)

    async def six() -> bool:
        return await patients() == 6

    await _eventually(lambda: asyncio.ensure_future(six()))
    await asyncio.to_thread(shutil.rmtree, folder / "PID000000")
    await asyncio.to_thread(
        os.remove, folder / "incoming" / "P3-000000" / "st00" / "se00" / "im0000.dcm"
    )

    async def settled() -> bool:
        return await patients() == 5

    await _eventually(lambda: asyncio.ensure_future(settled()))
    counts = await asyncio.to_thread(app.store.counts)
    assert counts["instance"] == 32 - 8 + 4 - 1
