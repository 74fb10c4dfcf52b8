"""pynetdicom's SCU against our worklist SCP (the SCU runs in a worker thread)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from aiodicom.worklist.sample import write_folder
from tests.interop.worklist_peers import our_scp

pytestmark = pytest.mark.interop


def _pynetdicom_query(port: int, query: Dataset) -> list[tuple[int, Dataset | None]]:
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="WLMSCP")
    assert assoc.is_established
    try:
        return [
            (int(status.Status), identifier)
            for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind)
        ]
    finally:
        assoc.release()


async def test_pynetdicom_scu_modality_query(tmp_path: Path) -> None:
    write_folder(tmp_path, "WLMSCP", 40, seed=4)
    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    step = Dataset()
    step.Modality = "MR"
    step.ScheduledProcedureStepStartDate = "20261125-20261127"
    query.ScheduledProcedureStepSequence = [step]
    async with our_scp(tmp_path) as server:
        results = await asyncio.to_thread(_pynetdicom_query, server.port, query)
    assert results[-1][0] == 0x0000
    pending = [identifier for status, identifier in results if status == 0xFF00]
    assert pending and all(identifier is not None for identifier in pending)
    for identifier in pending:
        assert identifier is not None
        for item in identifier.ScheduledProcedureStepSequence:
            assert item.Modality == "MR"
            assert "20261125" <= item.ScheduledProcedureStepStartDate <= "20261127"
