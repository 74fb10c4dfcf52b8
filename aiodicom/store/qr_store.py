"""The storage interface of the Q/R index: what a backend must provide,
and the :class:`QueryPlan` it is given (built by :mod:`aiodicom.qr.query`).

Two backends implement it: SQLite (:mod:`~aiodicom.store.qr_sql`, embedded) and
PostgreSQL (:mod:`~aiodicom.store.qr_pg`, shared by several SCP processes). The backend
holds the four entity tables of PS3.4 C.6 (patient, study, series, composite instance)
with their key attributes in indexed columns and each entity's full attributes as an
encoded blob, plus the computed attributes of PS3.4 C.6.1.1.2-C.6.1.1.4. All methods are
synchronous and blocking: callers run them off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydicom.dataset import Dataset

from aiodicom.store.qr_model import KeyDef, Level, Model


class Op(StrEnum):
    """The predicate forms a store must evaluate (PS3.4 C.2.2.2.1-C.2.2.2.5)."""

    EQ = "eq"
    IN = "in"
    GLOB = "glob"
    LIKE = "like"  # ASCII case-insensitive wildcard (PN, PS3.4 C.2.2.2.1)
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class Predicate:
    """``key`` compared with ``values``; for RANGE, values are (low, high), "" = open end."""

    key: KeyDef
    op: Op
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What to fetch: the level, the model and the pushed-down predicates.

    ``matching`` is the identifier handed to the matching engine (keys that do not take
    part in matching made universal); ``pushed`` the tags fully decided by the store
    when the row's columns are not NULL.
    """

    model: Model
    level: Level
    relational: bool
    matching: Dataset
    predicates: tuple[Predicate, ...] = ()
    pushed: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class EntityData:
    """One entity's part of a file: unique key, indexed column values, attribute blob.

    ``columns`` maps key tag -> normalized text, or None when the value is absent, empty
    or irregular (so that pushed-down predicates let Python decide).
    """

    uid: str
    columns: Mapping[int, str | None]
    blob: bytes


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """A parsed DICOM file: where it is, its stamp and its four entities."""

    path: str
    mtime_ns: int
    size: int
    entities: Mapping[Level, EntityData]


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One candidate match: entity blobs top level first, computed attributes, decided.

    ``decided`` is True when every matching key was pushed down and the row's columns
    for them were not NULL: the store's answer is then exact and Python may skip matching.
    """

    blobs: tuple[bytes, ...]
    computed: tuple[tuple[int, str], ...]
    decided: bool


class RowCursor(Protocol):
    """A server-side cursor over the rows of one query."""

    def fetch(self, count: int) -> list[ResultRow]:
        """Up to ``count`` further rows; an empty list at the end."""

    def close(self) -> None:
        """Release the cursor (and its read snapshot) at once."""


class QRStore(Protocol):
    """A Q/R index backend. Blocking; one writer, many concurrent read cursors."""

    path: str
    """Where the index is, for logs: the SQLite file, or the database URL (no password)."""

    def known_files(self) -> dict[str, tuple[int, int]]:
        """Path -> (mtime_ns, size) of every indexed file."""

    def instance_path(self, sop_instance_uid: str) -> str | None:
        """The indexed path of the instance with this SOP Instance UID, None if none."""

    def apply(self, added: Sequence[IndexedFile], removed: Sequence[str]) -> list[str]:
        """Add/replace ``added``, drop ``removed`` paths, refresh computed attributes.

        Returns the added paths refused as duplicates (same SOP Instance UID as another
        indexed file).
        """

    def index_file(self, file: IndexedFile, *, replace_uid: bool = False) -> bool:
        """Index one file (add, or replace what is indexed under its path) in one transaction.

        The single-file write path (a C-STORE, PS3.4 B.2.2): when it returns, the instance
        is visible to every query. False when refused because another path holds its SOP
        Instance UID (PS3.4 C.6.1.1.5); ``replace_uid`` drops that other path instead.
        Raises :class:`aiodicom.errors.IndexUnavailable` (0xA700, PS3.4 B.2.3) when a
        database backend cannot be reached.
        """

    def begin_bulk(self) -> bool:
        """Start a faster bulk load if the index is empty; True if started."""

    def end_bulk(self) -> None:
        """Finish a bulk load: indexes and computed attributes complete again."""

    def count(self, plan: QueryPlan) -> int:
        """Number of rows :meth:`open_cursor` would return (an upper bound of matches)."""

    def open_cursor(self, plan: QueryPlan, *, decided_keys: frozenset[int]) -> RowCursor:
        """Rows for ``plan``; ``decided_keys`` are the matching keys of the query."""

    def counts(self) -> dict[str, int]:
        """Number of patients, studies, series and instances."""

    def clear(self) -> None:
        """Drop every row (used by ``--reindex``)."""

    def close(self) -> None:
        """Close the backend."""
