"""Many C-FIND queries at once: :func:`find_many` and an :class:`AssociationPool`.

Each query runs on an association taken from the pool (keyed by peer address, AE titles,
query models and transfer syntaxes), with its own timeout and its own error: one failing
query never stops the others. Outcomes are yielded as queries finish.

PS3.7 D.3.3.3 (Asynchronous Operations Window): with
``AssociationPool(async_ops_window=(n, n))`` the pool proposes the window and, when the
peer accepts more than one outstanding operation, leases one association to up to that
many queries at once (the least loaded first) before opening another one. Against a
peer that answers without a window (the default 1,1) every association carries one
C-FIND at a time and concurrency comes from several associations per peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from aiodicom.errors import AiodicomError, DicomTimeoutError
from aiodicom.net.client import ClientAssociation, Connector, connect
from aiodicom.net.types import FindResult
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.status import StatusCategory

__all__ = ["AssociationPool", "FindQuery", "PeerSpec", "QueryOutcome", "find_many"]


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """Where and how to associate; equal specs share pooled associations."""

    host: str
    port: int
    called_ae: str = "ANY-SCP"
    calling_ae: str = "AIODICOM"
    models: tuple[QueryModel, ...] = tuple(QueryModel)
    transfer_syntaxes: tuple[str, ...] | None = None
    max_pdu_length: int = 16384
    ssl: ssl_module.SSLContext | None = field(default=None, compare=False, hash=False)

    @property
    def key(self) -> tuple[object, ...]:
        """The pool key: (peer, AE titles, contexts); the SSL context by identity."""
        return (
            self.host,
            self.port,
            self.called_ae,
            self.calling_ae,
            self.models,
            self.transfer_syntaxes,
            self.max_pdu_length,
            id(self.ssl),
        )

    def connect(
        self,
        *,
        connect_timeout: float = 30.0,
        acse_timeout: float = 30.0,
        async_ops_window: tuple[int, int] | None = None,
    ) -> Connector:
        """:func:`~aiodicom.net.client.connect` to this peer (PS3.8 7.1 A-ASSOCIATE)."""
        return connect(
            self.host,
            self.port,
            calling_ae=self.calling_ae,
            called_ae=self.called_ae,
            models=self.models,
            transfer_syntaxes=self.transfer_syntaxes,
            max_pdu_length=self.max_pdu_length,
            connect_timeout=connect_timeout,
            acse_timeout=acse_timeout,
            ssl=self.ssl,
            async_ops_window=async_ops_window,
        )


@dataclass(frozen=True, slots=True)
class FindQuery:
    """One query for :func:`find_many`. ``peer`` None uses the call's default peer."""

    identifier: Dataset
    model: QueryModel | str = QueryModel.WORKLIST
    peer: PeerSpec | None = None
    label: object = None


