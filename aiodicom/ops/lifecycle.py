"""Process lifecycle: signals, graceful drain, reload, and SO_REUSEPORT worker processes.

* SIGTERM / SIGINT: stop accepting, let in-flight associations finish within the
  deadline, abort the rest (A-ABORT, PS3.8 9.3.8), return exit code 0.
* SIGHUP: run the reload callback (config and data); open associations are not touched,
  new ones see the new configuration. A failing reload is logged and the old state kept.
* :func:`run_workers`: fork N processes before any event loop exists; each binds the same
  port with SO_REUSEPORT. The parent forwards SIGTERM/SIGINT/SIGHUP to every worker and
  exits 0 only when every worker did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from types import FrameType

from aiodicom.errors import AiodicomError
from aiodicom.log import get_logger
from aiodicom.net.server import Server

Reload = Callable[[], Awaitable[None]]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Lifecycle:
    """Runs a started server until SIGTERM/SIGINT; SIGHUP calls ``reload``."""

    def __init__(
        self, server: Server, *, reload: Reload | None = None, shutdown_deadline: float = 10.0
    ) -> None:
        self.server = server
        self.reload = reload
        self.shutdown_deadline = shutdown_deadline
        self.reloads = 0
        self.log = get_logger(component="lifecycle")
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def request_stop(self) -> None:
        """What SIGTERM/SIGINT do; callable directly (e.g. from tests)."""
        self._stop.set()

    def request_reload(self) -> None:
        """What SIGHUP does: schedule one reload (reloads run one at a time)."""
        task = asyncio.get_running_loop().create_task(self._reload_once())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_once(self) -> None:
        if self.reload is None:
            self.log.info("sighup ignored: nothing to reload")
            return
        async with self._reload_lock:
            started = time.monotonic()
            try:
                await self.reload()
            except (AiodicomError, OSError, ValueError) as exc:
                self.log.error("reload failed; keeping the previous state", error=str(exc))
                return
            self.reloads += 1
            self.log.info("reloaded", seconds=round(time.monotonic() - started, 3))

    async def run(self) -> int:
        """Wait for a stop signal, then drain and shut down. Returns the exit code (0)."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        handlers = dict.fromkeys(STOP_SIGNALS, self.request_stop)
        handlers[signal.SIGHUP] = self.request_reload
        for signum, callback in handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, callback)
                installed.append(signum)
        try:
            await self._stop.wait()
            self.log.info(
                "stopping: draining associations",
                open=len(self.server.connections),
                deadline=self.shutdown_deadline,
            )
            await self.server.shutdown(self.shutdown_deadline)
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            for task in list(self._tasks):
                task.cancel()
        self.log.info("stopped")
        return 0


def reuse_port_supported() -> bool:
    """SO_REUSEPORT exists on this platform (Linux >= 3.9, the BSDs, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def exit_cleanly_on_stop_signals() -> None:
    """Until an event loop takes the signals over, SIGTERM/SIGINT end the process with 0.

    Nothing is open while a server loads its data, so there is nothing to drain: a stop
    asked for during start-up is a clean stop, not a crash (exit 0, not 143). SIGHUP is
    ignored until :class:`Lifecycle` can reload.
    """

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def run_workers(count: int, worker: Callable[[int], int]) -> int:
    """Fork ``count`` workers running ``worker(index)``; supervise until all exit.

    Call before creating any event loop or thread. Returns 0 when every worker exited
    with 0, else 1. The forwarded signals are blocked from before the first fork until the
    forwarding handler is in place, so a signal arriving mid-fork is never lost and never
    leaves orphaned workers.
    """
    if count < 1:
        raise ValueError(f"workers must be >= 1, got {count}")
    forwarded = {*STOP_SIGNALS, signal.SIGHUP}
    children: dict[int, int] = {}

    def forward(signum: int, _frame: FrameType | None) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        for index in range(count):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child process
                _run_child(worker, index, forwarded)
            children[pid] = index
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
    failed = False
    try:
        while children:
            pid, status = os.waitpid(-1, 0)
            if pid in children:
                del children[pid]
                failed = failed or os.waitstatus_to_exitcode(status) != 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 1 if failed else 0


def _run_child(
    worker: Callable[[int], int], index: int, blocked: set[signal.Signals]
) -> None:  # pragma: no cover - runs in the child process
    exit_cleanly_on_stop_signals()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    code = 1
    try:
        code = worker(index)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()  # os._exit below would swallow it
        sys.stderr.flush()
    finally:
        os._exit(code)
