"""The page cache warmer child: same items and warnings with or without it, never left
running or unreaped after a load (even a failed one), and a failed spawn changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import CapturingLogger, capture_logs

from aiodicom.dicom.reader import Interner
from aiodicom.store import cache_warmer
from aiodicom.store.cache_warmer import CacheWarmer, Launcher
from aiodicom.store.readahead import CAN_ADVISE
from aiodicom.store.worklist_loader import FolderLoader, Stamp, WorklistItem
from aiodicom.worklist.sample import write_folder

pytestmark = pytest.mark.skipif(
    not CAN_ADVISE or not sys.platform.startswith("linux"),
    reason="the warmer runs where posix_fadvise exists; /proc checks",
)
NEVER = 1 << 62


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Good items plus garbage, a half-written file, bad and good YAML, a FIFO, a folder."""
    write_folder(tmp_path, "WLMSCP", 30, seed=5)
    folder = tmp_path / "WLMSCP"
    good = sorted(folder.glob("*.wl"))
    (folder / "a_garbage.wl").write_bytes(b"\x00not dicom" * 7)
    (folder / "m_half.wl").write_bytes(good[3].read_bytes()[:-29])
    (folder / "n_bad.yaml").write_text("- a\n- b\n", encoding="utf-8")
    (folder / "n_good.yaml").write_text("PatientID: Y1\nScheduledProcedureStepSequence:\n  - {}\n")
    os.mkfifo(folder / "p_fifo.wl")  # listed as not a file: neither read nor warmed
    (folder / "q_unreadable.wl").write_bytes(good[4].read_bytes())
    (folder / "q_unreadable.wl").chmod(0)
    return folder


SLEEPER = "import time\ntime.sleep(60)\n"
"""A child that only sleeps: still running when the load ends, unless killed."""


class Spawned(list[subprocess.Popen[bytes]]):
    """Every warmer child started through :attr:`launcher` (the real ``Popen``)."""

    def __init__(self, script: str = cache_warmer.SCRIPT) -> None:
        super().__init__()
        self.launcher = Launcher(script=script, popen=self.popen)

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child: subprocess.Popen[bytes] = subprocess.Popen(*args, **kwargs)
        self.append(child)
        return child


@pytest.fixture
def spawned() -> Spawned:
    return Spawned()


def _load(
    folder: Path, warm_min_files: int, launcher: Launcher = cache_warmer.DEFAULT
) -> tuple[list[tuple[object, ...]], list[tuple[str, str]]]:
    loader = FolderLoader({}, {}, set(), warm_min_files=warm_min_files, launcher=launcher)
    with capture_logs() as logs:
        items = loader.load_folder(folder)
    view: list[tuple[object, ...]] = [(i.path, i.stamp, i.raw, i.record) for i in items]
    warned = [(e["file"], e["reason"]) for e in logs if e["log_level"] == "warning"]
    return view, warned


def _assert_gone(child: subprocess.Popen[bytes]) -> None:
    """Reaped by us (returncode set), so neither running nor a zombie: /proc has no entry."""
    assert child.returncode is not None
    assert not Path(f"/proc/{child.pid}").exists()
    assert child.stdin is None or child.stdin.closed
    assert not [t for t in threading.enumerate() if t.name == "cache-warmer-feed"]


def test_same_items_and_warnings_with_the_warmer(folder: Path, spawned: Spawned) -> None:
    reference, reference_warned = _load(folder, NEVER, spawned.launcher)
    assert not spawned
    view, warned = _load(folder, 1, spawned.launcher)
    assert len(spawned) == 1
    _assert_gone(spawned[0])
    assert view == reference
    assert warned == reference_warned
    bad = {"a_garbage.wl", "m_half.wl", "n_bad.yaml"} | ({"q_unreadable.wl"} - _root())
    assert {Path(name).name for name, _ in warned} == bad


def _root() -> set[str]:
    return {"q_unreadable.wl"} if os.geteuid() == 0 else set()


