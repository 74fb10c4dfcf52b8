"""A stop signal that arrives while the server is still loading its data.

Expected: the process (and, with --workers, every forked worker) exits 0 without ever
listening, and no worker is left behind. Nothing was open, so nothing needed draining.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiodicom.worklist.sample import write_folder
from tests.clients.peers import free_port
from tests.hardening.support import AE, ROOT, write_config

ITEMS = 4000  # loads for about a second per process on this machine: time to hit start-up


@pytest.fixture(scope="module")
def big_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startup-data")
    write_folder(root, AE, ITEMS)
    return root


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _listening(port: int) -> bool:
    return f":{port:04X} " in Path("/proc/net/tcp").read_text()


@pytest.fixture
def started_pids() -> Iterator[list[int]]:
    """PIDs this test started (server and its workers); any still alive is killed after."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_while_loading_exits_zero_and_leaves_no_worker(
    workers: int,
    big_data: Path,
    tmp_path: Path,
    started_pids: list[int],
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, big_data)
    command = [sys.executable, "-m", "servers.worklist", "--config", str(config), "--no-http"]
    log = tmp_path / "scp.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    started_pids.append(process.pid)

    def loading() -> bool:
        forked = workers == 1 or len(_children(process.pid)) == workers
        return forked and "loading worklist" in log.read_text(errors="replace")

    assert _wait_until(loading, 30), "the server never reached its loading phase"
    if _listening(port):
        pytest.skip("the data loaded before the signal could be sent: machine too fast")
    workers_seen = _children(process.pid)
    started_pids.extend(workers_seen)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert not _listening(port)
    assert not [pid for pid in workers_seen if _alive(pid)]
