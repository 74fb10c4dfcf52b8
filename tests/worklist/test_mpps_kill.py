"""kill -9 of a real ``aiodicom-worklist`` process while MPPS N-CREATEs and N-SETs are in
flight loses nothing that was acknowledged: after a restart every acknowledged instance
is there in its acknowledged state (or the later one a write reached before the kill),
no instance file is torn, and the restarted server goes on from there."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import aiodicom
from aiodicom import AiodicomError, DimseStatusError
from aiodicom.store.mpps import MppsStore
from tests.clients.peers import free_port, stop_process
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    create_attributes,
    final_attributes,
    make_worklist,
    start_worklist_program,
    unscheduled_step,
)

CLIENTS = 4
MAX_OPERATIONS = 400  # per client: the load loop is bounded in count ...
MAX_SECONDS = 20.0  # ... and in time
KILL_AFTER_ACKS = 40

pytestmark = [pytest.mark.slow]


def _start(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    args = ["--data", str(data), "--port", str(port), "--ae-title", AE, "--no-http",
            "--no-watch", "--no-audit"]  # fmt: skip
    return start_worklist_program(args, log, port)


class Acks:
    """What the server acknowledged: the last state of each instance; ``enough`` is set
    once :data:`KILL_AFTER_ACKS` instances were acknowledged."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.enough = asyncio.Event()
        self.killed = asyncio.Event()

    def note(self, uid: str, state: str) -> None:
        self.states[uid] = state
        if len(self.states) >= KILL_AFTER_ACKS:
            self.enough.set()


async def _hammer(port: int, client: int, acks: Acks) -> None:
    """N-CREATE then N-SET COMPLETED, again and again, noting each acknowledged state."""
    deadline = time.monotonic() + MAX_SECONDS
    with contextlib.suppress(AiodicomError, OSError):
        async with aiodicom.connect(
            "127.0.0.1", port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS], acse_timeout=5
        ) as assoc:
            for index in range(MAX_OPERATIONS):
                if acks.killed.is_set() or time.monotonic() > deadline:
                    return
                uid = f"1.2.826.0.1.3680043.10.1453.5.{client}.{index}"
                await assoc.n_create(MPPS_SOP_CLASS, uid, create_attributes(unscheduled_step()))
                acks.note(uid, "IN PROGRESS")
                await assoc.n_set(MPPS_SOP_CLASS, uid, final_attributes())
                acks.note(uid, "COMPLETED")


async def _kill_when_enough(process: subprocess.Popen[bytes], acks: Acks) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(acks.enough.wait(), MAX_SECONDS)
    os.kill(process.pid, signal.SIGKILL)  # only the process this test started
    acks.killed.set()


async def test_kill_9_mid_write_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = make_worklist(tmp_path / "data", 1)
    port, log = free_port(), tmp_path / "server.log"
    process = _start(data, port, log)
    acks = Acks()
    try:
        await asyncio.gather(
            _kill_when_enough(process, acks),
            *(_hammer(port, client, acks) for client in range(CLIENTS)),
        )
        assert process.wait(10) == -signal.SIGKILL
    finally:
        stop_process(process)
    acked = acks.states
    assert len(acked) >= KILL_AFTER_ACKS, log.read_text(errors="replace")
    store = MppsStore(data / ".mpps")
    store.load()  # every file parses: an interrupted write left no torn file behind
    files = sorted(p.name for p in (data / ".mpps").glob("*.json"))
    assert len(files) == len(store.records)
    for uid, state in acked.items():
        record = store.get(uid)
        assert record is not None, f"acknowledged {uid} lost"
        stored = record.dataset.PerformedProcedureStepStatus
        assert stored == state or (state, stored) == ("IN PROGRESS", "COMPLETED"), uid
    restarted = _start(data, port, log)
    try:
        async with aiodicom.connect(
            "127.0.0.1", port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
        ) as assoc:
            done = [uid for uid, state in acked.items() if state == "COMPLETED"]
            with pytest.raises(DimseStatusError) as final:
                await assoc.n_set(MPPS_SOP_CLASS, done[0], final_attributes())
            assert (final.value.status, final.value.error_id) == (0x0110, 0xA710)
            with pytest.raises(DimseStatusError) as duplicate:
                attributes = create_attributes(unscheduled_step())
                await assoc.n_create(MPPS_SOP_CLASS, done[-1], attributes)
            assert duplicate.value.status == 0x0111
    finally:
        stop_process(restarted)
