"""Per-key write locks: writers of different files run at the same time.

:class:`KeyedLocks` gives one :class:`asyncio.Lock` per key (an item id, a SOP Instance
UID), made on first use and dropped when nobody holds or waits for it, so writes to one
file keep their order (FIFO, as :class:`asyncio.Lock` wakes its waiters) while writes to
other files, and their fsyncs, overlap. :meth:`KeyedLocks.exclusive` excludes every key
at once, for a change that spans several files (an HL7 order replacing items).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """One lock per key, plus an exclusive mode that waits for all keyed holders."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._whole = asyncio.Lock()
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        """Keys with a holder or a waiter (0 when idle: no lock is kept for nothing)."""
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock (after any exclusive holder is done)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await self._enter()
                try:
                    yield
                finally:
                    self._active -= 1
                    if not self._active:
                        self._idle.set()
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def _enter(self) -> None:
        while self._whole.locked():
            async with self._whole:  # wait for the exclusive holder (FIFO with the others)
                pass
        self._active += 1
        self._idle.clear()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold every key: new keyed holders wait, current ones finish first."""
        async with self._whole:
            await self._idle.wait()
            yield
