"""Load generation: closed loop (N concurrent associations) and open loop (fixed rate).

Open loop avoids coordinated omission: query *i* is due at ``t0 + i / rate`` and its
latency is measured from that intended time, so a slow SCP that delays sending (or a
full pool) shows up in the latency instead of silently lowering the offered load.
A run ends at ``count`` queries or after ``duration`` seconds, whichever comes first; a
bound set to None does not apply (one of them must be set). ``stop()`` (Ctrl-C) ends it
early.
Association modes: ``reuse`` (a pool of associations, PS3.8 7.1) or ``new`` (one
association per query, released after its final response, PS3.8 7.2). With ``window``
above 1 the pool proposes an asynchronous operations window (PS3.7 D.3.3.3) and carries
up to that many queries per association, so ``concurrency`` queries need only
ceil(concurrency / window) associations. Every query identifier is encoded once
(:func:`aiodicom.encode_query`), not on every C-FIND.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from dataclasses import dataclass
from typing import Literal

from aiodicom.errors import AiodicomError
from aiodicom.net import AssociationPool, ClientAssociation, EncodedQuery, PeerSpec, encode_query

from .config import QueryMix, Target, WeightedQuery
from .stats import LoadStats


@dataclass(slots=True)
class RunSettings:
    """How much load, for how long (``count`` / ``duration`` None: no such bound)."""

    mode: Literal["closed", "open"] = "closed"
    concurrency: int = 10
    rate: float = 100.0
    count: int | None = 1000
    duration: float | None = 60.0
    association: Literal["reuse", "new"] = "reuse"
    timeout: float | None = 30.0
    drain: float = 5.0
    max_pdu_length: int = 16384
    window: int = 1

    @property
    def associations(self) -> int:
        """Pooled associations needed for ``concurrency`` queries in flight."""
        return max(1, math.ceil(self.concurrency / max(1, self.window)))


class LoadRunner:
    """Drives the target with queries from ``mix`` and records them in ``stats``."""

    def __init__(
        self,
        target: Target,
        mix: QueryMix,
        settings: RunSettings,
        stats: LoadStats,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.mix = mix
        self.settings = settings
        self.stats = stats
        self.ssl_context = ssl_context
        self.issued = 0
        self.in_flight = 0
        self._stop = asyncio.Event()
        self._deadline = 0.0
        self._pool: AssociationPool | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._encoded: dict[int, EncodedQuery] = {
            id(query): encode_query(query.identifier) for query in mix.queries
        }
        self.peer = PeerSpec(
            target.host,
            target.port,
            called_ae=target.called_ae,
            calling_ae=target.calling_ae,
            models=tuple({q.model: None for q in mix.queries}),
            max_pdu_length=settings.max_pdu_length,
            ssl=ssl_context,
        )

    def stop(self) -> None:
        """Stop issuing queries (Ctrl-C); in-flight ones get ``drain`` seconds to end."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """True after :meth:`stop`."""
        return self._stop.is_set()

    def _may_issue(self) -> bool:
        return (
            not self._stop.is_set()
            and (self.settings.count is None or self.issued < self.settings.count)
            and time.perf_counter() < self._deadline
        )

    async def run(self) -> None:
        """Run until count, duration or stop; then drain and close associations."""
        settings = self.settings
        if settings.count is None and settings.duration is None:
            raise ValueError("RunSettings: set count, duration or both")
        duration = math.inf if settings.duration is None else settings.duration
        self._deadline = time.perf_counter() + duration
        self.stats.started = time.perf_counter()
        if settings.association == "reuse":
            window = (settings.window, settings.window) if settings.window > 1 else None
            self._pool = AssociationPool(
                max_per_peer=settings.associations,
                async_ops_window=window,
                connect_timeout=settings.timeout or 30.0,
                acse_timeout=settings.timeout or 30.0,
            )
        try:
            if settings.mode == "closed":
                await self._closed_loop()
            else:
                await self._open_loop()
        finally:
            await self._drain()
            self.stats.stop()
            if self._pool is not None:
                self.stats.associations += self._pool.opened
                await self._pool.close()

    async def _closed_loop(self) -> None:
        async def worker() -> None:
            while self._may_issue():
                self.issued += 1
                await self._one(self.mix.pick(), time.perf_counter())

        workers = [asyncio.create_task(worker()) for _ in range(self.settings.concurrency)]
        self._tasks.update(workers)
        await self._wait_stop_or(workers)

    async def _open_loop(self) -> None:
        interval = 1.0 / self.settings.rate
        start = time.perf_counter()
        while self._may_issue():
            intended = start + self.issued * interval
            delay = intended - time.perf_counter()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    break  # stopped while waiting
                except TimeoutError:
                    pass
            if time.perf_counter() >= self._deadline:
                break
            self.issued += 1
            task = asyncio.create_task(self._one(self.mix.pick(), intended))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wait_stop_or(self, tasks: list[asyncio.Task[None]]) -> None:
        """Return when every task is done or :meth:`stop` was called."""
        stopper = asyncio.create_task(self._stop.wait())
        pending: set[asyncio.Task[None]] = set(tasks)
        try:
            while pending and not self._stop.is_set():
                await asyncio.wait([*pending, stopper], return_when=asyncio.FIRST_COMPLETED)
                pending = {task for task in pending if not task.done()}
        finally:
            stopper.cancel()

    async def _drain(self) -> None:
        """Give in-flight queries ``drain`` seconds, then cancel what is left."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.settings.drain)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _one(self, query: WeightedQuery, intended: float) -> None:
        self.in_flight += 1
        try:
            async with asyncio.timeout(self.settings.timeout):
                status, responses, comment = await self._find(query)
        except (AiodicomError, OSError, ssl.SSLError, TimeoutError) as exc:
            self.stats.record_error(query.name, exc, time.perf_counter() - intended)
        else:
            latency = time.perf_counter() - intended
            self.stats.record_final(query.name, status, responses, latency, comment)
        finally:
            self.in_flight -= 1

    async def _find(self, query: WeightedQuery) -> tuple[int, int, str | None]:
        encoded = self._encoded[id(query)]
        if self._pool is not None:
            async with self._pool.lease(self.peer) as association:
                return await _count_responses(association, query, encoded)
        async with self.peer.connect() as association:
            self.stats.associations += 1
            return await _count_responses(association, query, encoded)


async def _count_responses(
    association: ClientAssociation, query: WeightedQuery, encoded: EncodedQuery
) -> tuple[int, int, str | None]:
    """(final status, number of pending responses, Error Comment) of one C-FIND
    (PS3.7 9.1.2; the comment of a failed final response, C.4.1.1.4)."""
    responses = 0
    status = 0xC000
    stream = association.find_responses(encoded, query.model)
    async for result in stream:
        if result.is_final:
            status = result.status
        else:
            responses += 1
    return status, responses, stream.error_comment
