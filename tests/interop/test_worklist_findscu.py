"""DCMTK findscu -W against our worklist SCP (real peer, started by the test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aiodicom.worklist.sample import write_folder
from tests.interop.worklist_peers import FINDSCU, findscu, our_scp

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which(FINDSCU) is None, reason="DCMTK findscu not installed"),
]
RETURN_KEYS = ["PatientName", "PatientID", "AccessionNumber",
               "(0040,0100)[0].ScheduledProcedureStepStartDate"]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mwl")
    write_folder(root, "WLMSCP", 80, seed=7)
    return root


async def test_sequence_modality_key(data: Path, tmp_path: Path) -> None:
    async with our_scp(data) as server:
        keys = ["(0040,0100)[0].Modality=CT", *RETURN_KEYS]
        responses, log = await findscu(server.port, keys, tmp_path)
    assert "Final Find Response (Success)" in log
    assert responses
    for ds in responses:
        assert [step.Modality for step in ds.ScheduledProcedureStepSequence] == ["CT"] * len(
            ds.ScheduledProcedureStepSequence
        )


async def test_date_range_inside_sequence(data: Path, tmp_path: Path) -> None:
    async with our_scp(data) as server:
        keys = ["(0040,0100)[0].ScheduledProcedureStepStartDate=20261126-20261127",
                "PatientName", "PatientID"]  # fmt: skip
        responses, log = await findscu(server.port, keys, tmp_path)
    assert "Final Find Response (Success)" in log and responses
    dates = [str(s.ScheduledProcedureStepStartDate)
             for ds in responses for s in ds.ScheduledProcedureStepSequence]  # fmt: skip
    assert dates and all("20261126" <= date <= "20261127" for date in dates)


async def test_patient_name_wildcard_and_accession(data: Path, tmp_path: Path) -> None:
    async with our_scp(data) as server:
        responses, log = await findscu(server.port, ["PatientName=SMI*", "PatientID"], tmp_path)
        assert "Final Find Response (Success)" in log
        assert responses and all(str(ds.PatientName).startswith("SMITH") for ds in responses)
        responses, _ = await findscu(
            server.port, ["AccessionNumber=ACC0000042", "PatientID"], tmp_path / "acc"
        )
    assert [str(ds.PatientID) for ds in responses] == ["PID0000042"]


async def test_cancel_after_two(data: Path, tmp_path: Path) -> None:
    """Enough matches that the C-CANCEL-RQ arrives while responses are still produced."""
    big = tmp_path / "big" / "WLMSCP"
    big.mkdir(parents=True)
    sources = sorted((data / "WLMSCP").glob("*.wl"))
    for copy in range(40):
        for source in sources:
            (big / f"{copy}_{source.name}").write_bytes(source.read_bytes())
    async with our_scp(big.parent, max_matches=100_000) as server:
        responses, log = await findscu(
            server.port, ["PatientID"], tmp_path / "out", "--cancel", "2"
        )
    assert "Final Find Response (Cancel: MatchingTerminatedDueToCancelRequest)" in log
    assert 2 <= len(responses) < 40 * len(sources)


async def test_max_matches_failure_visible_to_findscu(data: Path, tmp_path: Path) -> None:
    async with our_scp(data, max_matches=5) as server:
        responses, log = await findscu(server.port, RETURN_KEYS, tmp_path)
    assert responses == []
    assert "Final Find Response (Refused: OutOfResources)" in log  # 0xA700


async def test_unknown_called_ae_rejected(data: Path, tmp_path: Path) -> None:
    async with our_scp(data) as server:
        responses, log = await findscu(server.port, RETURN_KEYS, tmp_path, called_ae="NOSUCH")
    assert responses == []
    assert "Called AE Title Not Recognized" in log
