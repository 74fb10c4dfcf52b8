"""Open the Q/R index a setting names: an SQLite file (embedded, the default) or a
PostgreSQL database (``postgresql://user@host:port/db``, shared by several SCP nodes)."""

from __future__ import annotations

from pathlib import Path

from aiodicom.config.qr import is_database_url
from aiodicom.store.qr_pg import PostgresQRStore
from aiodicom.store.qr_sql import SQLiteQRStore
from aiodicom.store.qr_store import QRStore


def open_qr_store(index: str | Path, *, setting: str = "--index or qr.index") -> QRStore:
    """The backend for ``index``; a PostgreSQL database gets its schema migrated.

    Raises :class:`aiodicom.errors.IndexConnectError` (naming ``setting`` and the URL
    without its password) when the database cannot be reached.
    """
    text = str(index)
    if is_database_url(text):
        return PostgresQRStore(text, setting=setting)
    return SQLiteQRStore(index)
