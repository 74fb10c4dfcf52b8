"""Warm the page cache for a long list of files from a helper process, ahead of a parser.

With a cold page cache, the kernel work of reading many small files (looking up and
reading cold inodes in ``open``, allocating pages and submitting the reads in
``posix_fadvise(POSIX_FADV_WILLNEED)``, POSIX.1-2008) costs seconds of CPU. Done in the
parsing thread, it serialises with the parse on one core; a Python thread cannot take it
over (the GIL changes hands on every system call). :class:`CacheWarmer` runs a tiny
interpreter (``python -I -S -c``) that opens, advises and closes each file, in the order
the parser reads them, so that work runs on another core.

The warmer is only a hint: the parser still reads every file itself, so a warmer that
lags, dies or never starts changes timing, never results. It is bounded by the list it is
given, and :meth:`CacheWarmer.stop` kills (our own child, by its PID) and reaps it. Were
the parent itself killed mid-load, the child would see the end of its input after at most
one pipe buffer of paths, and exit.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from aiodicom.store.readahead import CAN_ADVISE

log = structlog.get_logger("aiodicom.worklist")

MIN_FILES = 2_000
"""Fewer files load in well under a second even from a cold cache: no warmer for them."""

STOP_TIMEOUT = 5.0
"""Seconds to wait for the killed child to be reaped (SIGKILL: normally microseconds)."""

SCRIPT = """\
import os
flags = os.O_RDONLY | os.O_NONBLOCK
advise, willneed = os.posix_fadvise, os.POSIX_FADV_WILLNEED
rest = b""
while chunk := os.read(0, 1 << 16):
    *paths, rest = (rest + chunk).split(b"\\0")
    for path in paths:
        try:
            descriptor = os.open(path, flags)
        except OSError:
            continue
        try:
            advise(descriptor, 0, 0, willneed)
        except OSError:
            pass
        os.close(descriptor)
"""
"""The child: open (O_NONBLOCK: a FIFO must not block it), advise, close; errors ignored."""


@dataclass(frozen=True, slots=True)
class Launcher:
    """How a warmer is started: the child's ``script``, the factories of the child
    process (``subprocess.Popen``'s signature) and of the feeding thread, and the logger.

    :data:`DEFAULT` starts the real child; a caller may pass another (a child that only
    sleeps, a process or thread that cannot be started) to :func:`warming` or to the
    worklist's ``FolderLoader``.
    """

    script: str = SCRIPT
    popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen
    thread: Callable[..., threading.Thread] = threading.Thread
    log: Any = log


DEFAULT = Launcher()


class CacheWarmer:
    """A running warmer child and the thread feeding it the paths (see the module doc)."""

    def __init__(self, process: subprocess.Popen[bytes], feeder: threading.Thread) -> None:
        self._process = process
        self._feeder = feeder

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    def start(
        cls, paths: Sequence[str], min_files: int = MIN_FILES, launcher: Launcher = DEFAULT
    ) -> CacheWarmer | None:
        """A warmer for ``paths`` (read in this order), or None when not worth one.

        None too when the child cannot be started: the load then goes on without it.
        """
        if not CAN_ADVISE or not sys.executable or len(paths) < min_files:
            return None
        try:
            payload = _encode(paths)
            process = launcher.popen(
                [sys.executable, "-I", "-S", "-c", launcher.script],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            launcher.log.debug("page cache warmer not started", reason=str(exc))
            return None
        feeder = launcher.thread(
            target=_feed, args=(process, payload), name="cache-warmer-feed", daemon=True
        )
        try:
            feeder.start()
        except RuntimeError as exc:  # no thread could be started
            launcher.log.debug("page cache warmer not started", reason=str(exc))
            _kill(process)
            _close_stdin(process)
            return None
        return cls(process, feeder)

    def stop(self) -> None:
        """Kill the child if it still runs, reap it, and end the feeding thread."""
        _kill(self._process)
        self._feeder.join(STOP_TIMEOUT)


@contextlib.contextmanager
def warming(
    paths: Sequence[str], min_files: int = MIN_FILES, launcher: Launcher = DEFAULT
) -> Iterator[CacheWarmer | None]:
    """A warmer for ``paths`` while the ``with`` block runs (None: none was started)."""
    warmer = CacheWarmer.start(paths, min_files, launcher)
    try:
        yield warmer
    finally:
        if warmer is not None:
            warmer.stop()


def _encode(paths: Sequence[str]) -> bytes:
    """The paths as the file system names them, each ended by NUL (the one byte no POSIX
    path holds), undecodable bytes kept as they were listed."""
    text = "".join(f"{path}\0" for path in paths)
    return text.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def _feed(process: subprocess.Popen[bytes], payload: bytes) -> None:
    """Write the paths to the child's stdin and close it (the child may die meanwhile)."""
    if process.stdin is not None:
        with contextlib.suppress(OSError, ValueError):  # BrokenPipeError: the child is gone
            process.stdin.write(payload)
    _close_stdin(process)


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError, ValueError):  # unflushed bytes to a dead child
            process.stdin.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL our child unless already reaped, then reap it (no zombie is left)."""
    with contextlib.suppress(OSError):
        process.kill()  # a no-op once Popen has reaped it: never signals a reused PID
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.debug("page cache warmer not reaped", pid=process.pid)
