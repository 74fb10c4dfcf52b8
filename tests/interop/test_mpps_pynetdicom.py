"""MPPS interop with pynetdicom, both ways, the same statuses: pynetdicom as MPPS SCU
against our SCP, and our client API against a pynetdicom MPPS SCP that applies the same
PS3.4 F.7.2 rules. One scenario runs on both pairs; every step's (status, Error Comment,
Error ID) must be identical, so each side encodes and decodes what the other reads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

import aiodicom
from aiodicom import DimseStatusError
from aiodicom.worklist.mpps import Refusal, check_create, check_set, merge
from tests.clients.peers import free_port
from tests.worklist.mpps_support import (
    AE as CALLED_AE,
)
from tests.worklist.mpps_support import (
    MPPS_SOP_CLASS,
    create_attributes,
    final_attributes,
    make_worklist,
    mpps_stack,
    scheduled_step,
)

pytestmark = pytest.mark.interop

Outcome = tuple[int, str | None, int | None]
Create = Callable[[str, Dataset], Awaitable[Outcome]]
Set = Callable[[str, Dataset], Awaitable[Outcome]]


def _steps() -> list[tuple[str, str, Dataset]]:
    wrong = create_attributes(scheduled_step(1))
    wrong.PerformedProcedureStepStatus = "COMPLETED"
    missing = create_attributes(scheduled_step(1))
    del missing.PerformedStationName
    patient = Dataset()
    patient.PatientID = "OTHER"
    note = Dataset()
    note.CommentsOnThePerformedProcedureStep = "late note"
    return [
        ("create", "1.2.9.1", create_attributes(scheduled_step(1))),
        ("create", "1.2.9.1", create_attributes(scheduled_step(1))),
        ("create", "1.2.9.2", wrong),
        ("create", "1.2.9.3", missing),
        ("set", "1.2.9.1", patient),
        ("set", "9.9.9.9", final_attributes()),
        ("set", "1.2.9.1", note),
        ("set", "1.2.9.1", final_attributes()),
        ("set", "1.2.9.1", note),
    ]


EXPECTED = [0x0000, 0x0111, 0x0106, 0x0120, 0x0105, 0x0112, 0x0000, 0x0000, 0x0110]


async def _scenario(create: Create, n_set: Set) -> list[Outcome]:
    return [await (create if kind == "create" else n_set)(uid, ds) for kind, uid, ds in _steps()]


# -- pynetdicom SCU -> our SCP ---------------------------------------------------------


def _pynetdicom_status(status: Dataset) -> Outcome:
    comment = status.get("ErrorComment")
    error_id = status.get("ErrorID")
    return int(status.Status), None if comment is None else str(comment), error_id


def _pynetdicom_scu(port: int) -> list[Outcome]:
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port, ae_title=CALLED_AE)
    assert assoc.is_established
    found: list[Outcome] = []
    try:
        for kind, uid, ds in _steps():
            if kind == "create":
                status, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
            else:
                status, _ = assoc.send_n_set(ds, ModalityPerformedProcedureStep, uid)
            found.append(_pynetdicom_status(status))
    finally:
        assoc.release()
    return found


# -- our SCU -> pynetdicom SCP ----------------------------------------------------------


def _answer(refusal: Refusal | None) -> Any:
    """A pynetdicom handler's status: an int, or a Dataset with the status-related fields."""
    if refusal is None:
        return 0x0000
    status = Dataset()
    status.Status = refusal.status
    status.ErrorComment = refusal.comment[:64]
    if refusal.error_id is not None:
        status.ErrorID = refusal.error_id
    return status


def _pynetdicom_scp(port: int) -> Any:
    """A pynetdicom MPPS SCP keeping its instances in a dict, by the same rules."""
    instances: dict[str, Dataset] = {}

    def on_create(event: Any) -> tuple[Any, Dataset | None]:
        uid = event.request.AffectedSOPInstanceUID
        if uid in instances:
            status = Dataset()
            status.Status = 0x0111
            status.ErrorComment = f"SOP Instance {uid} exists"
            return status, None
        ds = event.attribute_list
        refusal = check_create(ds)
        if refusal is None:
            instances[uid] = ds
        return _answer(refusal), None

    def on_set(event: Any) -> tuple[Any, Dataset | None]:
        uid = event.request.RequestedSOPInstanceUID
        if uid not in instances:
            status = Dataset()
            status.Status = 0x0112
            status.ErrorComment = f"no MPPS instance {uid}"
            return status, None
        refusal = check_set(instances[uid], event.modification_list)
        if refusal is None:
            instances[uid] = merge(instances[uid], event.modification_list)
        return _answer(refusal), None

    ae = AE(ae_title=CALLED_AE)
    ae.add_supported_context(ModalityPerformedProcedureStep)
    handlers: list[Any] = [(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)]
    return ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)


async def _our_scu(port: int) -> list[Outcome]:
    async with aiodicom.connect(
        "127.0.0.1", port, called_ae=CALLED_AE, sop_classes=[MPPS_SOP_CLASS]
    ) as assoc:

        async def outcome(call: Awaitable[aiodicom.NResult]) -> Outcome:
            try:
                result = await call
            except DimseStatusError as exc:
                return exc.status, exc.comment, exc.error_id
            return result.status, result.error_comment, result.error_id

        async def create(uid: str, ds: Dataset) -> Outcome:
            return await outcome(assoc.n_create(MPPS_SOP_CLASS, uid, ds))

        async def n_set(uid: str, ds: Dataset) -> Outcome:
            return await outcome(assoc.n_set(MPPS_SOP_CLASS, uid, ds))

        return await _scenario(create, n_set)


async def test_same_statuses_both_ways(tmp_path: Path) -> None:
    make_worklist(tmp_path, 1)
    async with mpps_stack(tmp_path) as stack:
        theirs_to_ours = await asyncio.to_thread(_pynetdicom_scu, stack.server.port)
    port = free_port()
    server = _pynetdicom_scp(port)
    try:
        ours_to_theirs = await _our_scu(port)
    finally:
        await asyncio.to_thread(server.shutdown)
    assert [status for status, _, _ in theirs_to_ours] == EXPECTED
    assert ours_to_theirs == theirs_to_ours
    assert theirs_to_ours[-1] == (
        0x0110,
        "Performed Procedure Step Object may no longer be updated",
        0xA710,
    )
    assert theirs_to_ours[3][1] == "missing Type 2 PerformedStationName (0040,0242)"
