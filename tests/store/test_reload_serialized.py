"""Reloads never overlap: a build that started before a write cannot finish after the
build that saw it and put the older snapshot back (the watcher, the REST API and the
HL7 feed all reload the same store)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from aiodicom.store.worklist import WorklistSnapshot, WorklistStore


class SlowBuilds(WorklistStore):
    """A store whose builds take a while and count how many run at once."""

    def __init__(self, root: Path) -> None:
        self.running = 0
        self.most = 0
        self.guard = threading.Lock()
        super().__init__(root)

    def _build(self) -> WorklistSnapshot:
        with self.guard:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        try:
            return super()._build()
        finally:
            with self.guard:
                self.running -= 1


async def test_concurrent_reloads_run_one_at_a_time(tmp_path: Path) -> None:
    (tmp_path / "WLMSCP").mkdir()
    store = SlowBuilds(tmp_path)
    store.most = 0
    first = asyncio.create_task(store.reload_async())
    await asyncio.sleep(0.01)  # the first build is running
    (tmp_path / "WLMSCP" / "new.yaml").write_text(
        "PatientID: P1\nScheduledProcedureStepSequence:\n  - Modality: CT\n", encoding="utf-8"
    )
    second = await store.reload_async()
    await first
    assert store.most == 1
    assert store.snapshot is second and store.snapshot.item_count == 1


async def test_shared_reloads_of_callers_at_once_are_one_build(tmp_path: Path) -> None:
    (tmp_path / "WLMSCP").mkdir()
    store = SlowBuilds(tmp_path)
    before = store.snapshot.generation
    snapshots = await asyncio.gather(*(store.reload_shared() for _ in range(5)))
    assert all(snapshot is snapshots[0] for snapshot in snapshots)
    assert snapshots[0].generation == before + 1


async def test_a_shared_reload_asked_during_a_build_waits_for_the_next(tmp_path: Path) -> None:
    """Callers arriving while a build runs may have written after it listed the folder:
    they share the build after it (one, however many they are), never the running one."""
    (tmp_path / "WLMSCP").mkdir()
    store = SlowBuilds(tmp_path)
    store.most = 0
    first = asyncio.create_task(store.reload_shared())
    await asyncio.sleep(0.01)  # the first build is running
    later = await asyncio.gather(*(store.reload_shared() for _ in range(3)))
    running = await first
    assert all(snapshot is later[0] for snapshot in later)
    assert later[0].generation == running.generation + 1
    assert store.snapshot is later[0] and store.most == 1
