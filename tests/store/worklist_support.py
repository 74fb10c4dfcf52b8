"""Shared helpers for the worklist store/service tests."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.matching import CompiledQuery
from aiodicom.net.types import FindRequest, FindResponse
from aiodicom.proto.negotiation import QueryModel
from aiodicom.worklist.service import WORKLIST_SOP_CLASS, WorklistService

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def mwl_query(**top: object) -> Dataset:
    """A typical MWL identifier; keyword=value pairs; ``sps`` = dict for the SPS item."""
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.AccessionNumber = ""
    step = Dataset()
    step.Modality = ""
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepStartDate = ""
    sps = top.pop("sps", {})
    assert isinstance(sps, dict)
    for key, value in sps.items():
        setattr(step, key, value)
    ds.ScheduledProcedureStepSequence = [step]
    for key, value in top.items():
        setattr(ds, key, value)
    return ds


def request(
    identifier: Dataset, *, called_ae: str = "WLMSCP", syntax: str = EXPLICIT_LE
) -> FindRequest:
    return FindRequest(
        identifier=identifier,
        identifier_bytes=b"",
        transfer_syntax=syntax,
        sop_class_uid=WORKLIST_SOP_CLASS,
        model=QueryModel.WORKLIST,
        message_id=1,
        priority=0,
        calling_ae="TESTSCU",
        called_ae=called_ae,
        peer=("127.0.0.1", 1),
        association_id="test",
    )


async def run_query(
    service: WorklistService,
    identifier: Dataset,
    *,
    syntax: str = EXPLICIT_LE,
    called_ae: str = "WLMSCP",
) -> list[tuple[int, Dataset]]:
    """(status, decoded identifier) of every pending response of one query."""
    out: list[tuple[int, Dataset]] = []
    async for response in service.find(request(identifier, called_ae=called_ae, syntax=syntax)):
        status, data = 0xFF00, response
        if isinstance(response, FindResponse):
            status, data = response.status, response.identifier
        assert isinstance(data, bytes)
        out.append((status, decode_identifier(data, syntax)))
    return out


def write_yaml(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def key_view(compiled: CompiledQuery) -> dict[int, tuple[object, ...]]:
    """Every compiled key as comparable data (sequence items recursively)."""
    return {
        tag: (
            spec.vr, spec.kind, spec.text, spec.values, spec.bounds, spec.range,
            spec.combined_with, None if spec.sub is None else key_view(spec.sub),
        )
        for tag, spec in compiled.keys.items()
    }  # fmt: skip


def wire_request(identifier: Dataset, syntax: str = EXPLICIT_LE) -> FindRequest:
    """A request as the server builds it: the identifier plus its encoded bytes."""
    wire = request(identifier, syntax=syntax)
    wire.identifier_bytes = encode_identifier(identifier, syntax)
    return wire


async def wire_answers(service: WorklistService, identifier: Dataset) -> list[tuple[int, bytes]]:
    """(status, encoded identifier) of every pending response to ``wire_request``."""
    out: list[tuple[int, bytes]] = []
    async for response in service.find(wire_request(identifier)):
        status, data = 0xFF00, response
        if isinstance(response, FindResponse):
            status, data = response.status, response.identifier
        assert isinstance(data, bytes)
        out.append((status, data))
    return out
