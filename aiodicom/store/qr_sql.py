"""SQLite backend of the Q/R index: the ONLY module of aiodicom that contains SQL.

Tables follow the entity levels of PS3.4 C.6.1.1 (patient, study, series, instance). Key
attributes (Tables C.6-1 .. C.6-4) are indexed columns; every entity keeps its full
attributes in a blob; the computed attributes of PS3.4 C.6.1.1.2-C.6.1.1.4 are columns
refreshed after each change. WAL mode gives each read cursor its own snapshot, so a
stream is never disturbed by the indexer writing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from aiodicom.store.qr_model import (
    INDEXED_KEYS,
    MODALITIES_IN_STUDY,
    NUMBER_OF_PATIENT_RELATED_INSTANCES,
    NUMBER_OF_PATIENT_RELATED_SERIES,
    NUMBER_OF_PATIENT_RELATED_STUDIES,
    NUMBER_OF_SERIES_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_SERIES,
    SOP_CLASSES_IN_STUDY,
    KeyDef,
    Level,
)
from aiodicom.store.qr_plan import Op, Predicate, QueryPlan
from aiodicom.store.qr_store import IndexedFile, ResultRow

TABLES = {
    Level.PATIENT: "patient",
    Level.STUDY: "study",
    Level.SERIES: "series",
    Level.IMAGE: "instance",
}
ALIASES = {Level.PATIENT: "p", Level.STUDY: "st", Level.SERIES: "se", Level.IMAGE: "im"}
PARENT_REF = {Level.STUDY: "patient_ref", Level.SERIES: "study_ref", Level.IMAGE: "series_ref"}
COMPUTED_COLUMNS: dict[Level, tuple[tuple[int, str], ...]] = {
    Level.PATIENT: (
        (NUMBER_OF_PATIENT_RELATED_STUDIES, "n_studies"),
        (NUMBER_OF_PATIENT_RELATED_SERIES, "n_series"),
        (NUMBER_OF_PATIENT_RELATED_INSTANCES, "n_instances"),
    ),
    Level.STUDY: (
        (NUMBER_OF_STUDY_RELATED_SERIES, "n_series"),
        (NUMBER_OF_STUDY_RELATED_INSTANCES, "n_instances"),
        (MODALITIES_IN_STUDY, "modalities"),
        (SOP_CLASSES_IN_STUDY, "sop_classes"),
    ),
    Level.SERIES: ((NUMBER_OF_SERIES_RELATED_INSTANCES, "n_instances"),),
    Level.IMAGE: (),
}
INDEXED_COLUMNS = (
    *("k_00100020", "k_0020000d", "k_0020000e", "k_00080018"),  # unique keys (PS3.4 C.6)
    *("k_00080020", "k_00080050", "k_00200010", "k_00080060", "k_00080016"),
)
_REFRESH_ALL_THRESHOLD = 500
_MAX_IDLE_READERS = 8


def _keys_of(level: Level) -> list[KeyDef]:
    return [key for key in INDEXED_KEYS if key.level is level]


def schema_statements() -> list[str]:
    """CREATE statements for the four entity tables and their indexes."""
    extra = {
        Level.PATIENT: "n_studies INTEGER DEFAULT 0, n_series INTEGER DEFAULT 0, "
        "n_instances INTEGER DEFAULT 0",
        Level.STUDY: "patient_ref INTEGER NOT NULL, n_series INTEGER DEFAULT 0, "
        "n_instances INTEGER DEFAULT 0, modalities TEXT, sop_classes TEXT",
        Level.SERIES: "study_ref INTEGER NOT NULL, n_instances INTEGER DEFAULT 0",
        Level.IMAGE: "series_ref INTEGER NOT NULL, path TEXT NOT NULL UNIQUE, "
        "mtime_ns INTEGER, size INTEGER",
    }
    out: list[str] = []
    for level, table in TABLES.items():
        cols = ", ".join(f"{key.column} TEXT" for key in _keys_of(level))
        out.append(
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, "
            f"uid TEXT NOT NULL UNIQUE, {extra[level]}, {cols}, attrs BLOB)"
        )
        if level in PARENT_REF:
            ref = PARENT_REF[level]
            out.append(f"CREATE INDEX IF NOT EXISTS {table}_{ref} ON {table}({ref})")
        for key in _keys_of(level):
            if key.column in INDEXED_COLUMNS:
                out.append(
                    f"CREATE INDEX IF NOT EXISTS {table}_{key.column} ON {table}({key.column})"
                )
    return out


def _predicate_sql(pred: Predicate, alias: str) -> tuple[str, list[str]]:
    """SQL for one pushed-down predicate; NULL columns always pass (Python decides)."""
    col = f"{alias}.{pred.key.column}"
    if pred.op is Op.EQ:
        return f"({col} = ? OR {col} IS NULL)", [pred.values[0]]
    if pred.op is Op.IN:
        marks = ", ".join("?" for _ in pred.values)
        return f"({col} IN ({marks}) OR {col} IS NULL)", list(pred.values)
    if pred.op is Op.GLOB:
        return f"({col} GLOB ? OR {col} IS NULL)", [pred.values[0]]
    if pred.op is Op.LIKE:
        return f"({col} LIKE ? ESCAPE '\\' OR {col} IS NULL)", [pred.values[0]]
    low, high = pred.values
    parts, params = [], []
    if low:
        parts.append(f"{col} >= ?")
        params.append(low)
    if high:
        parts.append(f"{col} <= ?")
        params.append(high)
    return f"(({' AND '.join(parts)}) OR {col} IS NULL)", params


def _chain(plan: QueryPlan) -> list[Level]:
    """The entity tables joined for ``plan``: patient .. query level (PS3.4 C.6)."""
    return [lvl for lvl in Level if lvl <= plan.level]


def _from_clause(levels: list[Level]) -> str:
    sql = f"{TABLES[levels[0]]} {ALIASES[levels[0]]}"
    for level in levels[1:]:
        parent = Level(level - 1)
        sql += (
            f" JOIN {TABLES[level]} {ALIASES[level]}"
            f" ON {ALIASES[level]}.{PARENT_REF[level]} = {ALIASES[parent]}.id"
        )
    return sql


def _where(plan: QueryPlan) -> tuple[str, list[str]]:
    clauses, params = [], []
    for pred in plan.predicates:
        sql, values = _predicate_sql(pred, ALIASES[pred.key.level])
        clauses.append(sql)
        params.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def select_sql(plan: QueryPlan, decided_keys: frozenset[int]) -> tuple[str, list[str]]:
    """The SELECT for ``plan``: blobs top first, computed columns, then the decided flag."""
    levels = _chain(plan)
    cols = [f"{ALIASES[lvl]}.attrs" for lvl in levels]
    cols += [f"{ALIASES[lvl]}.{col}" for lvl in levels for _, col in COMPUTED_COLUMNS[lvl]]
    if decided_keys <= plan.pushed:
        checks = [f"{ALIASES[p.key.level]}.{p.key.column} IS NOT NULL" for p in plan.predicates]
        cols.append(" AND ".join(checks) if checks else "1")
    else:
        cols.append("0")
    where, params = _where(plan)
    # No ORDER BY: C-FIND responses have no order (PS3.4 C.4.1.3), and a sort would
    # delay the first row until the whole result is known.
    return f"SELECT {', '.join(cols)} FROM {_from_clause(levels)}{where}", params


class SQLiteCursor:
    """A read cursor on its own connection (a WAL snapshot); rows fetched in batches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        sql: str,
        params: list[str],
        plan: QueryPlan,
        release: Callable[[sqlite3.Connection], None],
    ) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._release = release
        self._cursor = conn.execute(sql, params)
        self._computed = [tag for lvl in _chain(plan) for tag, _ in COMPUTED_COLUMNS[lvl]]
        self._blobs = len(_chain(plan))

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
        where, params = _where(plan)
        sql = f"SELECT count(*) FROM {_from_clause(_chain(plan))}{where}"
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
        Instance UID (PS3.4 C.6.1.1.5: the unique key names one instance).
        """
        if not added and not removed:
            return []
        duplicates: list[str] = []
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                moved: dict[Level, set[int]] = {Level.PATIENT: set(), Level.STUDY: set()}
                touched = self._remove_paths(conn, removed)
                touched.update(self._add_files(conn, added, duplicates, moved))
                self._refresh(conn, touched, moved)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return duplicates

    def _remove_paths(self, conn: sqlite3.Connection, paths: Iterable[str]) -> set[int]:
        touched: set[int] = set()
        for path in paths:
            row = conn.execute("SELECT series_ref FROM instance WHERE path = ?", (path,))
            found = row.fetchone()
            if found is not None:
                touched.add(int(found[0]))
                conn.execute("DELETE FROM instance WHERE path = ?", (path,))
        return touched

    def _upsert(
        self, conn: sqlite3.Connection, level: Level, file: IndexedFile, parent: int | None
    ) -> int:
        entity = file.entities[level]
        names = ["uid", "attrs"] + [key.column for key in _keys_of(level)]
        values: list[object] = [entity.uid, entity.blob]
        values += [entity.columns.get(key.tag) for key in _keys_of(level)]
        if parent is not None:
            names.append(PARENT_REF[level])
            values.append(parent)
        if level is Level.IMAGE:
            names += ["path", "mtime_ns", "size"]
            values += [file.path, file.mtime_ns, file.size]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
        sql = (
            f"INSERT INTO {TABLES[level]} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)}) "
            f"ON CONFLICT(uid) DO UPDATE SET {updates} RETURNING id"
        )
        return int(conn.execute(sql, values).fetchone()[0])

    def _add_files(
        self,
        conn: sqlite3.Connection,
        files: Sequence[IndexedFile],
        duplicates: list[str],
        moved: dict[Level, set[int]],
    ) -> set[int]:
        seen: dict[tuple[Level, str], int] = {}
        touched: set[int] = set()
        for file in files:
            other = conn.execute(
                "SELECT path FROM instance WHERE uid = ?", (file.entities[Level.IMAGE].uid,)
            ).fetchone()
            if other is not None and other[0] != file.path:
                duplicates.append(file.path)
                continue
            old = conn.execute("SELECT series_ref FROM instance WHERE path = ?", (file.path,))
            found = old.fetchone()
            if found is not None:
                touched.add(int(found[0]))
                conn.execute("DELETE FROM instance WHERE path = ?", (file.path,))
            parent: int | None = None
            for level in Level:
                key = (level, file.entities[level].uid)
                ident = seen.get(key) if level is not Level.IMAGE else None
                if ident is None:
                    if parent is not None and level is not Level.IMAGE:
                        _note_move(conn, level, key[1], parent, moved)
                    ident = self._upsert(conn, level, file, parent)
                    seen[key] = ident
                parent = ident
            assert parent is not None
            touched.add(seen[(Level.SERIES, file.entities[Level.SERIES].uid)])
        return touched

    def _refresh(
        self, conn: sqlite3.Connection, series_ids: set[int], moved: dict[Level, set[int]]
    ) -> None:
        """Recompute PS3.4 C.6.1.1.2-C.6.1.1.4 attributes; drop entities left empty.

        ``moved`` holds former parents of studies/series that changed parent.
        """
        if not series_ids and not any(moved.values()):
            return
        everything = len(series_ids) > _REFRESH_ALL_THRESHOLD
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS t_series (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS t_study (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS t_patient (id INTEGER PRIMARY KEY)")
        for table in ("t_series", "t_study", "t_patient"):
            conn.execute(f"DELETE FROM {table}")
        conn.executemany("INSERT INTO t_series VALUES (?)", [(i,) for i in series_ids])
        conn.execute(
            "INSERT OR IGNORE INTO t_study SELECT study_ref FROM series "
            "WHERE id IN (SELECT id FROM t_series)"
        )
        conn.execute(
            "INSERT OR IGNORE INTO t_patient SELECT patient_ref FROM study "
            "WHERE id IN (SELECT id FROM t_study)"
        )
        conn.executemany(
            "INSERT OR IGNORE INTO t_patient VALUES (?)", [(i,) for i in moved[Level.PATIENT]]
        )
        conn.executemany(
            "INSERT OR IGNORE INTO t_study VALUES (?)", [(i,) for i in moved[Level.STUDY]]
        )
        conn.execute(
            "INSERT OR IGNORE INTO t_patient SELECT patient_ref FROM study "
            "WHERE id IN (SELECT id FROM t_study)"
        )
        for stmt in _refresh_statements(everything):
            conn.execute(stmt)


def _note_move(
    conn: sqlite3.Connection, level: Level, uid: str, parent: int, moved: dict[Level, set[int]]
) -> None:
    """Remember the former parent of a study/series that now hangs under ``parent``."""
    ref = PARENT_REF[level]
    row = conn.execute(f"SELECT {ref} FROM {TABLES[level]} WHERE uid = ?", (uid,)).fetchone()
    if row is not None and int(row[0]) != parent:
        moved[Level(level - 1)].add(int(row[0]))


def _refresh_statements(everything: bool) -> list[str]:
    """UPDATE/DELETE statements for the computed attributes, bottom level first."""

    def only(table: str) -> str:
        return "" if everything else f" WHERE id IN (SELECT id FROM t_{table})"

    return [
        "UPDATE series SET n_instances = "
        "(SELECT count(*) FROM instance WHERE series_ref = series.id)" + only("series"),
        "DELETE FROM series WHERE n_instances = 0"
        + ("" if everything else " AND id IN (SELECT id FROM t_series)"),
        "UPDATE study SET "
        "n_series = (SELECT count(*) FROM series WHERE study_ref = study.id), "
        "n_instances = (SELECT coalesce(sum(n_instances), 0) FROM series "
        "WHERE study_ref = study.id), "
        "modalities = (SELECT group_concat(m, '\\') FROM (SELECT DISTINCT k_00080060 AS m "
        "FROM series WHERE study_ref = study.id AND k_00080060 IS NOT NULL ORDER BY m)), "
        "sop_classes = (SELECT group_concat(c, '\\') FROM (SELECT DISTINCT im.k_00080016 AS c "
        "FROM instance im JOIN series se ON im.series_ref = se.id WHERE se.study_ref = study.id "
        "AND im.k_00080016 IS NOT NULL ORDER BY c))" + only("study"),
        "DELETE FROM study WHERE n_series = 0"
        + ("" if everything else " AND id IN (SELECT id FROM t_study)"),
        "UPDATE patient SET "
        "n_studies = (SELECT count(*) FROM study WHERE patient_ref = patient.id), "
        "n_series = (SELECT coalesce(sum(n_series), 0) FROM study "
        "WHERE patient_ref = patient.id), "
        "n_instances = (SELECT coalesce(sum(n_instances), 0) FROM study "
        "WHERE patient_ref = patient.id)" + only("patient"),
        "DELETE FROM patient WHERE n_studies = 0"
        + ("" if everything else " AND id IN (SELECT id FROM t_patient)"),
    ]
