"""fsync_dir is a group commit: every caller gets an fsync of the folder that started
after it called; callers at the same time share them, a lone caller gets its own."""

from __future__ import annotations

import threading
from pathlib import Path

from aiodicom.store.atomic import atomic_write, folder_fsyncs, fsync_dir

THREADS, WRITES = 8, 25


def test_a_lone_caller_gets_one_fsync_per_call(tmp_path: Path) -> None:
    before = folder_fsyncs()
    for _ in range(5):
        fsync_dir(tmp_path)
    assert folder_fsyncs() - before == 5


def test_writers_at_once_share_the_folder_fsyncs(tmp_path: Path) -> None:
    barrier = threading.Barrier(THREADS)

    def writer(number: int) -> None:
        barrier.wait(10)
        for index in range(WRITES):
            atomic_write(tmp_path / f"{number}-{index}.json", b"{}")

    before = folder_fsyncs()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    shared = folder_fsyncs() - before
    assert len(list(tmp_path.glob("*.json"))) == THREADS * WRITES
    assert 0 < shared < THREADS * WRITES
