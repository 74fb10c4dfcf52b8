"""Atomic file writes: a temporary file, fsync, rename over the target, fsync the folder.

A reader (the folder scan, the worklist loader, wlmscpfs, a person) sees either no file
or the whole new one, never half of it; after a crash (kill -9, power loss once the
folder is synced) the target is complete or absent. The worklist item files of the web
API and the MPPS instances (:func:`atomic_write`, whole bytes) and the instances the Q/R
SCP receives by C-STORE (:class:`AtomicFile`, written fragment by fragment as they
arrive) all use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems refuse it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