def test_child_killed_and_reaped_when_the_parser_fails(folder: Path) -> None:
    spawned = Spawned(SLEEPER)

    def failing(name: str, data: bytes, stamp: Stamp, interner: Interner | None) -> WorklistItem:
        raise RuntimeError("parser bug")

    loader = FolderLoader({}, {}, set(), warm_min_files=1, parse=failing)
    loader.launcher = spawned.launcher
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="parser bug"):
        loader.load_folder(folder)
    assert time.monotonic() - started < 10
    assert [child.returncode for child in spawned] == [-signal.SIGKILL]
    _assert_gone(spawned[0])


class NoThread(threading.Thread):
    def start(self) -> None:
        raise RuntimeError("can't start new thread")


def _no_memory(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    raise OSError(12, "Cannot allocate memory")


@pytest.mark.parametrize("failure", ["popen", "thread"])
def test_spawn_failure_falls_back_to_loading_without_it(folder: Path, failure: str) -> None:
    reference, reference_warned = _load(folder, NEVER)
    spawned = Spawned()
    if failure == "popen":
        launcher = Launcher(popen=_no_memory)
    else:
        launcher = Launcher(popen=spawned.popen, thread=NoThread)
    view, warned = _load(folder, 1, launcher)
    assert (view, warned) == (reference, reference_warned)
    for child in spawned:
        _assert_gone(child)
    assert len(spawned) == (failure == "thread")


def test_spawn_failure_is_logged_at_debug() -> None:
    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise FileNotFoundError(2, "No such file or directory")

    logger = CapturingLogger()  # whatever level the logging configuration lets through
    launcher = Launcher(popen=popen, log=logger)
    assert CacheWarmer.start(["a", "b"], min_files=1, launcher=launcher) is None
    assert [(call.method_name, call.args) for call in logger.calls] == [
        ("debug", ("page cache warmer not started",))
    ]


def test_no_child_below_the_threshold(folder: Path, spawned: Spawned) -> None:
    loader = FolderLoader({}, {}, set(), launcher=spawned.launcher)  # default threshold:
    loader.load_folder(folder)  # far above this folder's 36 files
    assert not spawned
    below = ["x"] * (cache_warmer.MIN_FILES - 1)
    assert CacheWarmer.start(below, launcher=spawned.launcher) is None
    assert not spawned


def test_child_advises_every_path_in_order(tmp_path: Path) -> None:
    """The child script itself, with posix_fadvise reporting: paths split across pipe
    reads, odd names (newline, undecodable byte), missing files, FIFOs and folders."""
    names = [f"{index:05d}_{'x' * 60}.wl" for index in range(2_500)]  # > 64 KiB of paths
    paths = [str(tmp_path / name) for name in names]
    for path in paths:
        Path(path).touch()
    odd = os.fsdecode(b"odd\nname\xff.wl")
    (tmp_path / odd).touch()
    os.mkfifo(tmp_path / "fifo.wl")
    os.mkdir(tmp_path / "folder.wl")
    order = [paths[0], str(tmp_path / "missing.wl"), str(tmp_path / "fifo.wl")]
    order += [str(tmp_path / odd), str(tmp_path / "folder.wl"), *paths[1:]]
    report = tmp_path / "advised.txt"
    spy = (
        "import os, sys\n"
        "out = open(sys.argv[1], 'wb')\n"
        "def spy(descriptor, *args):\n"
        "    out.write(os.readlink(b'/proc/self/fd/%d' % descriptor) + b'\\0')\n"
        "os.posix_fadvise = spy\n"
        f"exec({cache_warmer.SCRIPT!r})\n"
        "out.close()\n"
    )
    child = subprocess.run(
        [sys.executable, "-I", "-S", "-c", spy, str(report)],
        input=cache_warmer._encode(order),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (child.returncode, child.stderr) == (0, b"")
    advised = report.read_bytes().split(b"\0")[:-1]
    expected = [path for path in order if "missing" not in path]
    assert advised == [os.fsencode(path) for path in expected]


def test_stop_kills_a_running_child_and_is_idempotent() -> None:
    with cache_warmer.warming(["a"] * 10, min_files=1, launcher=Launcher(SLEEPER)) as warmer:
        assert warmer is not None
        assert Path(f"/proc/{warmer.pid}").exists()
    warmer.stop()
    assert not Path(f"/proc/{warmer.pid}").exists()
