"""QRIndex ``quiet``: changes in the C-STORE folder start no rescan; changes elsewhere do.

The storage writer indexes its own files (under ``QRIndex.exclusive``), so the watcher
(inotify through watchfiles) ignores that folder; every scan still walks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiodicom.store import QRStore, open_qr_store
from aiodicom.store.qr_index import QRIndex
from aiodicom.testing.qr_sample import SampleShape, write_sample

ONE = SampleShape(patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=1)


@pytest.fixture
def store(qr_index: str | Path) -> Iterator[QRStore]:
    db = open_qr_store(qr_index)
    yield db
    db.close()


async def test_changes_in_the_quiet_folder_start_no_rescan(tmp_path: Path, store: QRStore) -> None:
    data = tmp_path / "data"
    quiet = data / "received"
    quiet.mkdir(parents=True)
    index = QRIndex(data, store, quiet=quiet)
    await index.start(watch=True)
    try:
        await asyncio.sleep(0.3)  # the watcher is set up
        write_sample(quiet, ONE)
        await asyncio.sleep(1.0)  # several debounce periods (200 ms)
        assert index.updates == 0 and store.counts()["instance"] == 0
        write_sample(data / "copied", SampleShape(1, 1, 1, 1, seed=7))
        for _ in range(100):
            if index.updates:
                break
            await asyncio.sleep(0.05)
        assert index.updates == 1
        assert store.counts()["instance"] == 2  # the rescan walked the quiet folder too
    finally:
        await index.close()


async def test_exclusive_work_waits_for_a_running_scan(tmp_path: Path, store: QRStore) -> None:
    data = tmp_path / "data"
    write_sample(data, SampleShape(2, 2, 2, 2))
    index = QRIndex(data, store)
    scan = asyncio.create_task(index.scan())
    await asyncio.sleep(0)  # the scan holds the lock from its first step
    seen = await index.exclusive(lambda: store.counts()["instance"])
    await scan
    assert seen == 16  # the exclusive work ran after the whole scan, never during it