@dataclass(slots=True)
class QueryOutcome:
    """Everything one query produced: its responses, final status or its error.

    ``status``/``category`` are those of the final response (PS3.7 9.1.2.1.5,
    PS3.7 Annex C), ``None`` when ``error`` is set (rejection, abort, timeout...).
    """

    index: int
    query: FindQuery
    responses: list[FindResult] = field(default_factory=list)
    status: int | None = None
    category: StatusCategory | None = None
    message_id: int | None = None
    error: BaseException | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the final status is Success or Warning."""
        return self.category in (StatusCategory.SUCCESS, StatusCategory.WARNING)

    @property
    def identifiers(self) -> list[Dataset]:
        """The decoded identifiers of the pending responses."""
        return [r.identifier for r in self.responses if r.identifier is not None]


@dataclass(slots=True, eq=False)
class _Pooled:
    association: ClientAssociation
    stack: AsyncExitStack
    leases: int = 0
    broken: bool = False

    @property
    def busy(self) -> bool:
        return self.leases > 0

    @property
    def usable(self) -> bool:
        return not self.broken and self.association.is_alive

    @property
    def has_room(self) -> bool:
        """Fewer queries leased than the negotiated window (PS3.7 D.3.3.3)."""
        return self.usable and self.leases < self.association.window


class AssociationPool:
    """Reusable associations per :class:`PeerSpec` key, at most ``max_per_peer`` each.

    ``async_ops_window`` is proposed during association negotiation (PS3.7 D.3.3.3); an
    association carries as many C-FINDs at once as the peer accepted (one without a
    window), so up to ``max_per_peer`` x window queries run per peer.
    """

    def __init__(
        self,
        *,
        max_per_peer: int = 8,
        async_ops_window: tuple[int, int] | None = None,
        connect_timeout: float = 30.0,
        acse_timeout: float = 30.0,
    ) -> None:
        if max_per_peer < 1:
            raise ValueError(f"max_per_peer: expected >= 1, got {max_per_peer}")
        self.max_per_peer = max_per_peer
        self.async_ops_window = async_ops_window
        self.connect_timeout = connect_timeout
        self.acse_timeout = acse_timeout
        self._members: dict[tuple[object, ...], list[_Pooled]] = {}
        self._slots: dict[tuple[object, ...], asyncio.Semaphore] = {}
        self._opening: dict[tuple[object, ...], int] = {}
        self._waiters: dict[tuple[object, ...], list[asyncio.Future[None]]] = {}
        self._closed = False
        self.opened = 0  # associations established over the pool's life

    @property
    def leases_per_association(self) -> int:
        """Queries one association may carry, as proposed (1 without a window)."""
        window = self.async_ops_window
        if window is None:
            return 1
        return window[0] if window[0] > 0 else 0xFFFF

    def _semaphore(self, key: tuple[object, ...]) -> asyncio.Semaphore:
        if key not in self._slots:
            limit = self.max_per_peer * self.leases_per_association
            self._slots[key] = asyncio.Semaphore(limit)
        return self._slots[key]

    async def _open(self, peer: PeerSpec) -> _Pooled:
        stack = AsyncExitStack()
        try:
            association = await stack.enter_async_context(
                peer.connect(
                    connect_timeout=self.connect_timeout,
                    acse_timeout=self.acse_timeout,
                    async_ops_window=self.async_ops_window,
                )
            )
        except BaseException:
            await stack.aclose()
            raise
        self.opened += 1
        return _Pooled(association, stack)

    def _pick(self, key: tuple[object, ...], *, overflow: bool) -> _Pooled | None:
        """The least loaded association with room in its window (or any usable one)."""
        members = self._members.get(key, [])
        candidates = [m for m in members if (m.usable if overflow else m.has_room)]
        return min(candidates, key=lambda m: m.leases, default=None)

    def _discard_dead(self, key: tuple[object, ...]) -> list[_Pooled]:
        members = self._members.get(key, [])
        dead = [m for m in members if not m.busy and not m.association.is_alive]
        self._members[key] = [m for m in members if m not in dead]
        return dead

    def _wake(self, key: tuple[object, ...]) -> None:
        for waiter in self._waiters.pop(key, []):
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_for_change(self, key: tuple[object, ...]) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(waiter)
        await waiter

    async def _acquire(self, peer: PeerSpec) -> _Pooled:
        """A member with room, a newly opened one, or (all full) the least loaded one."""
        key = peer.key
        while True:
            for dead in self._discard_dead(key):
                await _close_quietly(dead)
            member = self._pick(key, overflow=False)
            members = self._members.setdefault(key, [])
            if member is None and len(members) + self._opening.get(key, 0) < self.max_per_peer:
                member = await self._open_member(peer)
            if member is None:
                member = self._pick(key, overflow=True)
            if member is not None:
                member.leases += 1
                return member
            await self._wait_for_change(key)  # every member is still being opened

    async def _open_member(self, peer: PeerSpec) -> _Pooled:
        key = peer.key
        self._opening[key] = self._opening.get(key, 0) + 1
        try:
            member = await self._open(peer)
            self._members.setdefault(key, []).append(member)
            return member
        finally:
            self._opening[key] -= 1
            self._wake(key)

    @asynccontextmanager
    async def lease(self, peer: PeerSpec) -> AsyncIterator[ClientAssociation]:
        """Borrow an association to ``peer``; a failure inside marks it broken (aborted)."""
        if self._closed:
            raise RuntimeError("AssociationPool is closed")
        key = peer.key
        async with self._semaphore(key):
            member = await self._acquire(peer)
            try:
                yield member.association
            except BaseException as exc:
                if _breaks(member, exc):
                    member.broken = True
                raise
            finally:
                member.leases -= 1
                self._wake(key)
                if member.broken and member in self._members.get(key, []):
                    self._members[key].remove(member)
                    await _close_quietly(member)

    @property
    def size(self) -> int:
        """Associations currently held by the pool."""
        return sum(len(group) for group in self._members.values())

    async def close(self) -> None:
        """Release every pooled association (PS3.8 7.2 A-RELEASE)."""
        self._closed = True
        members = [m for group in self._members.values() for m in group]
        self._members.clear()
        await asyncio.gather(*(_close_quietly(m) for m in members))

    async def __aenter__(self) -> AssociationPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _breaks(member: _Pooled, exc: BaseException) -> bool:
    """Whether a query's failure should drop its association (PS3.8 7.3 A-ABORT).

    On a windowed association other queries share the link: a timed-out or cancelled
    query has already sent C-CANCEL-RQ (PS3.7 9.3.2.3), so only a dead association is
    dropped. With one query per association any failure drops it, as before.
    """
    association = member.association
    if association.window > 1 and association.is_alive:
        return not isinstance(exc, TimeoutError | asyncio.CancelledError)
    return True


async def _close_quietly(member: _Pooled) -> None:
    """Release a healthy association; abort a broken one (PS3.8 7.3) without waiting."""
    with contextlib.suppress(AiodicomError, OSError, TimeoutError):
        if member.broken:
            await member.association.abort()
        await asyncio.wait_for(member.stack.aclose(), 10.0)


async def _run_query(
    pool: AssociationPool, peer: PeerSpec, outcome: QueryOutcome, limit: float | None
) -> None:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit), pool.lease(peer) as association:
            stream = association.find_responses(outcome.query.identifier, outcome.query.model)
            async for result in stream:
                if result.is_final:
                    outcome.status, outcome.category = result.status, result.category
                    outcome.message_id = result.message_id
                else:
                    outcome.responses.append(result)
    except TimeoutError as exc:
        outcome.error = exc if isinstance(exc, DicomTimeoutError) else _query_timeout(limit)
    except (AiodicomError, OSError, ssl_module.SSLError) as exc:
        outcome.error = exc
    finally:
        outcome.elapsed = time.perf_counter() - started


def _query_timeout(limit: float | None) -> DicomTimeoutError:
    return DicomTimeoutError("query", limit or 0.0)


async def find_many(
    queries: Iterable[FindQuery | Dataset],
    *,
    peer: PeerSpec | None = None,
    concurrency: int = 10,
    query_timeout: float | None = None,
    pool: AssociationPool | None = None,
    model: QueryModel | str = QueryModel.WORKLIST,
) -> AsyncIterator[QueryOutcome]:
    """Run ``queries`` with at most ``concurrency`` in flight; yield outcomes as they end.

    A bare Dataset is a query against ``peer`` in ``model``. ``query_timeout`` bounds each query
    (lease + C-FIND) on its own. Without ``pool`` a private pool sized to ``concurrency``
    is used and closed at the end. Breaking out of the loop cancels queries in flight.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
    own_pool = pool is None
    active_pool = pool if pool is not None else AssociationPool(max_per_peer=concurrency)
    source: Iterator[tuple[int, FindQuery]] = enumerate(_as_queries(queries, model))
    done: asyncio.Queue[QueryOutcome | None] = asyncio.Queue()

    async def worker() -> None:
        for index, query in source:
            target = query.peer or peer
            outcome = QueryOutcome(index, query)
            if target is None:
                outcome.error = ValueError("no peer given for this query")
            else:
                await _run_query(active_pool, target, outcome, query_timeout)
            await done.put(outcome)
        await done.put(None)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        finished = 0
        while finished < len(workers):
            item = await done.get()
            if item is None:
                finished += 1
            else:
                yield item
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if own_pool:
            await active_pool.close()


def _as_queries(
    queries: Iterable[FindQuery | Dataset], model: QueryModel | str
) -> Iterator[FindQuery]:
    for query in queries:
        yield query if isinstance(query, FindQuery) else FindQuery(query, model)
