"""The MPPS SCP of the worklist server (PS3.4 Annex F) through our client API over TCP:
N-CREATE / N-SET statuses of F.7.2, the link to the worklist steps (STARTED, leaving
the worklist or kept with its final state), unscheduled steps, and persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import DimseStatusError
from aiodicom.net import Connector
from aiodicom.store.mpps import MppsStore
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    MppsStack,
    create_attributes,
    final_attributes,
    make_worklist,
    mpps_stack,
    scheduled_step,
    unscheduled_step,
)


def _connect(stack: MppsStack) -> Connector:
    return aiodicom.connect(
        "127.0.0.1", stack.server.port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
    )


def _step_statuses(stack: MppsStack) -> dict[str, list[str]]:
    """Item id -> the Scheduled Procedure Step Status of each of its steps, as served."""
    found: dict[str, list[str]] = {}
    for item in stack.store.snapshot.worklists[AE].items:
        steps = item.record.get(0x00400100) or ()
        assert isinstance(steps, tuple)
        found[Path(item.path).stem] = [str(step.get(0x00400020, "")) for step in steps]
    return found


async def test_in_progress_starts_the_step_and_completed_removes_it(tmp_path: Path) -> None:
    make_worklist(tmp_path, 3)
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        attributes = create_attributes(scheduled_step(2))
        created = await assoc.n_create(MPPS_SOP_CLASS, "1.2.3.1", attributes)
        assert created.status == 0x0000 and created.sop_instance_uid == "1.2.3.1"
        assert _step_statuses(stack)["mpps-2"] == ["STARTED"]
        assert _step_statuses(stack)["mpps-1"] == [""]
        done = await assoc.n_set(MPPS_SOP_CLASS, "1.2.3.1", final_attributes())
        assert done.status == 0x0000
        assert "mpps-2" not in _step_statuses(stack)  # it left the worklist
        assert not (tmp_path / AE / "mpps-2.yaml").exists()
    record = stack.mpps.get("1.2.3.1")
    assert record is not None
    assert record.dataset.PerformedProcedureStepStatus == "COMPLETED"
    assert [(link.item_id, link.sps_id) for link in record.links] == [("mpps-2", "SPS2-1")]


async def test_keep_final_leaves_the_step_visible_with_its_state(tmp_path: Path) -> None:
    make_worklist(tmp_path, 2, steps=2)
    async with mpps_stack(tmp_path, keep_final=True) as stack, _connect(stack) as assoc:
        await assoc.n_create(MPPS_SOP_CLASS, "1.2.3.2", create_attributes(scheduled_step(1, 2)))
        assert _step_statuses(stack)["mpps-1"] == ["", "STARTED"]
        await assoc.n_set(MPPS_SOP_CLASS, "1.2.3.2", final_attributes("DISCONTINUED"))
        assert _step_statuses(stack)["mpps-1"] == ["", "DISCONTINUED"]


async def test_one_of_two_steps_completed_leaves_the_other(tmp_path: Path) -> None:
    make_worklist(tmp_path, 1, steps=2)
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        await assoc.n_create(MPPS_SOP_CLASS, "1.2.3.3", create_attributes(scheduled_step(1, 1)))
        await assoc.n_set(MPPS_SOP_CLASS, "1.2.3.3", final_attributes())
        assert _step_statuses(stack)["mpps-1"] == [""]  # SPS1-2 is still to do


async def test_unscheduled_step_is_accepted_and_recorded(tmp_path: Path) -> None:
    make_worklist(tmp_path, 2)
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        created = await assoc.n_create(MPPS_SOP_CLASS, None, create_attributes(unscheduled_step()))
        uid = created.sop_instance_uid
        assert uid is not None and created.status == 0x0000
        await assoc.n_set(MPPS_SOP_CLASS, uid, final_attributes())
        assert _step_statuses(stack) == {"mpps-1": [""], "mpps-2": [""]}
    record = stack.mpps.get(uid)
    assert record is not None and record.links == ()
    assert record.dataset.PerformedProcedureStepStatus == "COMPLETED"


async def _refused(call: object) -> DimseStatusError:
    with pytest.raises(DimseStatusError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_n_create_refusals_follow_f_7_2_1(tmp_path: Path) -> None:
    make_worklist(tmp_path, 1)
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        wrong = create_attributes(scheduled_step(1))
        wrong.PerformedProcedureStepStatus = "COMPLETED"
        error = await _refused(assoc.n_create(MPPS_SOP_CLASS, "1.2.4.1", wrong))
        assert error.status == 0x0106 and "PerformedProcedureStepStatus" in (error.comment or "")
        missing = create_attributes(scheduled_step(1))
        del missing.PerformedStationName
        error = await _refused(assoc.n_create(MPPS_SOP_CLASS, "1.2.4.2", missing))
        assert error.status == 0x0120
        assert "PerformedStationName (0040,0242)" in (error.comment or "")
        empty = create_attributes(scheduled_step(1))
        empty.Modality = ""
        error = await _refused(assoc.n_create(MPPS_SOP_CLASS, "1.2.4.3", empty))
        assert error.status == 0x0121 and "Modality (0008,0060)" in (error.comment or "")
        await assoc.n_create(MPPS_SOP_CLASS, "1.2.4.4", create_attributes(scheduled_step(1)))
        error = await _refused(
            assoc.n_create(MPPS_SOP_CLASS, "1.2.4.4", create_attributes(scheduled_step(1)))
        )
        assert error.status == 0x0111
    assert sorted(stack.mpps.records) == ["1.2.4.4"]  # nothing refused was stored


async def test_n_set_refusals_follow_f_7_2_2(tmp_path: Path) -> None:
    make_worklist(tmp_path, 1)
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        error = await _refused(assoc.n_set(MPPS_SOP_CLASS, "9.9.9", final_attributes()))
        assert error.status == 0x0112
        await assoc.n_create(MPPS_SOP_CLASS, "1.2.5.1", create_attributes(scheduled_step(1)))
        patient = Dataset()
        patient.PatientID = "OTHER"
        error = await _refused(assoc.n_set(MPPS_SOP_CLASS, "1.2.5.1", patient))
        assert error.status == 0x0105 and "PatientID (0010,0020)" in (error.comment or "")
        comment = Dataset()
        comment.CommentsOnThePerformedProcedureStep = "contrast given"
        assert (await assoc.n_set(MPPS_SOP_CLASS, "1.2.5.1", comment)).status == 0x0000
        early = Dataset()
        early.PerformedProcedureStepStatus = "COMPLETED"  # without end date, time, series
        error = await _refused(assoc.n_set(MPPS_SOP_CLASS, "1.2.5.1", early))
        assert error.status == 0x0121 and "PerformedProcedureStepEndDate" in (error.comment or "")
        await assoc.n_set(MPPS_SOP_CLASS, "1.2.5.1", final_attributes())
        error = await _refused(assoc.n_set(MPPS_SOP_CLASS, "1.2.5.1", comment))
        assert (error.status, error.error_id) == (0x0110, 0xA710)
        assert error.comment == "Performed Procedure Step Object may no longer be updated"
    record = stack.mpps.get("1.2.5.1")
    assert record is not None
    assert record.dataset.CommentsOnThePerformedProcedureStep == "contrast given"


async def test_instances_survive_a_restart(tmp_path: Path) -> None:
    make_worklist(tmp_path, 2)
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        await assoc.n_create(MPPS_SOP_CLASS, "1.2.6.1", create_attributes(scheduled_step(1)))
        await assoc.n_create(MPPS_SOP_CLASS, "1.2.6.2", create_attributes(scheduled_step(2)))
        await assoc.n_set(MPPS_SOP_CLASS, "1.2.6.2", final_attributes())
    reloaded = MppsStore(tmp_path / ".mpps")
    assert reloaded.load() == 2
    first, second = reloaded.get("1.2.6.1"), reloaded.get("1.2.6.2")
    assert first is not None and second is not None
    assert first.dataset.PerformedProcedureStepStatus == "IN PROGRESS"
    assert second.dataset.PerformedSeriesSequence[0].SeriesInstanceUID == "1.2.3.4.5.6"
    assert [link.item_id for link in first.links] == ["mpps-1"]
    async with mpps_stack(tmp_path) as stack, _connect(stack) as assoc:
        error = await _refused(assoc.n_set(MPPS_SOP_CLASS, "1.2.6.2", final_attributes()))
        assert error.error_id == 0xA710  # the final state survived the restart
        done = await assoc.n_set(MPPS_SOP_CLASS, "1.2.6.1", final_attributes())
        assert done.status == 0x0000
        assert "mpps-1" not in _step_statuses(stack)
