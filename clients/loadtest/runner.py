"""Load generation: closed loop (N concurrent associations) and open loop (fixed rate).

Open loop avoids coordinated omission: query *n* is due at the time its schedule gives
(``t0 + n / rate`` at a constant rate, :class:`.stages.Schedule` with stages) and its
latency is measured from that intended time, so a slow SCP that delays sending (or a
full pool) shows up in the latency instead of silently lowering the offered load. How
late the loop itself dispatched each query is recorded apart (:mod:`.generator`).
A closed loop runs as many workers as the schedule's peak level; worker *i* sends while
the level is above *i*. A run ends at ``count`` queries or after ``duration`` seconds
(both after the warm-up, whose queries are not counted), whichever comes first; a bound
set to None does not apply (one of them must be set). ``stop()`` (Ctrl-C) ends it early.
Association modes: ``reuse`` (a pool of associations, PS3.8 7.1) or ``new`` (one
association per query, released after its final response, PS3.8 7.2). With ``window``
above 1 the pool proposes an asynchronous operations window (PS3.7 D.3.3.3) and carries
up to that many queries per association, so ``concurrency`` queries need only
ceil(concurrency / window) associations. A fixed query identifier is encoded once
(:func:`aiodicom.encode_query`); a parameterised one for each distinct set of values
drawn (the last :data:`BUILT_CACHE` are kept): the SCP still gets the values of each send.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from dataclasses import dataclass
from typing import Literal

from aiodicom.errors import AiodicomError, AssociationRejected, ConnectFailed
from aiodicom.net import (
    AssociationPool,
    ClientAssociation,
    EncodedQuery,
    PeerSpec,
    encode_query,
)

from .config import QueryMix, Target, WeightedQuery
from .stages import Schedule, Stage
from .stats import LoadStats

BUILT_CACHE = 4096
"""Encodings of parameterised queries kept, by their filled values: a CSV of a few
thousand rows is built and encoded once per row, not once per send."""
_IDLE_POLL = 0.02
_REFUSED_BACKOFF = (0.01, 1.0)
"""A closed-loop worker whose association was refused (rejected, or no connection) waits
first 10 ms, doubling up to 1 s, before it tries again: a load test over the SCP's
association limit measures the refusals, it does not hammer the SCP with them."""
"""Seconds between checks of an idle closed-loop worker (level below its index)."""


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
    stages: tuple[Stage, ...] = ()
    warmup: float = 0.0
    interval: float = 1.0
    """Seconds per time-series point."""

    def schedule(self) -> Schedule:
        """The level over time: concurrency (closed loop) or rate (open loop)."""
        base = self.concurrency if self.mode == "closed" else self.rate
        return Schedule.build(self.stages, base, self.warmup)

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
        self.exhausted = False
        self.schedule = settings.schedule()
        self._stop = asyncio.Event()
        self._start = self._measured_from = self._deadline = 0.0
        self._new_open = 0
        self._built: dict[tuple[int, tuple[str | None, ...]], EncodedQuery] = {}
        self._pool: AssociationPool | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._encoded: dict[int, EncodedQuery] = {
            id(query): encode_query(query.identifier)
            for query in mix.queries
            if query.template is None
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
            and not self.exhausted
            and (self.settings.count is None or self.issued < self.settings.count)
            and time.perf_counter() < self._deadline
        )

    async def run(self) -> None:
        """Run until count, duration or stop; then drain and close associations."""
        settings = self.settings
        if settings.count is None and settings.duration is None:
            raise ValueError("RunSettings: set count, duration or both")
        duration = math.inf if settings.duration is None else settings.duration
        self._start = time.perf_counter()
        self._measured_from = self._start + settings.warmup
        self._deadline = self._measured_from + duration
        self.stats.started = time.time() + settings.warmup
        self.stats.generator.start()
        if settings.association == "reuse":
            window = (settings.window, settings.window) if settings.window > 1 else None
            self._pool = AssociationPool(
                max_per_peer=max(settings.associations, math.ceil(self.schedule.peak)),
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
            self.stats.generator.finish()
            if self._pool is not None:
                self.stats.associations += self._pool.opened
                await self._pool.close()

    def _next(self) -> tuple[WeightedQuery, EncodedQuery] | None:
        """The next query and its encoding (a parameterised one is built now); None
        when the values file ran out."""
        query = self.mix.pick()
        template = query.template
        if template is None:
            return query, self._encoded[id(query)]
        began = time.thread_time()  # CPU time: a busy machine does not inflate it
        filled = self.mix.draw(query)
        if filled is None:
            self.exhausted = True
            return None
        key = (id(query), filled)
        encoded = self._built.get(key)
        built = encoded is None
        if encoded is None:
            encoded = encode_query(template.build(filled))
            if len(self._built) >= BUILT_CACHE:
                del self._built[next(iter(self._built))]  # the oldest
            self._built[key] = encoded
        self.stats.generator.record_encode(time.thread_time() - began, built)
        return query, encoded

    def _counted(self, intended: float) -> bool:
        """True after the warm-up: the query counts (and the count bound applies)."""
        counted = intended >= self._measured_from
        if counted:
            self.issued += 1
            self.stats.series.sent(time.time())
        return counted

    async def _closed_loop(self) -> None:
        schedule = self.schedule

        async def worker(index: int) -> None:
            refused = 0  # refusals in a row
            while self._may_issue():
                now = time.perf_counter()
                if schedule.level_at(now - self._start) <= index:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), _IDLE_POLL)
                    continue
                chosen = self._next()
                if chosen is None:
                    break
                if await self._one(*chosen, now, self._counted(now)):
                    refused += 1
                    first, most = _REFUSED_BACKOFF
                    with contextlib.suppress(TimeoutError):
                        pause = min(most, first * 2 ** (refused - 1))
                        await asyncio.wait_for(self._stop.wait(), pause)
                else:
                    refused = 0

        peak = max(1, math.ceil(schedule.peak))
        workers = [asyncio.create_task(worker(index)) for index in range(peak)]
        self._tasks.update(workers)
        await self._wait_stop_or(workers)

    async def _open_loop(self) -> None:
        schedule = self.schedule
        sends = 0
        while self._may_issue():
            due = schedule.send_time(sends)
            if due is None:
                break
            intended = self._start + due
            delay = intended - time.perf_counter()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    break  # stopped while waiting
                except TimeoutError:
                    pass
            now = time.perf_counter()
            if now >= self._deadline:
                break
            chosen = self._next()
            if chosen is None:
                break
            sends += 1
            counted = self._counted(intended)
            if counted:
                self.stats.generator.record_lag(max(0.0, now - intended))
            # uvloop's timers have millisecond resolution and may wake us early: the
            # latency of a query sent before its time runs from when it was sent
            sent = min(intended, now)
            task = asyncio.create_task(self._one(*chosen, sent, counted))
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

    async def _one(
        self, query: WeightedQuery, encoded: EncodedQuery, intended: float, counted: bool
    ) -> bool:
        """Run one query; True when no association could be had for it (rejected, or
        the connection failed)."""
        self.in_flight += 1
        refused = False
        try:
            async with asyncio.timeout(self.settings.timeout):
                status, responses, comment = await self._find(query, encoded)
        except (AiodicomError, OSError, ssl.SSLError, TimeoutError) as exc:
            refused = isinstance(exc, AssociationRejected | ConnectFailed)
            if counted:
                self.stats.record_error(query.name, exc, time.perf_counter() - intended)
        else:
            if counted:
                latency = time.perf_counter() - intended
                self.stats.record_final(query.name, status, responses, latency, comment)
        finally:
            self.in_flight -= 1
        if counted:
            self.stats.series.associations(time.time(), self.open_associations)
        return refused

    @property
    def open_associations(self) -> int:
        """Associations open now (pooled, or one per query in flight)."""
        return self._pool.size if self._pool is not None else self._new_open

    async def _find(
        self, query: WeightedQuery, encoded: EncodedQuery
    ) -> tuple[int, int, str | None]:
        if self._pool is not None:
            async with self._pool.lease(self.peer) as association:
                return await _count_responses(association, query, encoded)
        async with self.peer.connect() as association:
            self.stats.associations += 1
            self._new_open += 1
            try:
                return await _count_responses(association, query, encoded)
            finally:
                self._new_open -= 1


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
