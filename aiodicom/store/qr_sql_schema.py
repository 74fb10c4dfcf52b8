"""SQLite schema of the Q/R index: one table per entity of PS3.4 C.6.1.1.

Key attributes (Tables C.6-1 .. C.6-4) are columns, the most used ones indexed; every
entity keeps its full attributes in a blob; the computed attributes of PS3.4
C.6.1.1.2-C.6.1.1.4 are columns. SQL lives only in the ``qr_sql*`` modules.
"""

from __future__ import annotations

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


def keys_of(level: Level) -> list[KeyDef]:
    """The indexed keys of the entity ``level`` (PS3.4 Tables C.6-1 .. C.6-4)."""
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
        cols = ", ".join(f"{key.column} TEXT" for key in keys_of(level))
        out.append(
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, "
            f"uid TEXT NOT NULL UNIQUE, {extra[level]}, {cols}, attrs BLOB)"
        )
        if level in PARENT_REF:
            ref = PARENT_REF[level]
            out.append(f"CREATE INDEX IF NOT EXISTS {table}_{ref} ON {table}({ref})")
        for key in keys_of(level):
            if key.column in INDEXED_COLUMNS:
                out.append(
                    f"CREATE INDEX IF NOT EXISTS {table}_{key.column} ON {table}({key.column})"
                )
    return out


def index_names() -> list[str]:
    """The secondary (non-unique) indexes, dropped during a bulk load (see qr_sql_write)."""
    return [stmt.split()[5] for stmt in schema_statements() if stmt.startswith("CREATE INDEX")]
