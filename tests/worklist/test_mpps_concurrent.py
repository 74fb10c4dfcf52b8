"""MPPS under concurrency: many associations at once, every operation durable and visible.

20 associations each perform one scheduled step (two per worklist item, so two
instances change one item file at the same time): N-CREATE, a C-FIND right after the
response (the step is STARTED), N-SET COMPLETED, a C-FIND again (the step is gone).
Every instance file and link is on disk afterwards; the reloads were shared.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydicom import Dataset

import aiodicom
from aiodicom.net import ClientAssociation
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    MppsStack,
    create_attributes,
    final_attributes,
    make_worklist,
    mpps_stack,
    scheduled_step,
)

ITEMS = 10
MODALITIES = 2 * ITEMS  # modality m performs step m % 2 + 1 of item m // 2 + 1
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"  # PS3.4 K.6.1.2.2
UID = "1.2.826.0.1.3680043.10.1453.888.{}"


def _query(index: int) -> Dataset:
    step = Dataset()
    step.ScheduledProcedureStepID = ""
    step.ScheduledProcedureStepStatus = ""
    query = Dataset()
    query.AccessionNumber = f"ACC{index}"
    query.ScheduledProcedureStepSequence = [step]
    return query


async def _served_steps(assoc: ClientAssociation, index: int) -> dict[str, str]:
    """SPS ID -> status of item ``index`` as C-FIND answers now (empty: not served)."""
    steps: dict[str, str] = {}
    async for found in assoc.find(_query(index)):
        for step in found.ScheduledProcedureStepSequence:
            steps[str(step.ScheduledProcedureStepID)] = str(step.ScheduledProcedureStepStatus)
    return steps


async def _perform(stack: MppsStack, modality: int, start: asyncio.Event) -> None:
    index, step = modality // 2 + 1, modality % 2 + 1
    sps, uid = f"SPS{index}-{step}", UID.format(modality)
    contexts = [MPPS_SOP_CLASS, WORKLIST_FIND]
    connector = aiodicom.connect("127.0.0.1", stack.server.port, called_ae=AE, sop_classes=contexts)
    async with connector as assoc:
        await start.wait()  # every association is up: the operations below overlap
        attributes = create_attributes(scheduled_step(index, step), station=f"CT{modality:02d}")
        created = await assoc.n_create(MPPS_SOP_CLASS, uid, attributes)
        assert created.status == 0x0000
        assert (await _served_steps(assoc, index)).get(sps) == "STARTED"
        done = await assoc.n_set(MPPS_SOP_CLASS, uid, final_attributes())
        assert done.status == 0x0000
        assert sps not in await _served_steps(assoc, index)


async def test_many_associations_at_once_all_durable_and_visible(tmp_path: Path) -> None:
    make_worklist(tmp_path, ITEMS, steps=2)
    async with mpps_stack(tmp_path) as stack:
        before = stack.store.snapshot.generation
        start = asyncio.Event()
        async with asyncio.timeout(90), asyncio.TaskGroup() as group:
            for modality in range(MODALITIES):
                group.create_task(_perform(stack, modality, start))
            await asyncio.sleep(0.5)
            start.set()
        builds = stack.store.snapshot.generation - before
    assert not list((tmp_path / AE).glob("*.yaml"))  # every step of every item completed
    for modality in range(MODALITIES):
        index, step = modality // 2 + 1, modality % 2 + 1
        path = tmp_path / ".mpps" / f"{UID.format(modality)}.json"
        document = json.loads(path.read_bytes())
        assert document["links"] == [
            {"ae_title": AE, "item_id": f"mpps-{index}", "sps_id": f"SPS{index}-{step}"}
        ]
        assert document["dataset"]["00400252"]["Value"] == ["COMPLETED"]
    # 40 operations each changed an item: group reloads share builds (one at a time
    # would cost 40)
    assert 0 < builds < 2 * MODALITIES


async def test_one_uid_created_at_once_on_two_associations_is_refused_once(
    tmp_path: Path,
) -> None:
    make_worklist(tmp_path, 2)
    async with mpps_stack(tmp_path) as stack:

        async def create(index: int) -> int:
            port = stack.server.port
            async with aiodicom.connect(
                "127.0.0.1", port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
            ) as assoc:
                attributes = create_attributes(scheduled_step(index))
                try:
                    response = await assoc.n_create(MPPS_SOP_CLASS, UID.format(99), attributes)
                except aiodicom.DimseStatusError as exc:
                    return exc.status
                return response.status

        statuses = await asyncio.wait_for(asyncio.gather(create(1), create(2)), 30)
    assert sorted(statuses) == [0x0000, 0x0111]  # PS3.7 C.4.1: Duplicate SOP Instance
    linked = [path.stem for path in (tmp_path / AE).glob("*.yaml") if "STARTED" in path.read_text()]
    assert len(linked) == 1  # the refused one changed no step
