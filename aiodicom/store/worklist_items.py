"""The worklist item files: one file per item in ``DATA/<AE title>/``.

The writer shared by the REST API (:mod:`aiodicom.webapi`), the HL7 feed
(:mod:`aiodicom.hl7`) and the MPPS SCP (:mod:`aiodicom.worklist.mpps_link`).

The folder stays the single source of truth (the worklist store hot-reloads it, PS3.4
K.4.1.3): new items are written as ``<id>.yaml`` in the loader's keyword format, edits
keep the file's format (``.yaml`` or ``.wl``). Every write goes to a hidden temporary
file, is fsynced and then renamed over the target with :func:`os.replace`, so a reader
(the loader, wlmscpfs, a person) sees either the old or the new file, never half of it.

Item ids are file name stems checked against :data:`ID_PATTERN` before any path is
built; AE folders are enumerated, never taken from the request. The ETag is a hash of
the file bytes, so edits made by hand are detected like any other concurrent write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from aiodicom.dicom.files import FileMeta, encode_file, read_file
from aiodicom.errors import DataError
from aiodicom.store.atomic import atomic_write, fsync_dir
from aiodicom.store.locks import KeyedLocks
from aiodicom.store.worklist_loader import (
    DICOM_SUFFIXES,
    YAML_SUFFIXES,
    dataset_from_mapping,
    enumerate_ae_folders,
    valid_ae_folder_name,
)

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Item ids: file name stems, never a path (no dots, no slashes)."""
WORKLIST_SOP_CLASS = "1.2.840.10008.5.1.4.31"
SUFFIXES = (*YAML_SUFFIXES, *DICOM_SUFFIXES)
TEMP_NAME = re.compile(
    r"\.[A-Za-z0-9_-]{1,64}(?:" + "|".join(re.escape(s) for s in SUFFIXES) + r")\.[0-9a-f]{8}\.tmp"
)
"""Names :func:`temp_path` makes; :meth:`ItemFiles.sweep_stale_temps` removes only these."""
STALE_AFTER = 30.0
"""Seconds after which a temporary file is a leftover of a killed write, not one in progress."""

log = structlog.get_logger("aiodicom.worklist")


class ItemNotFound(DataError):
    """No item file with this id (HTTP 404)."""


class ItemConflict(DataError):
    """The write would lose or clash with another one: stale ETag, duplicate id (HTTP 409)."""


class PreconditionRequired(DataError):
    """A change without ``If-Match`` (HTTP 428, RFC 6585 3)."""


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item file as read from disk."""

    item_id: str
    ae_title: str
    path: Path
    etag: str
    dataset: Dataset


def etag_of(data: bytes) -> str:
    """A strong ETag (RFC 9110 8.8.3): a hash of the exact file bytes."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _plain(value: object) -> object:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [str(part) for part in value]  # type: ignore[attr-defined]
    return "" if value is None else str(value)


def mapping_from_dataset(ds: Dataset) -> dict[str, Any]:
    """Keyword -> value, sequences as lists of mappings: the loader's YAML item format."""
    out: dict[str, Any] = {}
    for element in ds:
        if not element.keyword:
            continue  # private or unknown tags cannot be written by keyword
        if element.VR == "SQ":
            out[element.keyword] = [mapping_from_dataset(item) for item in element.value]
        else:
            out[element.keyword] = _plain(element.value)
    return out


