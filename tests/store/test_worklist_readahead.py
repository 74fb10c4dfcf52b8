"""Loading through ReadAhead: same items and warnings as one-by-one reads, no leaked fds,
and a reload opens only files whose stamp changed."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from aiodicom.dicom.reader import Interner
from aiodicom.store.readahead import CAN_ADVISE, SYSTEM, FileAccess
from aiodicom.store.worklist_loader import FolderLoader, Stamp, WorklistItem, load_dicom_bytes
from aiodicom.worklist.sample import write_folder

WINDOWS = (0, 1, 3, 128)
GOOD_YAML = "PatientID: Y1\nScheduledProcedureStepSequence:\r\n  - Modality: CT\n"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Good items plus garbage, a half-written file, a bad YAML, a mode-000 file."""
    write_folder(tmp_path, "WLMSCP", 20, seed=11)
    folder = tmp_path / "WLMSCP"
    good = sorted(folder.glob("*.wl"))
    (folder / "a_garbage.wl").write_bytes(b"\x00not dicom" * 7)
    (folder / "m_half.wl").write_bytes(good[3].read_bytes()[:-29])
    (folder / "n_bad.yaml").write_text("- a\n- b\n", encoding="utf-8")
    (folder / "n_good.yaml").write_text(GOOD_YAML, encoding="utf-8")
    (folder / "o_unreadable.wl").write_bytes(good[4].read_bytes())
    (folder / "o_unreadable.wl").chmod(0)
    return folder


def _view(items: list[WorklistItem]) -> list[tuple[object, ...]]:
    return [(item.path, item.stamp, item.raw, item.record) for item in items]


def _load(
    folder: Path, window: int, access: FileAccess = SYSTEM
) -> tuple[list[WorklistItem], list[tuple[str, str]]]:
    loader = FolderLoader({}, {}, set(), window=window, access=access)
    with capture_logs() as logs:
        items = loader.load_folder(folder)
    warned = [(e["file"], e["reason"]) for e in logs if e["log_level"] == "warning"]
    return items, warned


class Watched(FileAccess):
    """The system's descriptor calls, counted: ``before(path)`` runs ahead of every open,
    ``peaks`` records how many descriptors were open after each one."""

    def __init__(self, before: Callable[[str], None], *, can_advise: bool = CAN_ADVISE) -> None:
        super().__init__(can_advise=can_advise)
        self.before = before
        self.live: set[int] = set()
        self.peaks: list[int] = []

    def open(self, path: str) -> int:
        self.before(path)
        descriptor = super().open(path)
        self.live.add(descriptor)
        self.peaks.append(len(self.live))
        return descriptor

    def close(self, descriptor: int) -> None:
        self.live.discard(descriptor)
        super().close(descriptor)


class Scarce(Watched):
    """Runs out of descriptors (EMFILE) while two are open."""

    def open(self, path: str) -> int:
        if len(self.live) >= 2:
            raise OSError(errno.EMFILE, "Too many open files", path)
        return super().open(path)


@pytest.mark.parametrize("window", WINDOWS[1:])
def test_same_items_and_warnings_with_and_without_readahead(folder: Path, window: int) -> None:
    reference, reference_warned = _load(folder, 0)
    items, warned = _load(folder, window)
    assert _view(items) == _view(reference)
    assert warned == reference_warned
    bad = {"a_garbage.wl", "m_half.wl", "n_bad.yaml"}
    if os.geteuid() != 0:  # root can read a mode-000 file
        bad.add("o_unreadable.wl")
    assert {Path(name).name for name, _ in warned} == bad
    assert len(items) == 21 + (os.geteuid() == 0)


@linux_only
@pytest.mark.parametrize("window", WINDOWS)
def test_every_fd_closed_with_vanished_and_swapped_files(folder: Path, window: int) -> None:
    def swap(path: str) -> None:  # changes after listing, before the open
        name = Path(path).name
        if name == "item_000005.wl":
            os.unlink(path)
        elif name == "item_000006.wl":
            os.unlink(path)
            os.mkfifo(path)  # opened non-blocking, refused as not a regular file
        elif name == "item_000007.wl":
            os.unlink(path)
            os.mkdir(path)

    access = Watched(swap)
    before = _open_fds()
    items, warned = _load(folder, window, access)
    assert _open_fds() == before
    assert max(access.peaks) <= max(window, 1)
    names = {Path(name).name for name, _ in warned}
    assert {"item_000006.wl", "item_000007.wl"} <= names  # one warning each
    assert "item_000005.wl" not in names  # vanished: skipped quietly, as before
    assert len(warned) == len(set(warned))
    assert len(items) == 18 + (os.geteuid() == 0)


@linux_only
@pytest.mark.parametrize("window", WINDOWS)
def test_every_fd_closed_when_the_parser_fails_mid_load(folder: Path, window: int) -> None:
    calls = iter(range(1000))

    def failing(name: str, data: bytes, stamp: Stamp, interner: Interner | None) -> WorklistItem:
        if next(calls) == 6:
            raise RuntimeError("parser bug")
        return load_dicom_bytes(name, data, stamp, interner)

    before = _open_fds()
    loader = FolderLoader({}, {}, set(), window=window, parse=failing)
    with pytest.raises(RuntimeError, match="parser bug"):
        loader.load_folder(folder)
    assert _open_fds() == before


@pytest.fixture
def counted_opens() -> list[str]:
    return []


def test_reload_opens_only_changed_files(folder: Path, counted_opens: list[str]) -> None:
    access = Watched(lambda path: counted_opens.append(Path(path).name))
    loader = FolderLoader({}, {}, set(), access=access)
    with capture_logs():
        first = loader.load_folder(folder)
    assert len(counted_opens) == 25  # every listed file once: no stat needed first
    counted_opens.clear()
    with capture_logs() as logs:
        again = loader.load_folder(folder)
    assert counted_opens == []  # unchanged items and known-bad versions are only stat-ed
    assert [item.path for item in again] == [item.path for item in first]
    assert all(new is old for new, old in zip(again, first, strict=True))
    assert [e for e in logs if e["log_level"] == "warning"] == []
    for name in ("item_000002.wl", "a_garbage.wl"):
        os.utime(folder / name, ns=(1, 1))
    with capture_logs() as logs:
        loader.load_folder(folder)
    assert counted_opens == ["a_garbage.wl", "item_000002.wl"]
    assert [Path(e["file"]).name for e in logs if e["log_level"] == "warning"] == ["a_garbage.wl"]


def test_running_out_of_descriptors_only_shrinks_the_window(folder: Path) -> None:
    reference, reference_warned = _load(folder, 0)
    items, warned = _load(folder, 64, Scarce(lambda path: None))
    assert _view(items) == _view(reference)
    assert warned == reference_warned


def test_without_posix_fadvise_files_are_read_one_at_a_time(folder: Path) -> None:
    reference, reference_warned = _load(folder, 0)
    access = Watched(lambda path: None, can_advise=False)
    items, warned = _load(folder, 128, access)
    assert max(access.peaks) == 1
    assert _view(items) == _view(reference)
    assert warned == reference_warned
