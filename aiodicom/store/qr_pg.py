"""PostgreSQL backend of the Q/R index, through asyncpg; several SCP processes share it.

The same :class:`~aiodicom.store.qr_store.QRStore` interface as the SQLite backend, the
same schema (:mod:`~aiodicom.store.qr_pg_schema`, created by migrations at first start),
the same SELECT (:mod:`~aiodicom.store.qr_sql_select`) and the same write rules
(:mod:`~aiodicom.store.qr_pg_write`). The interface is blocking (callers run it in worker
threads), asyncpg is asyncio: the store runs its connection pool on an event loop of its
own, in one background thread, and each blocking call waits for its coroutine there.

Each read cursor holds one pooled connection with a read-only REPEATABLE READ
transaction (its snapshot) and a server-side cursor fetched in batches: an answer is
never built whole in memory. A lost server surfaces as :class:`IndexUnavailable`
(0xA700, PS3.4 C.4.1.1.4) for that request; the pool reconnects for the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from aiodicom.errors import IndexConnectError, IndexUnavailable
from aiodicom.store.qr_pg_schema import MIGRATION_LOCK, MIGRATIONS, VERSION_TABLE, WRITE_LOCK
from aiodicom.store.qr_pg_write import apply_batch, refresh_all
from aiodicom.store.qr_sql_schema import COMPUTED_COLUMNS, TABLES
from aiodicom.store.qr_sql_select import Dialect, Param, chain, count_sql, select_sql
from aiodicom.store.qr_store import IndexedFile, QueryPlan, ResultRow

T = TypeVar("T")
_ACQUIRE_TIMEOUT = 30.0  # a request waits this long for one of the pool's connections
_UNREACHABLE = (OSError, TimeoutError, asyncpg.InterfaceError)
# SQLSTATE classes (PostgreSQL Appendix A) meaning "the database is not there for us now":
# connection exception, insufficient resources, operator intervention, no such database;
# and 55000, a database not accepting connections.
_UNAVAILABLE_STATES = ("08", "53", "57", "3D", "55000")


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, _UNREACHABLE):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state.startswith(_UNAVAILABLE_STATES)


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _stale(conn: Any, exc: Exception) -> bool:
    """Whether ``exc`` came from a pooled connection that had died meanwhile."""
    return conn.is_closed() or isinstance(exc, asyncpg.InternalClientError | _UNREACHABLE)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class PostgresCursor:
    """A read cursor: one pooled connection, its snapshot, a server-side cursor."""

    def __init__(self, store: PostgresQRStore, conn: Any, tr: Any, cur: Any, plan: QueryPlan):
        self._store = store
        self._conn: Any = conn
        self._tr = tr
        self._cur = cur
        self._computed = [tag for lvl in chain(plan) for tag, _ in COMPUTED_COLUMNS[lvl]]
        self._blobs = len(chain(plan))

    def fetch(self, count: int) -> list[ResultRow]:
        """Up to ``count`` rows; [] at the end."""
        if self._conn is None:
            return []
        rows = self._store.call(self._cur.fetch(count))
        n, tags = self._blobs, self._computed
        out = []
        for row in rows:
            values = tuple(row)
            computed = zip(tags, values[n:-1], strict=True)
            out.append(
                ResultRow(
                    blobs=tuple(bytes(b) for b in values[:n]),
                    computed=tuple((tag, "" if v is None else str(v)) for tag, v in computed),
                    decided=bool(values[-1]),
                )
            )
        return out

    def close(self) -> None:
        """End the snapshot and hand the connection back; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._store.submit(self._store.finish_read(conn, self._tr))


