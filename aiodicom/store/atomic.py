"""Atomic file replacement: what a reader sees is the old file or the new one, never half.

The item files of the worklist (:mod:`aiodicom.webapi.files`) and the MPPS instances
(:mod:`aiodicom.store.mpps`) are written this way: a hidden temporary file in the same
folder, fsynced, renamed over the target with :func:`os.replace` (atomic on POSIX), then
the folder fsynced so the rename itself survives a crash. A write that returned is on
disk; a process killed mid-write leaves the old file and, at most, a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def temp_path(path: Path) -> Path:
    """The hidden temporary file :func:`atomic_write` writes before renaming it to ``path``
    (``.<name>.<8 hex digits>.tmp``; :data:`aiodicom.webapi.files.TEMP_NAME` matches it)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: Path, data: bytes) -> None:
    """Temporary file in the same folder, fsync, os.replace, fsync the folder."""
    temp = temp_path(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
