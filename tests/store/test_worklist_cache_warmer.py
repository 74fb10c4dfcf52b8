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
from aiodicom.store import cache_warmer, worklist_loader
from aiodicom.store.cache_warmer import CacheWarmer
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


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every warmer child started during the test."""
    children: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child: subprocess.Popen[bytes] = real_popen(*args, **kwargs)
        children.append(child)
        return child

    monkeypatch.setattr(subprocess, "Popen", recording)
    return children


def _load(
    folder: Path, warm_min_files: int
) -> tuple[list[tuple[object, ...]], list[tuple[str, str]]]:
    loader = FolderLoader.empty()
    loader.warm_min_files = warm_min_files
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


def test_same_items_and_warnings_with_the_warmer(
    folder: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    reference, reference_warned = _load(folder, NEVER)
    assert not spawned
    view, warned = _load(folder, 1)
    assert len(spawned) == 1
    _assert_gone(spawned[0])
    assert view == reference
    assert warned == reference_warned
    bad = {"a_garbage.wl", "m_half.wl", "n_bad.yaml"} | ({"q_unreadable.wl"} - _root())
    assert {Path(name).name for name, _ in warned} == bad


def _root() -> set[str]:
    return {"q_unreadable.wl"} if os.geteuid() == 0 else set()


def test_child_killed_and_reaped_when_the_parser_fails(
    folder: Path, spawned: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_warmer, "_SCRIPT", "import time\ntime.sleep(60)\n")

    def failing(name: str, data: bytes, stamp: Stamp, interner: Interner | None) -> WorklistItem:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(worklist_loader, "load_dicom_bytes", failing)
    loader = FolderLoader.empty()
    loader.warm_min_files = 1
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="parser bug"):
        loader.load_folder(folder)
    assert time.monotonic() - started < 10
    assert [child.returncode for child in spawned] == [-signal.SIGKILL]
    _assert_gone(spawned[0])


@pytest.mark.parametrize("failure", ["popen", "thread"])
def test_spawn_failure_falls_back_to_loading_without_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    reference, reference_warned = _load(folder, NEVER)
    spawned: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        if failure == "popen":
            raise OSError(12, "Cannot allocate memory")
        child: subprocess.Popen[bytes] = real_popen(*args, **kwargs)
        spawned.append(child)
        return child

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(subprocess, "Popen", popen)
    if failure == "thread":
        monkeypatch.setattr(threading.Thread, "start", no_thread)
    view, warned = _load(folder, 1)
    assert (view, warned) == (reference, reference_warned)
    for child in spawned:
        _assert_gone(child)
    assert len(spawned) == (failure == "thread")


def test_spawn_failure_is_logged_at_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise FileNotFoundError(2, "No such file or directory")

    logger = CapturingLogger()  # whatever level the logging configuration lets through
    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(cache_warmer, "log", logger)
    assert CacheWarmer.start(["a", "b"], min_files=1) is None
    assert [(call.method_name, call.args) for call in logger.calls] == [
        ("debug", ("page cache warmer not started",))
    ]


def test_no_child_below_the_threshold(folder: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    loader = FolderLoader.empty()  # default threshold: far above this folder's 36 files
    loader.load_folder(folder)
    assert not spawned
    assert CacheWarmer.start(["x"] * (cache_warmer.MIN_FILES - 1)) is None


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
        f"exec({cache_warmer._SCRIPT!r})\n"
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


def test_stop_kills_a_running_child_and_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_warmer, "_SCRIPT", "import time\ntime.sleep(60)\n")
    with cache_warmer.warming(["a"] * 10, min_files=1) as warmer:
        assert warmer is not None
        assert Path(f"/proc/{warmer.pid}").exists()
    warmer.stop()
    assert not Path(f"/proc/{warmer.pid}").exists()
