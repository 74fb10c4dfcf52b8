"""Writing the Q/R index: add/replace/remove files, refresh computed attributes.

Each :func:`apply_batch` runs in one transaction: removed paths are deleted, added files
are upserted entity by entity (PS3.4 C.6.1.1: patient, study, series, instance; the
instances of a batch with one ``executemany``), and the computed attributes of PS3.4
C.6.1.1.2-C.6.1.1.4 are refreshed for what changed. A full rebuild can run as a *bulk
load* (:func:`begin_bulk` / :func:`end_bulk`): no fsync, no secondary indexes and one
refresh of everything at the end, which is much faster for 100k files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from aiodicom.store.qr_model import Level
from aiodicom.store.qr_sql_schema import (
    PARENT_REF,
    TABLES,
    index_names,
    keys_of,
    schema_statements,
)
from aiodicom.store.qr_store import IndexedFile

_REFRESH_ALL_THRESHOLD = 500
_LOOKUP_CHUNK = 500


def apply_batch(
    conn: sqlite3.Connection,
    added: Sequence[IndexedFile],
    removed: Sequence[str],
    *,
    refresh: bool = True,
    replace_uids: bool = False,
) -> list[str]:
    """Upsert ``added``, delete ``removed`` (one transaction); the duplicate paths.

    ``refresh=False`` (bulk load) leaves the computed attributes to :func:`end_bulk`;
    ``replace_uids`` drops another path holding an added SOP Instance UID (no duplicates).
    """
    duplicates: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        moved: dict[Level, set[int]] = {Level.PATIENT: set(), Level.STUDY: set()}
        touched = _remove_paths(conn, removed)
        touched.update(_add_files(conn, added, duplicates, moved, replace_uids))
        if refresh:
            _refresh(conn, touched, moved)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return duplicates


def begin_bulk(conn: sqlite3.Connection) -> None:
    """Prepare a bulk load into an empty index: no fsync, no secondary indexes."""
    conn.execute("PRAGMA synchronous=OFF")
    for name in index_names():
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def end_bulk(conn: sqlite3.Connection) -> None:
    """Recreate the indexes, refresh every computed attribute, restore fsync."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in schema_statements():
            conn.execute(stmt)
        for stmt in _refresh_statements(everything=True):
            conn.execute(stmt)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("ANALYZE")


def _remove_paths(conn: sqlite3.Connection, paths: Iterable[str]) -> set[int]:
    touched: set[int] = set()
    for path in paths:
        row = conn.execute("SELECT series_ref FROM instance WHERE path = ?", (path,))
        found = row.fetchone()
        if found is not None:
            touched.add(int(found[0]))
            conn.execute("DELETE FROM instance WHERE path = ?", (path,))
    return touched


def _upsert(conn: sqlite3.Connection, level: Level, file: IndexedFile, parent: int | None) -> int:
    """Insert or update the patient/study/series entity of ``file``; its row id."""
    names = upsert_names(level)
    sql = (
        f"INSERT INTO {TABLES[level]} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)}) "
        f"ON CONFLICT(uid) DO UPDATE SET "
        f"{', '.join(f'{n} = excluded.{n}' for n in names[1:])} RETURNING id"
    )
    return int(conn.execute(sql, upsert_values(level, file, parent)).fetchone()[0])


def _add_files(
    conn: sqlite3.Connection,
    files: Sequence[IndexedFile],
    duplicates: list[str],
    moved: dict[Level, set[int]],
    replace_uids: bool = False,
) -> set[int]:
    """Add ``files`` in order; instances go in with one ``executemany`` per batch.

    A file whose SOP Instance UID belongs to another indexed path is refused (PS3.4
    C.6.1.1.5), or that path dropped with ``replace_uids``; a file already indexed under
    its path is replaced.
    """
    owners = _lookup(conn, "SELECT uid, path FROM instance WHERE uid IN", _image_uids(files))
    indexed = {
        str(row[0])
        for row in _lookup_rows(
            conn, "SELECT path FROM instance WHERE path IN", [file.path for file in files]
        )
    }
    seen: dict[tuple[Level, str], int] = {}
    touched: set[int] = set()
    pending: list[list[object]] = []
    for file in files:
        uid = file.entities[Level.IMAGE].uid
        owner = owners.get(uid, file.path)
        if owner != file.path:
            if not replace_uids:
                duplicates.append(file.path)
                continue
            _flush_instances(conn, pending)
            touched.update(_drop_path(conn, owner, owners))
        if file.path in indexed:
            _flush_instances(conn, pending)  # the path may be one of this batch
            touched.update(_drop_path(conn, file.path, owners))
        parent = _parents(conn, file, seen, moved)
        pending.append(upsert_values(Level.IMAGE, file, parent))
        owners[uid] = file.path
        indexed.add(file.path)
        touched.add(parent)
    _flush_instances(conn, pending)
    return touched


