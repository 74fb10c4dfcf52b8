"""Writing the PostgreSQL Q/R index: the same rules as :mod:`~aiodicom.store.qr_sql_write`.

Each :func:`apply_batch` is one transaction holding the writers' advisory lock (one
writer at a time across every SCP process sharing the database, like SQLite's single
writer): removed paths are deleted, added files upserted level by level (PS3.4 C.6.1.1:
patient, study, series, instance; each level with one ``INSERT .. SELECT FROM unnest``),
a file whose SOP Instance UID belongs to another path refused (PS3.4 C.6.1.1.5), and the
computed attributes of PS3.4 C.6.1.1.2-C.6.1.1.4 refreshed for what changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiodicom.store.qr_model import Level
from aiodicom.store.qr_pg_schema import WRITE_LOCK
from aiodicom.store.qr_sql_schema import PARENT_REF, TABLES
from aiodicom.store.qr_sql_write import upsert_names, upsert_values
from aiodicom.store.qr_store import IndexedFile

Connection = Any  # asyncpg.Connection (asyncpg ships no type hints)


@dataclass(slots=True)
class _Batch:
    """What one batch decided: files to write, paths to drop first, refused paths."""

    accepted: dict[str, IndexedFile] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


async def apply_batch(
    conn: Connection,
    added: Sequence[IndexedFile],
    removed: Sequence[str],
    *,
    refresh: bool = True,
    replace_uids: bool = False,
) -> list[str]:
    """Upsert ``added``, delete ``removed`` (one transaction); the duplicate paths.

    ``refresh=False`` (bulk load) leaves the computed attributes to :func:`refresh_all`;
    ``replace_uids`` drops another path holding an added SOP Instance UID.
    """
    # One transaction, begun and ended in the same round trips as its first and last work.
    await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({int(WRITE_LOCK)})")
    try:
        batch = await _sort_out(conn, added, replace_uids)
        touched = await _delete_paths(conn, [*removed, *batch.drop])
        moved: dict[Level, set[int]] = {Level.PATIENT: set(), Level.STUDY: set()}
        touched |= await _add_files(conn, list(batch.accepted.values()), moved)
        script = await _refresh_script(conn, touched, moved) if refresh else []
        await conn.execute(";\n".join([*script, "COMMIT"]))
    except BaseException:
        if not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
        raise
    return batch.duplicates


_HELD = (  # who holds these UIDs (by_uid), what these paths hold (not by_uid): one query
    "SELECT TRUE AS by_uid, uid, path FROM instance WHERE uid = ANY($1::text[]) "
    "UNION ALL SELECT FALSE, uid, path FROM instance WHERE path = ANY($2::text[])"
)


async def _sort_out(conn: Connection, files: Sequence[IndexedFile], replace: bool) -> _Batch:
    """Decide per file, in order: refused duplicate, replacing its path, or new."""
    uids = [file.entities[Level.IMAGE].uid for file in files]
    rows = await conn.fetch(_HELD, uids, [file.path for file in files])
    owners = {str(row[1]): str(row[2]) for row in rows if row[0]}
    indexed = {str(row[2]): str(row[1]) for row in rows if not row[0]}
    batch = _Batch()
    for file, uid in zip(files, uids, strict=True):
        owner = owners.get(uid, file.path)
        if owner != file.path:
            if not replace:
                batch.duplicates.append(file.path)
                continue
            _forget(batch, owners, indexed, owner)
        _forget(batch, owners, indexed, file.path)
        batch.accepted[file.path] = file
        owners[uid] = file.path
    return batch


def _forget(batch: _Batch, owners: dict[str, str], indexed: dict[str, str], path: str) -> None:
    """Whatever ``path`` holds (indexed, or accepted earlier in the batch) is replaced."""
    earlier = batch.accepted.pop(path, None)
    held = indexed.pop(path, None)
    if held is not None:
        batch.drop.append(path)
    for uid in (held, earlier.entities[Level.IMAGE].uid if earlier else None):
        if uid is not None and owners.get(uid) == path:
            del owners[uid]


async def _delete_paths(conn: Connection, paths: list[str]) -> set[int]:
    if not paths:
        return set()
    rows = await conn.fetch(
        "DELETE FROM instance WHERE path = ANY($1::text[]) RETURNING series_ref", paths
    )
    return {int(row[0]) for row in rows}


_TYPES = {"attrs": "bytea", "mtime_ns": "bigint", "size": "bigint"}


def _column_type(name: str) -> str:
    return "bigint" if name.endswith("_ref") else _TYPES.get(name, "text")


def _upsert_sql(level: Level, returning: bool) -> str:
    names = upsert_names(level)
    arrays = ", ".join(f"${i}::{_column_type(n)}[]" for i, n in enumerate(names, 1))
    sql = (
        f"INSERT INTO {TABLES[level]} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT (uid) DO UPDATE SET "
        f"{', '.join(f'{n} = excluded.{n}' for n in names[1:])}"
    )
    return sql + " RETURNING uid, id" if returning else sql


def _text(value: object) -> object:
    """PostgreSQL text holds no NUL: such a value is left NULL (Python matching decides)."""
    return None if isinstance(value, str) and "\x00" in value else value


async def _upsert(
    conn: Connection,
    level: Level,
    files: list[IndexedFile],
    parents: list[int | None],
    moved: dict[Level, set[int]],
) -> dict[str, int]:
    """Upsert the ``level`` entities of ``files``; uid -> id. A study or series that now
    hangs under another parent leaves its former parent in ``moved`` (one round trip:
    the CTE ``before`` sees the rows as they were)."""
    rows = [upsert_values(level, file, parent) for file, parent in zip(files, parents, strict=True)]
    columns = [[_text(v) for v in column] for column in zip(*rows, strict=True)]
    ref = PARENT_REF.get(level)
    old = f"{ref}" if ref else "NULL::bigint"
    sql = (
        f"WITH before AS (SELECT uid, {old} AS old FROM {TABLES[level]} "
        f"WHERE uid = ANY($1::text[])), up AS ({_upsert_sql(level, returning=True)}) "
        "SELECT up.uid, up.id, before.old FROM up LEFT JOIN before ON before.uid = up.uid"
    )
    ids: dict[str, int] = {}
    new_parent = dict(zip((f.entities[level].uid for f in files), parents, strict=True))
    for uid, ident, former in await conn.fetch(sql, *columns):
        ids[str(uid)] = int(ident)
        if former is not None and former != new_parent[str(uid)]:
            moved[Level(level - 1)].add(int(former))
    return ids


async def _add_files(
    conn: Connection, files: list[IndexedFile], moved: dict[Level, set[int]]
) -> set[int]:
    """Upsert patients, studies, series, then instances; the series ids written."""
    if not files:
        return set()
    ids: dict[str, int] = {}
    for level in (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE):
        firsts: dict[str, IndexedFile] = {}
        for file in files:
            firsts.setdefault(file.entities[level].uid, file)
        chosen = list(firsts.values())
        parents = [_parent_id(level, file, ids) for file in chosen]
        if level is Level.IMAGE:
            rows = [upsert_values(level, f, p) for f, p in zip(chosen, parents, strict=True)]
            columns = [[_text(v) for v in column] for column in zip(*rows, strict=True)]
            await conn.execute(_upsert_sql(level, returning=False), *columns)
            return {p for p in parents if p is not None}
        ids = await _upsert(conn, level, chosen, parents, moved)  # the next level's parents
    return set()  # pragma: no cover (the IMAGE level returns)


def _parent_id(level: Level, file: IndexedFile, ids: dict[str, int]) -> int | None:
    if level is Level.PATIENT:
        return None
    return ids[file.entities[Level(level - 1)].uid]


_AFFECTED = (
    "WITH st AS (SELECT study_ref AS id FROM series WHERE id = ANY($1::bigint[]) "
    "UNION SELECT unnest($2::bigint[])), "
    "pa AS (SELECT patient_ref AS id FROM study WHERE id IN (SELECT id FROM st) "
    "UNION SELECT unnest($3::bigint[])) "
    "SELECT (SELECT array_agg(id) FROM st), (SELECT array_agg(id) FROM pa)"
)


async def _refresh_script(
    conn: Connection, series: set[int], moved: dict[Level, set[int]]
) -> list[str]:
    """The statements recomputing PS3.4 C.6.1.1.2-C.6.1.1.4 for what changed and dropping
    entities left empty (run with the COMMIT). One round trip here: the studies and
    patients above ``series`` before any is dropped; the ids are integers, as literals."""
    if not series and not any(moved.values()):
        return []
    studies, patients = await conn.fetchrow(
        _AFFECTED, list(series), list(moved[Level.STUDY]), list(moved[Level.PATIENT])
    )
    ids = {"series": series, "study": studies or [], "patient": patients or []}
    script = []
    for table, stmt in refresh_statements(everything=False):
        literal = "ARRAY[" + ",".join(str(int(i)) for i in ids[table]) + "]::bigint[]"
        script.append(stmt.replace("$1::bigint[]", literal))
    return script


async def refresh_all(conn: Connection) -> None:
    """Every computed attribute, after a bulk load (one transaction), then ANALYZE."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
        for _table, stmt in refresh_statements(everything=True):
            await conn.execute(stmt)
    await conn.execute("ANALYZE")