class PostgresQRStore:
    """The Q/R index in a PostgreSQL database; blocking methods, asyncpg inside."""

    def __init__(
        self,
        url: str,
        *,
        setting: str = "--index or qr.index",
        pool_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.path = redact(url)  # what logs show (the SQLite store's file path)
        self._bulk = False
        self._pending: set[concurrent.futures.Future[None]] = set()
        self._pending_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="qr-pg", daemon=True)
        self._thread.start()
        self._pool: Any = None
        try:
            self._pool = self.call(self._open(pool_size, connect_timeout))
        except (IndexUnavailable, asyncpg.PostgresError, ValueError) as exc:
            self._stop_loop()
            cause = exc.__cause__ if isinstance(exc, IndexUnavailable) else exc
            raise IndexConnectError(setting, self.path, _reason(cause or exc)) from None

    async def _open(self, size: int, connect_timeout: float) -> Any:
        pool = await asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=size,
            timeout=connect_timeout,
            command_timeout=None,
            # Short OLTP statements: JIT compiling them (on when a plan's cost is high)
            # would cost tens of milliseconds each.
            server_settings={"jit": "off"},
        )
        try:
            async with pool.acquire() as conn:
                await _migrate(conn)
        except BaseException:
            await pool.close()
            raise
        return pool

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the store's loop and wait; a lost server is IndexUnavailable."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except Exception as exc:
            if _unavailable(exc):
                raise IndexUnavailable(_reason(exc)) from exc
            raise

    def submit(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the store's loop without waiting (cursor clean-up);
        :meth:`close` waits for what is still running."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def finish_read(self, conn: Any, tr: Any) -> None:
        """Roll the read snapshot back and release its connection (drop it if broken)."""
        try:
            await tr.rollback()
        except Exception:  # the connection broke: the pool replaces it
            conn.terminate()
        finally:
            await self._pool.release(conn)

    async def _using(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work`` on a pooled connection; once more on a fresh one if the pooled
        connection turned out dead (the server restarted, the backend was terminated)."""
        for attempt in (1, 2):
            conn = await self._pool.acquire(timeout=_ACQUIRE_TIMEOUT)
            try:
                return await work(conn)
            except Exception as exc:
                if attempt == 2 or not _stale(conn, exc):
                    raise
            finally:
                await self._pool.release(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetchval(self, sql: str, *args: object) -> Any:
        return await self._using(lambda conn: conn.fetchval(sql, *args))

    async def _fetch(self, sql: str, *args: object) -> list[Any]:
        return list(await self._using(lambda conn: conn.fetch(sql, *args)))

    def known_files(self) -> dict[str, tuple[int, int]]:
        """Path -> (mtime_ns, size) of every indexed file."""
        rows = self.call(self._fetch("SELECT path, mtime_ns, size FROM instance"))
        return {str(path): (int(mtime), int(size)) for path, mtime, size in rows}

    def instance_path(self, sop_instance_uid: str) -> str | None:
        """The indexed path of the instance with this SOP Instance UID, None if none."""
        sql = "SELECT path FROM instance WHERE uid = $1"
        path = self.call(self._fetchval(sql, sop_instance_uid))
        return None if path is None else str(path)

    def counts(self) -> dict[str, int]:
        """Rows per entity table."""
        return {
            table: int(self.call(self._fetchval(f"SELECT count(*) FROM {table}")))
            for table in TABLES.values()
        }

    def clear(self) -> None:
        """Delete every row of every table (under the writers' lock)."""
        self.call(self._clear())

    async def _clear(self) -> None:
        async def truncate(conn: Any) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                await conn.execute(f"TRUNCATE {', '.join(TABLES.values())}")

        await self._using(truncate)

    def close(self) -> None:
        """Close the pool and stop the store's loop."""
        with self._pending_lock:
            pending = list(self._pending)
        concurrent.futures.wait(pending, timeout=10)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            future = asyncio.run_coroutine_threadsafe(pool.close(), self._loop)
            try:
                future.result(10)
            except Exception:  # a dead server: nothing left to close cleanly
                pool.terminate()
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def count(self, plan: QueryPlan) -> int:
        """Number of candidate rows of ``plan`` (an upper bound of the matches)."""
        sql, params = count_sql(plan, Dialect.POSTGRESQL)
        return int(self.call(self._fetchval(sql, *params)))

    def open_cursor(self, plan: QueryPlan, *, decided_keys: frozenset[int]) -> PostgresCursor:
        """A server-side cursor over ``plan``'s rows, in its own read snapshot."""
        sql, params = select_sql(plan, decided_keys, Dialect.POSTGRESQL)
        conn, tr, cur = self.call(self._open_read(sql, params))
        return PostgresCursor(self, conn, tr, cur, plan)

    async def _open_read(self, sql: str, params: list[Param]) -> tuple[Any, Any, Any]:
        for attempt in (1, 2):
            conn = await self._pool.acquire(timeout=_ACQUIRE_TIMEOUT)
            tr = conn.transaction(isolation="repeatable_read", readonly=True)
            try:
                await tr.start()
                return conn, tr, await conn.cursor(sql, *params)
            except Exception as exc:
                stale = _stale(conn, exc)
                await self.finish_read(conn, tr)
                if attempt == 2 or not stale:
                    raise
            except BaseException:
                await self.finish_read(conn, tr)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def apply(self, added: Sequence[IndexedFile], removed: Sequence[str]) -> list[str]:
        """Upsert ``added``, delete ``removed``, refresh computed attributes; the
        duplicates (see :meth:`aiodicom.store.qr_sql.SQLiteQRStore.apply`)."""
        if not added and not removed:
            return []
        return self.call(self._write(added, removed, replace_uids=False))

    def index_file(self, file: IndexedFile, *, replace_uid: bool = False) -> bool:
        """Index one file in one transaction; False if refused as a duplicate UID."""
        return not self.call(self._write([file], [], replace_uids=replace_uid))

    async def _write(
        self, added: Sequence[IndexedFile], removed: Sequence[str], *, replace_uids: bool
    ) -> list[str]:
        refresh = not self._bulk
        return await self._using(
            lambda conn: apply_batch(
                conn, added, removed, refresh=refresh, replace_uids=replace_uids
            )
        )

    def begin_bulk(self) -> bool:
        """Start a bulk load if the index is empty: computed attributes once at the end."""
        if self._bulk or self.call(self._fetchval("SELECT EXISTS (SELECT 1 FROM instance)")):
            return False
        self._bulk = True
        return True

    def end_bulk(self) -> None:
        """Finish a bulk load: every computed attribute (PS3.4 C.6.1.1.2-4), ANALYZE."""
        if self._bulk:
            self._bulk = False
            self.call(self._refresh_all())

    async def _refresh_all(self) -> None:
        await self._using(refresh_all)


async def _migrate(conn: Any) -> None:
    """Create or upgrade the schema: the migrations not yet in ``qr_schema_version``."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(VERSION_TABLE)
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM qr_schema_version")
        for version, statements in enumerate(MIGRATIONS, 1):
            if version <= current:
                continue
            for stmt in statements:
                await conn.execute(stmt)
            await conn.execute("INSERT INTO qr_schema_version (version) VALUES ($1)", version)
