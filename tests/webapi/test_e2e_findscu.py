"""End to end: API writes seen by DCMTK findscu -W; hand-written files seen by the API;
findscu queries seen in /api/queries (with near misses for zero-match queries)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import aiohttp
import pytest

from tests.interop.worklist_peers import FINDSCU, findscu
from tests.webapi.helpers import WRITE, flat_item, make_data, today_da
from tests.webapi.stack import Stack, worklist_stack

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which(FINDSCU) is None, reason="DCMTK findscu not installed"),
]


async def _find_patient(stack: Stack, patient_id: str, out: Path) -> list[str]:
    keys = [f"PatientID={patient_id}", "PatientName", "(0040,0100)[0].Modality"]
    responses, log = await findscu(stack.dicom_port, keys, out, "-aet", "CT01")
    assert "Final Find Response (Success)" in log, log
    return [str(ds.PatientName) for ds in responses]


async def _wait_for(check: object, seconds: float) -> float:
    """Poll the async ``check`` until it is true; return the seconds it took."""
    started = time.perf_counter()
    for _ in range(200):
        if await check():  # type: ignore[operator]
            return time.perf_counter() - started
        if time.perf_counter() - started > seconds:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


async def test_post_then_findscu_then_delete(tmp_path: Path) -> None:
    make_data(tmp_path, 4)
    async with worklist_stack(tmp_path) as stack, aiohttp.ClientSession(stack.base) as http:
        started = time.perf_counter()
        body = flat_item(id="e2e-1", patient_id="E2E0001", patient_name="Endtoend^Eve")
        async with http.post("/api/items", json=body, headers=WRITE) as response:
            assert response.status == 201
            etag = response.headers["ETag"]
        names = await _find_patient(stack, "E2E0001", tmp_path / "f1")
        assert names == ["Endtoend^Eve"]
        assert time.perf_counter() - started < 1.0
        async with http.delete("/api/items/e2e-1", headers={**WRITE, "If-Match": etag}) as gone:
            assert gone.status == 204
        assert await _find_patient(stack, "E2E0001", tmp_path / "f2") == []


async def test_hand_written_file_reaches_api_and_findscu(tmp_path: Path) -> None:
    make_data(tmp_path, 2)
    async with worklist_stack(tmp_path) as stack, aiohttp.ClientSession(stack.base) as http:
        (tmp_path / "WLMSCP" / "hand-1.yaml").write_text(
            "PatientName: Byhand^Hank\nPatientID: HAND0001\nScheduledProcedureStepSequence:\n"
            f"  - Modality: MR\n    ScheduledProcedureStepStartDate: '{today_da()}'\n",
            encoding="utf-8",
        )

        async def listed() -> bool:
            async with http.get("/api/items", params={"patient": "HAND0001"}) as response:
                return [i["id"] for i in (await response.json())["items"]] == ["hand-1"]

        took = await _wait_for(listed, 2.0)
        assert took < 1.0
        assert await _find_patient(stack, "HAND0001", tmp_path / "f") == ["Byhand^Hank"]
        (tmp_path / "WLMSCP" / "hand-1.yaml").unlink()

        async def removed() -> bool:
            async with http.get("/api/items/hand-1") as response:
                return response.status == 404

        await _wait_for(removed, 2.0)


async def test_queries_panel_data(tmp_path: Path) -> None:
    make_data(tmp_path, 5)
    async with worklist_stack(tmp_path) as stack, aiohttp.ClientSession(stack.base) as http:
        await _find_patient(stack, "PID0000001", tmp_path / "a")
        await _find_patient(stack, "NOBODY", tmp_path / "b")
        async with http.get("/api/queries") as response:
            queries = (await response.json())["queries"]
        assert [q["matches"] for q in queries] == [0, 1]  # newest first
        zero, hit = queries
        assert hit["calling_ae"] == "CT01" and hit["peer"].startswith("127.0.0.1:")
        assert hit["keys"] == {"PatientID": "PID0000001"}
        assert "PatientName" in hit["return_keys"] and hit["status"] == "0x0000"
        assert hit["near_misses"] is None and hit["ms"] >= 0
        assert zero["near_misses"], zero
        assert all("PatientID" in near["reason"] for near in zero["near_misses"])
        async with http.get("/api/queries", params={"since": str(zero["seq"])}) as response:
            assert (await response.json())["queries"] == []
