"""The MWL C-FIND service on the store: responses, refusals, fast-path bytes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import QueryError
from aiodicom.matching import compile_query, project
from aiodicom.store.worklist import WorklistStore
from aiodicom.worklist.sample import write_folder
from aiodicom.worklist.service import WorklistOptions, WorklistService, scan
from tests.store.worklist_support import mwl_query, request, run_query

SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
            "1.2.840.10008.1.2.1.99"]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> WorklistStore:
    root = tmp_path_factory.mktemp("mwl")
    write_folder(root, "WLMSCP", 60, seed=11)
    return WorklistStore(root)


@pytest.mark.parametrize("syntax", SYNTAXES)
async def test_fast_path_bytes_equal_project(store: WorklistStore, syntax: str) -> None:
    """Each response equals matching.project + codec encoding (the reference path)."""
    service = WorklistService(store)
    query = mwl_query(sps={"Modality": "CT", "ScheduledProcedureStepDescription": ""})
    query.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence = [Dataset()]
    query.StudyInstanceUID = ""
    query.ReferringPhysicianName = ""
    worklist = store.snapshot.get("WLMSCP")
    assert worklist is not None
    expected = []
    compiled = compile_query(query)
    for item, result in scan(worklist, compiled):
        stored = dcmread(item.path, force=True)
        expected.append(encode_identifier(project(query, stored, result), "1.2.840.10008.1.2.1"))
    got = await run_query(service, query, syntax=syntax)
    assert len(got) == len(expected) > 3
    for (status, ds), reference in zip(got, expected, strict=True):
        assert status == 0xFF00
        assert encode_identifier(ds, "1.2.840.10008.1.2.1") == reference
        steps = ds.ScheduledProcedureStepSequence
        assert all(step.Modality == "CT" for step in steps)  # only matching SPS items


async def test_query_retrieve_level_refused(store: WorklistStore) -> None:
    query = mwl_query()
    query.QueryRetrieveLevel = "STUDY"
    with pytest.raises(QueryError) as caught:
        await run_query(WorklistService(store), query)
    assert caught.value.status == 0xA900 and "(0008,0052)" in str(caught.value.comment)


async def test_max_matches_refused_before_any_response(store: WorklistStore) -> None:
    service = WorklistService(store, WorklistOptions(max_matches=10))
    stream = service.find(request(mwl_query()))
    with pytest.raises(QueryError) as caught:
        await anext(stream)
    assert caught.value.status == 0xA700
    assert caught.value.comment == "60 matches > worklist.max_matches=10 (--max-matches)"
    assert len(await run_query(service, mwl_query(PatientID="PID0000007"))) == 1


async def test_unsupported_optional_key_gives_ff01(store: WorklistStore) -> None:
    query = mwl_query(PatientID="PID0000003")
    query.SeriesInstanceUID = "1.2.3"  # not an MWL attribute: not matched, not returned
    responses = await run_query(WorklistService(store), query)
    assert [status for status, _ in responses] == [0xFF01]
    assert "SeriesInstanceUID" not in responses[0][1]


async def test_invalid_key_refused(store: WorklistStore) -> None:
    query = mwl_query(sps={"ScheduledProcedureStepStartDate": "20261130-20261101"})
    with pytest.raises(QueryError) as caught:
        await run_query(WorklistService(store), query)
    assert caught.value.status == 0xA900


async def test_unknown_called_ae_refused(store: WorklistStore) -> None:
    with pytest.raises(QueryError) as caught:
        await run_query(WorklistService(store), mwl_query(), called_ae="../WLMSCP")
    assert caught.value.status == 0xC001


async def test_cancel_closes_generator_midway(store: WorklistStore) -> None:
    stream = WorklistService(store).find(request(mwl_query()))
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    assert isinstance(first, bytes)
    await stream.aclose()  # what the server does on C-CANCEL
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


def test_yaml_and_missing_attributes_zero_length(tmp_path: Path) -> None:
    folder = tmp_path / "AE"
    folder.mkdir()
    (folder / "x.yaml").write_text(
        "PatientID: Z\nScheduledProcedureStepSequence:\n  - Modality: MR\n", encoding="utf-8"
    )
    service = WorklistService(WorklistStore(tmp_path))
    import asyncio

    responses = asyncio.run(run_query(service, mwl_query(PatientBirthDate=""), called_ae="AE"))
    assert len(responses) == 1
    ds = responses[0][1]
    assert ds.PatientID == "Z" and ds.PatientName == "" and ds.PatientBirthDate == ""
    assert ds.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == ""
