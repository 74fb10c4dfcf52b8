"""The Q/R index kept current with a folder of DICOM files.

At start the folder is walked recursively and compared with the store (path, mtime, size);
new or changed files are parsed (headers only) and removed ones dropped. While running,
``watchfiles.awatch`` reports changes and the same incremental update runs; if watching is
not possible, a periodic re-walk (polling) takes over. A first build of many files into an
empty store runs as the store's bulk load (computed attributes refreshed once at the end).
All blocking work (file parsing, SQLite) runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from aiodicom.errors import DataError
from aiodicom.store.qr_files import EntityCache, parse_file, walk_folder
from aiodicom.store.qr_store import IndexedFile, QRStore

log = structlog.get_logger("aiodicom.qr.index")
T = TypeVar("T")

_PARSE_CHUNK = 256
_PROCESS_POOL_THRESHOLD = 4000
_BULK_THRESHOLD = 2000


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one (re)scan changed: files added or replaced, removed, skipped; seconds."""

    added: int
    removed: int
    skipped: int
    seconds: float


def _parse_chunk(paths: Sequence[str]) -> tuple[list[IndexedFile], list[tuple[str, str]]]:
    """Parse ``paths``; returns the good files and (path, reason) for the bad ones."""
    good: list[IndexedFile] = []
    bad: list[tuple[str, str]] = []
    cache: EntityCache = {}
    for path in paths:
        try:
            good.append(parse_file(path, cache))
        except DataError as exc:
            bad.append((path, exc.reason))
    return good, bad


