"""Hot reload: snapshots swap atomically; a query in flight keeps the snapshot it began with."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiodicom.store.worklist import WorklistStore
from aiodicom.worklist.service import WorklistService
from tests.store.worklist_support import mwl_query, request, run_query

ITEMS = 40


def write_generation(folder: Path, generation: int) -> None:
    for index in range(ITEMS):
        text = (
            f"PatientID: P{index}\nAdmissionID: GEN{generation}\n"
            "ScheduledProcedureStepSequence:\n  - Modality: CT\n"
        )
        path = folder / f"item{index}.yaml"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)  # atomic per file


async def test_reload_under_concurrent_queries_never_tears(tmp_path: Path) -> None:
    folder = tmp_path / "WLMSCP"
    folder.mkdir()
    write_generation(folder, 0)
    store = WorklistStore(tmp_path)
    service = WorklistService(store)
    query = mwl_query(AdmissionID="")
    answers: list[set[bytes]] = []
    done = asyncio.Event()

    async def querier(slow: bool) -> None:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and len(answers) < 20_000 and not done.is_set():
            seen: set[bytes] = set()
            count = 0
            async for data in service.find(request(query)):
                assert isinstance(data, bytes)
                seen.add(data.split(b"GEN", 1)[1][:1])
                count += 1
                if slow:
                    await asyncio.sleep(0.001)
            assert count == ITEMS
            answers.append(seen)
            # a replayed answer never suspends: leave the writer thread some GIL time
            await asyncio.sleep(0.001)

    async def reloader() -> None:
        for generation in range(1, 6):
            await asyncio.to_thread(write_generation, folder, generation)
            await store.reload_async()
            await asyncio.sleep(0.05)
        done.set()

    await asyncio.gather(querier(True), querier(False), querier(True), reloader())
    assert answers and all(len(generations) == 1 for generations in answers)
    assert len({next(iter(g)) for g in answers}) >= 2  # queries did span several snapshots
    final = await run_query(service, query)
    assert {str(ds.AdmissionID) for _, ds in final} == {"GEN5"}


def _count(store: WorklistStore) -> int:
    worklist = store.snapshot.get("WLMSCP")
    return -1 if worklist is None else len(worklist.items)


async def test_watcher_picks_up_changes(tmp_path: Path) -> None:
    folder = tmp_path / "WLMSCP"
    folder.mkdir()
    write_generation(folder, 0)
    for force_polling in (False, True):
        store = WorklistStore(tmp_path)
        store.start_watching(poll_interval=0.1, force_polling=force_polling)
        try:
            await asyncio.sleep(0.3)
            (folder / "new.yaml").write_text(
                "PatientID: NEW\nScheduledProcedureStepSequence: [{Modality: MR}]\n",
                encoding="utf-8",
            )
            deadline = time.monotonic() + 5.0
            while _count(store) == ITEMS:
                assert time.monotonic() < deadline, f"no reload (polling={force_polling})"
                await asyncio.sleep(0.05)
            worklist = store.snapshot.get("WLMSCP")
            assert worklist is not None and len(worklist.items) == ITEMS + 1
        finally:
            await store.stop_watching()
        (folder / "new.yaml").unlink()
