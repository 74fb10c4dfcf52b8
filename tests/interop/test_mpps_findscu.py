"""DCMTK findscu sees what MPPS does to the worklist: the step's Scheduled Procedure Step
Status (0040,0020) turns STARTED on N-CREATE IN PROGRESS; on N-SET COMPLETED the step
leaves the worklist, or (``keep_final``) is answered with its final status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import aiodicom
from tests.interop.worklist_peers import FINDSCU, findscu
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    create_attributes,
    final_attributes,
    make_worklist,
    mpps_stack,
    scheduled_step,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which(FINDSCU) is None, reason="DCMTK findscu not installed"),
]
KEYS = ["PatientID=MPPS0002", "PatientName", "(0040,0100)[0].ScheduledProcedureStepStatus"]


async def _states(port: int, out: Path) -> list[str]:
    responses, log = await findscu(port, KEYS, out)
    assert "Final Find Response (Success)" in log, log
    steps = [ds.ScheduledProcedureStepSequence[0] for ds in responses]
    return [str(step.ScheduledProcedureStepStatus) for step in steps]


@pytest.mark.parametrize("keep_final", [False, True])
async def test_findscu_sees_started_then_gone_or_final(tmp_path: Path, keep_final: bool) -> None:
    make_worklist(tmp_path / "data", 3)
    async with mpps_stack(tmp_path / "data", keep_final=keep_final) as stack:
        port = stack.server.port
        assert await _states(port, tmp_path / "f0") == [""]
        async with aiodicom.connect(
            "127.0.0.1", port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
        ) as assoc:
            await assoc.n_create(MPPS_SOP_CLASS, "1.2.10.1", create_attributes(scheduled_step(2)))
            assert await _states(port, tmp_path / "f1") == ["STARTED"]
            await assoc.n_set(MPPS_SOP_CLASS, "1.2.10.1", final_attributes())
        final = await _states(port, tmp_path / "f2")
    assert final == (["COMPLETED"] if keep_final else [])