class QRIndex:
    """A folder of DICOM files indexed in a :class:`QRStore`, updated incrementally.

    ``quiet``: a folder whose changes do not start a rescan, because its writer indexes
    its own files (the C-STORE folder, :mod:`aiodicom.qr.storage`); it is still walked by
    every scan. Such a writer runs its index work through :meth:`exclusive`.
    """

    def __init__(
        self,
        root: str | Path,
        store: QRStore,
        *,
        exclude: Collection[str | Path] = (),
        poll_interval: float = 2.0,
        force_polling: bool = False,
        workers: int = 2,
        bulk_threshold: int = _BULK_THRESHOLD,
        quiet: Path | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self._prefix = str(self.root).rstrip(os.sep) + os.sep
        self.store = store
        self._exclude = frozenset(str(Path(p).resolve()) for p in exclude)
        self._poll_interval = poll_interval
        self._force_polling = force_polling
        self._workers = workers
        self._bulk_threshold = bulk_threshold
        self._quiet = None if quiet is None else str(Path(quiet).resolve()) + os.sep
        self._bad: dict[str, tuple[int, int]] = {}
        self._dupes: dict[str, tuple[int, int]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.updates = 0
        self.on_update: Callable[[ScanReport], None] | None = None

    async def exclusive(self, work: Callable[[], T]) -> T:
        """Run the blocking ``work`` in a thread while no scan runs: a writer that indexes
        files itself (C-STORE) never races a scan's view of the folder."""
        async with self._lock:
            return await asyncio.to_thread(work)

    async def scan(self) -> ScanReport:
        """Walk the folder and bring the store in line with it (PS3.4 C.6 entities)."""
        async with self._lock:
            return await self._scan()

    async def _scan(self) -> ScanReport:
        started = time.monotonic()
        on_disk = await asyncio.to_thread(self._walk)
        known = await asyncio.to_thread(self.store.known_files)
        removed = [path for path in known if path not in on_disk and self._owns(path)]
        if removed:
            self._dupes.clear()  # a removal may make a refused duplicate indexable again
        changed = [
            path
            for path, stamp in on_disk.items()
            if known.get(path) != stamp
            and self._bad.get(path) != stamp
            and self._dupes.get(path) != stamp
        ]
        added, skipped = await self._parse_and_apply(changed, removed, on_disk)
        report = ScanReport(added, len(removed), skipped, time.monotonic() - started)
        if added or removed:
            self.updates += 1
            log.info(
                "qr_index_updated",
                added=added,
                removed=len(removed),
                skipped=skipped,
                seconds=round(report.seconds, 3),
            )
            if self.on_update is not None:
                self.on_update(report)
        return report

    async def forget(self) -> int:
        """Drop every indexed file of our folder (``--reindex`` on a shared index, where
        other nodes' files stay); the number dropped."""
        async with self._lock:
            known = await asyncio.to_thread(self.store.known_files)
            own = [path for path in known if self._owns(path)]
            if own:
                await asyncio.to_thread(self.store.apply, [], own)
            self._bad.clear()
            self._dupes.clear()
            return len(own)

    def _owns(self, path: str) -> bool:
        """Whether ``path`` is under our folder: a shared index (PostgreSQL) also holds the
        files of other nodes' folders, which our scan must leave alone."""
        return path.startswith(self._prefix)

    def _walk(self) -> dict[str, tuple[int, int]]:
        return {path: (mtime, size) for path, mtime, size in walk_folder(self.root, self._exclude)}

    async def _parse_and_apply(
        self, paths: list[str], removed: list[str], stamps: dict[str, tuple[int, int]]
    ) -> tuple[int, int]:
        chunks = [paths[i : i + _PARSE_CHUNK] for i in range(0, len(paths), _PARSE_CHUNK)]
        pool: Executor | None = None
        if len(paths) >= _PROCESS_POOL_THRESHOLD and self._workers > 1:
            pool = ProcessPoolExecutor(max_workers=self._workers)
        loop = asyncio.get_running_loop()
        added = skipped = 0
        bulk = len(paths) >= self._bulk_threshold and await asyncio.to_thread(self.store.begin_bulk)
        try:
            pending = [loop.run_in_executor(pool, _parse_chunk, chunk) for chunk in chunks]
            if not pending and removed:
                await asyncio.to_thread(self.store.apply, [], removed)
            for index, future in enumerate(pending):
                good, bad = await future
                duplicates = await asyncio.to_thread(
                    self.store.apply, good, removed if index == 0 else []
                )
                for path in duplicates:
                    self._dupes[path] = stamps.get(path, (0, 0))
                    log.warning("qr_file_skipped", file=path, reason="duplicate SOP Instance UID")
                for path, reason in bad:
                    self._warn_bad(path, reason, stamps.get(path))
                skipped += len(bad) + len(duplicates)
                added += len(good) - len(duplicates)
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            if bulk:
                await asyncio.to_thread(self.store.end_bulk)
        return added, skipped

    def _warn_bad(self, path: str, reason: str, stamp: tuple[int, int] | None) -> None:
        """One warning per bad file (again only if the file changes)."""
        if stamp is not None:
            self._bad[path] = stamp
        log.warning("qr_file_skipped", file=path, reason=reason)

    async def start(self, *, watch: bool = True) -> ScanReport:
        """Scan once, then (optionally) keep watching in a background task."""
        report = await self.scan()
        if watch and self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._watch_loop(), name="qr-index-watch")
        return report

    async def close(self) -> None:
        """Stop watching (the store stays open; the owner closes it)."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch_loop(self) -> None:
        if not self._force_polling:
            try:
                await self._watch_events()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # inotify limits, missing backend, ...
                log.warning("qr_watch_unavailable", error=str(exc), fallback="polling")
        await self._poll()

    async def _watch_events(self) -> None:
        from watchfiles import awatch

        kwargs: dict[str, Any] = {"stop_event": self._stop, "debounce": 200, "step": 50}
        quiet = self._quiet
        if quiet is not None:  # files written and indexed by their writer: no rescan

            def loud(_change: object, path: str) -> bool:
                return not path.startswith(quiet)

            kwargs["watch_filter"] = loud
        async for _changes in awatch(self.root, **kwargs):
            await self._rescan_logged()

    async def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self._poll_interval)
            except TimeoutError:
                await self._rescan_logged()

    async def _rescan_logged(self) -> None:
        try:
            await self.scan()
        except Exception as exc:  # keep watching whatever one scan hit
            log.error("qr_index_scan_failed", error=f"{type(exc).__name__}: {exc}")