def yaml_bytes(ds: Dataset) -> bytes:
    """The YAML text of one item (UTF-8; strings stay strings, e.g. '20261125')."""
    text = yaml.safe_dump(
        mapping_from_dataset(ds), allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    return ("# worklist item written by aiodicom\n" + text).encode("utf-8")


def dicom_bytes(ds: Dataset) -> bytes:
    """A Part 10 file (PS3.10 7.1) in Explicit VR Little Endian, as wlmscpfs reads it."""
    meta = FileMeta(WORKLIST_SOP_CLASS, generate_uid())
    return encode_file(ds, ExplicitVRLittleEndian, meta)


def parse_item(path: Path, data: bytes) -> Dataset:
    """A YAML or DICOM item file -> Dataset (DataError naming the file)."""
    if path.suffix.lower() in YAML_SUFFIXES:
        try:
            document = yaml.safe_load(data.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DataError(str(path), f"bad YAML: {exc}".splitlines()[0]) from exc
        if not isinstance(document, dict):
            raise DataError(str(path), "expected a mapping of attribute keywords to values")
        return dataset_from_mapping(document, str(path))
    try:
        ds = read_file(data)
    except (InvalidDicomError, ValueError, EOFError, OSError) as exc:
        raise DataError(str(path), f"not a DICOM file: {exc}") from exc
    plain = Dataset()
    plain.update(ds)
    return plain


def check_id(item_id: str) -> str:
    """Refuse ids that are not plain file stems (404, never a filesystem path)."""
    if not ID_PATTERN.fullmatch(item_id):
        raise ItemNotFound(item_id, "no such item (ids are 1-64 characters A-Z a-z 0-9 _ -)")
    return item_id


class ItemFiles:
    """Reads and writes item files under ``root``.

    One writer per item id at a time in a process (:class:`~aiodicom.store.locks.KeyedLocks`):
    writes of different items, and their fsyncs, overlap; :meth:`exclusive` holds every
    item, for a change of several items at once (an HL7 order).
    """

    def __init__(self, root: Path, default_ae: str) -> None:
        self.root = root
        self.default_ae = default_ae
        self.locks = KeyedLocks()

    def sweep_stale_temps(self, older_than: float = STALE_AFTER) -> list[Path]:
        """Remove the temporary files a killed :func:`atomic_write` left in the AE folders.

        Only :data:`TEMP_NAME` files last modified more than ``older_than`` seconds ago
        (a write in progress in another process is seconds old at most); one log line
        lists them. Returns the removed paths.
        """
        limit = time.time() - older_than
        removed: list[Path] = []
        for folder in enumerate_ae_folders(self.root).values():
            try:
                entries = [e for e in os.scandir(folder) if TEMP_NAME.fullmatch(e.name)]
            except OSError:
                continue  # the loader warns about unreadable folders
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime > limit:
                        continue
                    os.unlink(entry.path)
                except OSError:
                    continue  # gone already, or not ours to remove
                removed.append(Path(entry.path))
        if removed:
            names = [str(path.relative_to(self.root)) for path in removed]
            log.info("stale temporary files removed", count=len(removed), files=names)
        return removed

    @staticmethod
    def new_id() -> str:
        """A fresh item id for a body without one."""
        return f"wl-{secrets.token_hex(8)}"

    def locate(self, item_id: str) -> tuple[str, Path]:
        """(AE title, path) of the item file; ItemNotFound / ItemConflict (same id twice)."""
        check_id(item_id)
        found = [
            (title, folder / f"{item_id}{suffix}")
            for title, folder in enumerate_ae_folders(self.root).items()
            for suffix in SUFFIXES
            if (folder / f"{item_id}{suffix}").is_file()
        ]
        if not found:
            raise ItemNotFound(item_id, "no such item")
        if len(found) > 1:
            names = ", ".join(str(path.relative_to(self.root)) for _, path in found)
            raise ItemConflict(item_id, f"the id is used by several files: {names}")
        return found[0]

    def read(self, item_id: str) -> StoredItem:
        title, path = self.locate(item_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ItemNotFound(item_id, "no such item") from exc
        return StoredItem(item_id, title, path, etag_of(data), parse_item(path, data))

    def _folder_for(self, ae_title: str | None) -> tuple[str, Path]:
        title = (ae_title or self.default_ae).strip()
        if not valid_ae_folder_name(title) or title in {".", ".."} or "/" in title:
            raise ItemConflict("ae_title", f"{title!r} is not a usable AE title folder name")
        return title, self.root / title

    def create_now(
        self, ds: Dataset, item_id: str, ae_title: str | None, create_ae: bool = False
    ) -> StoredItem:
        """Write a new item file; a new called-AE folder only when ``create_ae`` says so
        (a typo in an AE title must not silently become a new called AE)."""
        with contextlib.suppress(ItemNotFound):
            self.locate(item_id)
            raise ItemConflict(item_id, "an item with this id already exists")
        title, folder = self._folder_for(ae_title)
        if not folder.is_dir():
            if not create_ae:
                known = sorted(path.name for path in self.root.iterdir() if path.is_dir())
                raise ItemConflict(
                    "ae_title",
                    f"no AE title folder {title!r} (existing: {', '.join(known) or 'none'}); "
                    "to create a new called AE, ask for it: --create-ae (CLI) or "
                    "?create_ae=true (REST API)",
                )
            folder.mkdir(exist_ok=True)  # two creates may both make it
        path = folder / f"{item_id}.yaml"
        data = yaml_bytes(ds)
        atomic_write(path, data)
        return StoredItem(item_id, title, path, etag_of(data), ds)

    def _checked(self, item_id: str, if_match: str | None) -> StoredItem:
        if not if_match:
            raise PreconditionRequired(item_id, "If-Match with the item's ETag is required")
        current = self.read(item_id)
        if if_match.strip() not in {current.etag, "*"}:
            raise ItemConflict(item_id, "the item changed since it was read (stale ETag)")
        return current

    def replace_now(self, item_id: str, ds: Dataset, if_match: str | None) -> StoredItem:
        """Write ``ds`` over the item file, in its format (the caller holds its lock)."""
        current = self._checked(item_id, if_match)
        is_yaml = current.path.suffix.lower() in YAML_SUFFIXES
        data = yaml_bytes(ds) if is_yaml else dicom_bytes(ds)
        atomic_write(current.path, data)
        return StoredItem(item_id, current.ae_title, current.path, etag_of(data), ds)

    def delete_now(self, item_id: str, if_match: str | None) -> None:
        current = self._checked(item_id, if_match)
        current.path.unlink()
        fsync_dir(current.path.parent)

    async def create(
        self, ds: Dataset, item_id: str, ae_title: str | None, create_ae: bool = False
    ) -> StoredItem:
        async with self.locks.hold(item_id):
            return await asyncio.to_thread(self.create_now, ds, item_id, ae_title, create_ae)

    async def replace(self, item_id: str, ds: Dataset, if_match: str | None) -> StoredItem:
        async with self.locks.hold(item_id):
            return await asyncio.to_thread(self.replace_now, item_id, ds, if_match)

    async def delete(self, item_id: str, if_match: str | None) -> None:
        async with self.locks.hold(item_id):
            await asyncio.to_thread(self.delete_now, item_id, if_match)

    async def update(
        self, item_id: str, if_match: str | None, change: Callable[[Dataset], Dataset]
    ) -> StoredItem:
        """Read, check If-Match, apply ``change`` and write, all under the item's write lock."""

        def run() -> StoredItem:
            current = self._checked(item_id, if_match)
            return self.replace_now(item_id, change(current.dataset), current.etag)

        async with self.locks.hold(item_id):
            return await asyncio.to_thread(run)

    async def rewrite(self, item_id: str, change: Callable[[Dataset], Dataset | None]) -> bool:
        """Read, apply ``change`` and write the result, or delete the file when it gives
        None, all under the item's write lock and off the event loop; True when the file
        was deleted."""

        def run() -> bool:
            current = self.read(item_id)
            ds = change(current.dataset)
            if ds is None:
                self.delete_now(item_id, current.etag)
                return True
            self.replace_now(item_id, ds, current.etag)
            return False

        async with self.locks.hold(item_id):
            return await asyncio.to_thread(run)

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Hold every item's write lock (for the ``*_now`` methods on several items)."""
        return self.locks.exclusive()