def refresh_statements(everything: bool) -> list[tuple[str, str]]:
    """(table, statement) pairs, bottom level first; ``$1`` = the ids unless everything."""

    def only(joiner: str = " WHERE") -> str:
        return "" if everything else f"{joiner} id = ANY($1::bigint[])"

    return [
        ("series", "UPDATE series SET n_instances = "
         "(SELECT count(*) FROM instance WHERE series_ref = series.id)" + only()),
        ("series", "DELETE FROM series WHERE n_instances = 0" + only(" AND")),
        ("study", "UPDATE study SET "
         "n_series = (SELECT count(*) FROM series WHERE study_ref = study.id), "
         "n_instances = (SELECT coalesce(sum(n_instances), 0) FROM series "
         "WHERE study_ref = study.id), "
         "modalities = (SELECT string_agg(DISTINCT k_00080060, '\\' ORDER BY k_00080060) "
         "FROM series WHERE study_ref = study.id AND k_00080060 IS NOT NULL), "
         # LATERAL .. OFFSET 0 (not flattened into a join): the instances of each series by
         # index, never a scan of every instance, whatever the statistics say
         "sop_classes = (SELECT string_agg(DISTINCT c, '\\' ORDER BY c) FROM series se, "
         "LATERAL (SELECT k_00080016 AS c FROM instance WHERE series_ref = se.id "
         "AND k_00080016 IS NOT NULL OFFSET 0) im WHERE se.study_ref = study.id)" + only()),
        ("study", "DELETE FROM study WHERE n_series = 0" + only(" AND")),
        ("patient", "UPDATE patient SET "
         "n_studies = (SELECT count(*) FROM study WHERE patient_ref = patient.id), "
         "n_series = (SELECT coalesce(sum(n_series), 0) FROM study "
         "WHERE patient_ref = patient.id), "
         "n_instances = (SELECT coalesce(sum(n_instances), 0) FROM study "
         "WHERE patient_ref = patient.id)" + only()),
        ("patient", "DELETE FROM patient WHERE n_studies = 0" + only(" AND")),
    ]  # fmt: skip


__all__ = ["apply_batch", "refresh_all"]
