"""Atomic file writes: a temporary file, fsync, rename over the target, fsync the folder.

A reader (the folder scan, the worklist loader, wlmscpfs, a person) sees either no file
or the whole new one, never half of it; after a crash (kill -9, power loss once the
folder is synced) the target is complete or absent. The worklist item files of the web
API and the MPPS instances (:func:`atomic_write`, whole bytes) and the instances the Q/R
SCP receives by C-STORE (:class:`AtomicFile`, written fragment by fragment as they
arrive) all use it. Threads renaming into one folder at the same time share its fsyncs
(:func:`fsync_dir`: group commit).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path


def temp_path(path: Path) -> Path:
    """The hidden temporary file :func:`atomic_write` writes before renaming it to ``path``
    (``.<name>.<8 hex digits>.tmp``; :data:`aiodicom.store.worklist_items.TEMP_NAME` matches it)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


class AtomicFile:
    """A temporary file written in pieces, then made durable and renamed into place.

    ``temp`` must be on the file system of the final target (same folder, or a hidden
    folder next to it) so :meth:`commit` is one :func:`os.replace`. ``durable=False``
    skips the two fsyncs: the rename is still atomic and survives a crash of the process
    (the page cache is the kernel's), not of the machine.
    """

    __slots__ = ("_fd", "durable", "temp")

    def __init__(self, temp: Path, *, durable: bool = True) -> None:
        self.temp = temp
        self.durable = durable
        self._fd: int | None = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` (OSError, e.g. ENOSPC, propagates; the caller discards)."""
        fd = self._fd
        if fd is None:
            raise ValueError(f"{self.temp} is already synced or discarded")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def sync(self) -> None:
        """Flush the contents to stable storage and close the temporary file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def commit(self, target: Path) -> None:
        """:meth:`sync`, rename over ``target``, fsync ``target``'s folder."""
        self.sync()
        os.replace(self.temp, target)
        if self.durable:
            fsync_dir(target.parent)

    def discard(self) -> None:
        """Close and remove the temporary file (nothing happens to any target)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


def atomic_write(path: Path, data: bytes, temp: Path | None = None) -> None:
    """Write ``data`` to ``temp`` (default :func:`temp_path`), fsync, os.replace onto
    ``path``, fsync the folder."""
    file = AtomicFile(temp_path(path) if temp is None else temp)
    try:
        file.write(data)
        file.commit(path)
    finally:
        file.discard()  # after a commit the temporary name is gone: nothing to remove


class _FolderSync:
    """Group commit of one folder's fsync: a caller returns after an fsync that started
    after it called; callers arriving while one runs share the next one."""

    __slots__ = ("cond", "done", "running", "started", "users")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.started = self.done = self.users = 0
        self.running = False

    def sync(self, folder: Path) -> None:
        with self.cond:
            target = self.started + 1  # the running fsync may predate the caller's rename
            while self.done < target:
                if self.running:
                    self.cond.wait()
                    continue
                self.running, self.started = True, self.started + 1
                mine = self.started
                self.cond.release()
                try:
                    _fsync_folder(folder)
                finally:
                    self.cond.acquire()
                    self.running, self.done = False, mine
                    self.cond.notify_all()


_FOLDERS: dict[str, _FolderSync] = {}  # only folders with a caller in fsync_dir
_FOLDERS_LOCK = threading.Lock()
_FSYNCS = [0]


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems refuse it).

    Safe from many threads at once, and cheaper: the threads renaming into one folder
    at the same time (MPPS instances, worklist items) share its fsyncs.
    """
    key = os.fspath(folder)
    with _FOLDERS_LOCK:
        state = _FOLDERS.setdefault(key, _FolderSync())
        state.users += 1
    try:
        state.sync(folder)
    finally:
        with _FOLDERS_LOCK:
            state.users -= 1
            if not state.users:
                del _FOLDERS[key]


def folder_fsyncs() -> int:
    """How many folder fsyncs :func:`fsync_dir` made in this process (callers - shared)."""
    return _FSYNCS[0]


def _fsync_folder(folder: Path) -> None:
    with _FOLDERS_LOCK:
        _FSYNCS[0] += 1
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
