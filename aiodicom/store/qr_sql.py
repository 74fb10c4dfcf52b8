"""SQLite backend of the Q/R index (with ``qr_sql_schema`` and ``qr_sql_write``, the only SQL).

Tables follow the entity levels of PS3.4 C.6.1.1 (patient, study, series, instance). Key
attributes (Tables C.6-1 .. C.6-4) are indexed columns; every entity keeps its full
attributes in a blob; the computed attributes of PS3.4 C.6.1.1.2-C.6.1.1.4 are columns
refreshed after each change. WAL mode gives each read cursor its own snapshot, so a
stream is never disturbed by the indexer writing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from aiodicom.store.qr_sql_schema import (
    COMPUTED_COLUMNS,
    INDEXED_COLUMNS,
    TABLES,
    schema_statements,
)
from aiodicom.store.qr_sql_select import Dialect, Param, chain, count_sql, select_sql
from aiodicom.store.qr_sql_write import apply_batch, begin_bulk, end_bulk
from aiodicom.store.qr_store import IndexedFile, QueryPlan, ResultRow

__all__ = ["INDEXED_COLUMNS", "TABLES", "SQLiteCursor", "SQLiteQRStore", "select_sql"]

_MAX_IDLE_READERS = 8


class SQLiteCursor:
    """A read cursor on its own connection (a WAL snapshot); rows fetched in batches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        sql: str,
        params: list[Param],
        plan: QueryPlan,
        release: Callable[[sqlite3.Connection], None],
    ) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._release = release
        self._cursor = conn.execute(sql, params)
        self._computed = [tag for lvl in chain(plan) for tag, _ in COMPUTED_COLUMNS[lvl]]
        self._blobs = len(chain(plan))

    def fetch(self, count: int) -> list[ResultRow]:
        """Up to ``count`` rows; [] at the end."""
        rows = self._cursor.fetchmany(count)
        n, tags = self._blobs, self._computed
        return [
            ResultRow(
                blobs=tuple(row[:n]),
                computed=tuple(
                    (tag, "" if v is None else str(v))
                    for tag, v in zip(tags, row[n:-1], strict=True)
                ),
                decided=bool(row[-1]),
            )
            for row in rows
        ]

    def close(self) -> None:
        """Close the cursor and hand its connection back; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            self._cursor.close()
        except sqlite3.Error:
            conn.close()
            return
        self._release(conn)


class SQLiteQRStore:
    """The Q/R index in one SQLite file (WAL). Writes are serialized by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._bulk = False
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        self._conn = self._connect()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            for stmt in schema_statements():
                self._conn.execute(stmt)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._idle_lock:
            if len(self._idle) < _MAX_IDLE_READERS:
                self._idle.append(conn)
                return
        conn.close()

    def known_files(self) -> dict[str, tuple[int, int]]:
        """Path -> (mtime_ns, size) of every indexed file."""
        with self._lock:
            rows = self._conn.execute("SELECT path, mtime_ns, size FROM instance").fetchall()
        return {path: (mtime, size) for path, mtime, size in rows}

    def instance_path(self, sop_instance_uid: str) -> str | None:
        """The indexed path of the instance with this SOP Instance UID, None if none."""
        with self._lock:
            sql = "SELECT path FROM instance WHERE uid = ?"
            row = self._conn.execute(sql, (sop_instance_uid,)).fetchone()
        return None if row is None else str(row[0])

    def counts(self) -> dict[str, int]:
        """Rows per entity table."""
        with self._lock:
            return {
                table: int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in TABLES.values()
            }

    def clear(self) -> None:
        """Delete every row of every table."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            for table in TABLES.values():
                self._conn.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        """Close the writer and the idle reader connections."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        with self._lock:
            self._conn.close()

    def count(self, plan: QueryPlan) -> int:
        """Number of candidate rows of ``plan`` (an upper bound of the matches)."""
        sql, params = count_sql(plan, Dialect.SQLITE)
        conn = self._reader()
        try:
            return int(conn.execute(sql, params).fetchone()[0])
        finally:
            self._release(conn)

    def open_cursor(self, plan: QueryPlan, *, decided_keys: frozenset[int]) -> SQLiteCursor:
        """A cursor over ``plan``'s rows on a fresh read connection."""
        sql, params = select_sql(plan, decided_keys)
        conn = self._reader()
        try:
            return SQLiteCursor(conn, sql, params, plan, self._release)
        except BaseException:
            conn.close()
            raise

    def apply(self, added: Sequence[IndexedFile], removed: Sequence[str]) -> list[str]:
        """Upsert ``added``, delete ``removed`` and refresh the computed attributes.

        Returns the added paths refused because another indexed file has the same SOP
        Instance UID (PS3.4 C.6.1.1.5: the unique key names one instance). During a bulk
        load the computed attributes are refreshed once, by :meth:`end_bulk`.
        """
        if not added and not removed:
            return []
        with self._lock:
            return apply_batch(self._conn, added, removed, refresh=not self._bulk)

    def index_file(self, file: IndexedFile, *, replace_uid: bool = False) -> bool:
        """Index one file in one transaction; False if refused as a duplicate UID."""
        with self._lock:
            refused = apply_batch(
                self._conn, [file], [], refresh=not self._bulk, replace_uids=replace_uid
            )
        return not refused

    def begin_bulk(self) -> bool:
        """Start a bulk load if the index is empty (a full build); True if started.

        Until :meth:`end_bulk`, queries see no computed attributes: used before serving.
        """
        with self._lock:
            if self._bulk or self._conn.execute("SELECT 1 FROM instance LIMIT 1").fetchone():
                return False
            begin_bulk(self._conn)
            self._bulk = True
            return True

    def end_bulk(self) -> None:
        """Finish a bulk load: indexes and computed attributes (PS3.4 C.6.1.1.2-4)."""
        with self._lock:
            if self._bulk:
                self._bulk = False
                end_bulk(self._conn)
