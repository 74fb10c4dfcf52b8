"""Read many small files in a known order, opening a bounded window of them ahead.

With a cold page cache, reading 100k worklist files one by one waits for the disk once per
file. :class:`ReadAhead` opens up to ``window`` files ahead of the one being read and asks
the kernel to start reading each (``posix_fadvise(POSIX_FADV_WILLNEED)``, POSIX.1-2008), so
the disk works while the caller parses; with a warm cache it costs nothing measurable.

Where ``posix_fadvise`` does not exist (Windows, macOS) files are opened one at a time,
when read. At most ``window`` descriptors are open at once and every one is closed: after
its read, on any error, and by ``close`` (or leaving the ``with`` block) for the rest.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Sequence
from types import TracebackType

CAN_ADVISE = hasattr(os, "posix_fadvise")
DEFAULT_WINDOW = 128
"""Files opened ahead: enough to keep the disk busy, far below the usual fd limit."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)  # Windows: no newline translation
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after listing must not block
)
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


class NotRegularFile(OSError):
    """The path names a directory, FIFO, device... (only regular files are read)."""


class FileAccess:
    """The descriptor calls of :class:`ReadAhead`: open, close and the read-ahead hint.

    The default, :data:`SYSTEM`, makes them on ``os``; a subclass passed to
    :class:`ReadAhead` (or to the worklist's ``FolderLoader``) sees or changes them, e.g.
    a test counting open descriptors or running out of them. ``can_advise`` False reads
    one file at a time, as where ``posix_fadvise`` does not exist.
    """

    def __init__(self, *, can_advise: bool = CAN_ADVISE) -> None:
        self.can_advise = can_advise

    def open(self, path: str) -> int:
        """A read-only descriptor for ``path`` (OSError as from ``os.open``)."""
        return os.open(path, _OPEN_FLAGS)

    def close(self, descriptor: int) -> None:
        os.close(descriptor)

    def advise(self, descriptor: int) -> None:
        """Ask the kernel to read the whole file in the background (a hint: errors ignored)."""
        with contextlib.suppress(OSError):  # e.g. a file system without page cache hints
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_WILLNEED)


SYSTEM = FileAccess()


def read_descriptor(descriptor: int, path: str) -> tuple[os.stat_result, bytes]:
    """``fstat`` and the whole content of an open regular file (the caller closes it).

    A regular file returns a short read only at its end, so one read of ``size + 1`` bytes
    is enough unless the file grew after ``fstat``.
    """
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(errno.EINVAL, "not a regular file", path)
    data = os.read(descriptor, info.st_size + 1)
    if len(data) <= info.st_size:
        return info, data
    parts = [data]
    while chunk := os.read(descriptor, 1 << 16):
        parts.append(chunk)
    return info, b"".join(parts)


class ReadAhead:
    """Reads ``paths`` in order through :meth:`read`, opening files ahead of it.

    A file that cannot be opened ahead raises its OSError when its turn comes, so errors
    reach the caller in order, for the right file. Running out of descriptors while
    opening ahead only shrinks the window: that file is opened again when it is read.
    """

    def __init__(
        self, paths: Sequence[str], window: int = DEFAULT_WINDOW, access: FileAccess = SYSTEM
    ) -> None:
        self._paths = paths
        self._access = access
        self._window = window if access.can_advise else 0
        self._next_read = 0
        self._next_open = 0
        self._opened: deque[int | OSError] = deque()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every descriptor opened ahead and not read yet."""
        while self._opened:
            pending = self._opened.popleft()
            if isinstance(pending, int):
                self._access.close(pending)
        self._next_open = self._next_read = len(self._paths)

    def read(self, path: str) -> tuple[os.stat_result, bytes]:
        """``fstat`` and content of ``path``, the next of the paths (OSError: its problem)."""
        index = self._next_read
        if index >= len(self._paths) or self._paths[index] != path:
            raise ValueError(f"ReadAhead: {path!r} is not the next path to read")
        self._next_read = index + 1
        self._fill()
        if self._opened:
            pending = self._opened.popleft()
        else:  # no window, or no descriptor was free when this file's turn to open came
            self._next_open = index + 1
            pending = self._open_now(path)
        if isinstance(pending, OSError):
            raise pending
        try:
            return read_descriptor(pending, path)
        finally:
            self._access.close(pending)

    def _fill(self) -> None:
        """Open (and advise) files until ``window`` are ahead of the next read."""
        limit = min(len(self._paths), self._next_read - 1 + self._window)
        while self._next_open < limit:
            try:
                descriptor = self._access.open(self._paths[self._next_open])
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS and self._opened:
                    return  # retried on a later call, or opened when read
                self._opened.append(exc)
            else:
                self._opened.append(descriptor)
                self._access.advise(descriptor)
            self._next_open += 1

    def _open_now(self, path: str) -> int | OSError:
        try:
            return self._access.open(path)
        except OSError as exc:
            return exc