def _parents(
    conn: sqlite3.Connection,
    file: IndexedFile,
    seen: dict[tuple[Level, str], int],
    moved: dict[Level, set[int]],
) -> int:
    """Upsert the patient, study and series of ``file`` once per batch; the series id."""
    parent: int | None = None
    for level in (Level.PATIENT, Level.STUDY, Level.SERIES):
        key = (level, file.entities[level].uid)
        ident = seen.get(key)
        if ident is None:
            if parent is not None:
                _note_move(conn, level, key[1], parent, moved)
            ident = _upsert(conn, level, file, parent)
            seen[key] = ident
        parent = ident
    assert parent is not None
    return parent


def _drop_path(conn: sqlite3.Connection, path: str, owners: dict[str, str]) -> set[int]:
    """Delete the instance indexed under ``path``; the series it belonged to."""
    row = conn.execute("SELECT series_ref, uid FROM instance WHERE path = ?", (path,)).fetchone()
    if row is None:
        return set()
    conn.execute("DELETE FROM instance WHERE path = ?", (path,))
    if owners.get(row[1]) == path:
        del owners[row[1]]
    return {int(row[0])}


def _flush_instances(conn: sqlite3.Connection, pending: list[list[object]]) -> None:
    if not pending:
        return
    names = upsert_names(Level.IMAGE)
    conn.executemany(
        f"INSERT INTO instance ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)}) "
        f"ON CONFLICT(uid) DO UPDATE SET "
        f"{', '.join(f'{n} = excluded.{n}' for n in names[1:])}",
        pending,
    )
    pending.clear()


def _refresh(conn: sqlite3.Connection, series_ids: set[int], moved: dict[Level, set[int]]) -> None:
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
    conn.executemany("INSERT OR IGNORE INTO t_study VALUES (?)", [(i,) for i in moved[Level.STUDY]])
    conn.execute(
        "INSERT OR IGNORE INTO t_patient SELECT patient_ref FROM study "
        "WHERE id IN (SELECT id FROM t_study)"
    )
    for stmt in _refresh_statements(everything):
        conn.execute(stmt)


def upsert_names(level: Level) -> list[str]:
    """Columns written for an entity: uid, attrs, keys, parent ref, file stamp."""
    names = ["uid", "attrs"] + [key.column for key in keys_of(level)]
    if level in PARENT_REF:
        names.append(PARENT_REF[level])
    if level is Level.IMAGE:
        names += ["path", "mtime_ns", "size"]
    return names


def upsert_values(level: Level, file: IndexedFile, parent: int | None) -> list[object]:
    """Values in the order of :func:`upsert_names` (path third from the end for IMAGE)."""
    entity = file.entities[level]
    values: list[object] = [entity.uid, entity.blob]
    values += [entity.columns.get(key.tag) for key in keys_of(level)]
    if level in PARENT_REF:
        values.append(parent)
    if level is Level.IMAGE:
        values += [file.path, file.mtime_ns, file.size]
    return values


def _image_uids(files: Sequence[IndexedFile]) -> list[str]:
    return [file.entities[Level.IMAGE].uid for file in files]


def _lookup_rows(conn: sqlite3.Connection, sql: str, keys: list[str]) -> list[tuple[str, ...]]:
    """Rows of ``sql ( ?, ... )`` for ``keys``, in chunks below SQLite's parameter limit."""
    rows: list[tuple[str, ...]] = []
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        rows += conn.execute(f"{sql} ({', '.join('?' for _ in chunk)})", chunk).fetchall()
    return rows


def _lookup(conn: sqlite3.Connection, sql: str, keys: list[str]) -> dict[str, str]:
    return {str(row[0]): str(row[1]) for row in _lookup_rows(conn, sql, keys)}


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
