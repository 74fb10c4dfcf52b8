"""Read the headers of DICOM files and split them into the entities of PS3.4 C.6.

Only headers are read (pixel data never): by :mod:`aiodicom.store.qr_header` for simple
Explicit VR Little Endian files, else :func:`aiodicom.dicom.files.read_file` (pixels not read).
Each attribute is assigned to the patient, study, series or instance entity
(:func:`~aiodicom.store.qr_model.entity_level_of`); each entity keeps its attributes as an
Explicit VR Little Endian blob plus normalized values of its indexed key columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from aiodicom.dicom.files import read_file
from aiodicom.dicom.identifier import dataset_bytes
from aiodicom.errors import DataError
from aiodicom.matching.text import normalize
from aiodicom.store.qr_header import EntityCache, column_value, index_elements, read_elements
from aiodicom.store.qr_model import (
    INDEXED_KEYS,
    SPECIFIC_CHARACTER_SET,
    UNIQUE_KEYS,
    Level,
    entity_level_of,
)
from aiodicom.store.qr_store import EntityData, IndexedFile

_BULK_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_HEADER_READ = 65536
__all__ = [
    "EntityCache",
    "column_value",
    "index_dataset",
    "parse_file",
    "split_entities",
    "walk_folder",
]


def text_of(elem: DataElement) -> str:
    """The element value as DICOM text, multiple values joined with a backslash."""
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def split_entities(ds: Dataset) -> dict[Level, Dataset]:
    """Split a file's data set into the four entity data sets (PS3.4 C.6.1.1)."""
    parts = {level: Dataset() for level in Level}
    charset = ds.get_item(SPECIFIC_CHARACTER_SET)
    for elem in ds:
        tag = int(elem.tag)
        if tag >> 16 <= 0x0002 or tag & 0xFFFF == 0 or tag == SPECIFIC_CHARACTER_SET:
            continue
        if elem.VR in _BULK_VRS or tag >= 0x7FE00000:
            continue
        parts[entity_level_of(tag)].add(elem)
    if charset is not None:
        for part in parts.values():
            part[SPECIFIC_CHARACTER_SET] = ds[SPECIFIC_CHARACTER_SET]
    return parts


def _entity(level: Level, part: Dataset, uid: str) -> EntityData:
    columns: dict[int, str | None] = {}
    for key in INDEXED_KEYS:
        if key.level is level:
            elem = part.get(key.tag)
            columns[key.tag] = None if elem is None else column_value(key.vr, text_of(elem))
    return EntityData(uid=uid, columns=columns, blob=dataset_bytes(part))


def index_dataset(
    ds: Dataset,
    path: str,
    mtime_ns: int = 0,
    size: int = 0,
    cache: EntityCache | None = None,
) -> IndexedFile:
    """Split one instance's data set into an :class:`IndexedFile` (PS3.4 C.6.1.1).

    ``cache`` reuses the patient/study/series entity already built for an earlier file of
    the same batch (the store keeps the first one of a batch anyway). Raises
    :class:`DataError` naming ``path`` when a Study, Series or SOP Instance UID is
    missing: every entity needs its unique key.
    """
    uids = {
        level: text_of(ds[UNIQUE_KEYS[level]]) if UNIQUE_KEYS[level] in ds else ""
        for level in Level
    }
    uids[Level.PATIENT] = normalize("LO", uids[Level.PATIENT])
    for level in (Level.STUDY, Level.SERIES, Level.IMAGE):
        uids[level] = uids[level].strip(" \x00")
        if not uids[level]:
            raise DataError(path, f"no {level.name.lower()} unique key: not a DICOM instance")
    parts = split_entities(ds)
    entities: dict[Level, EntityData] = {}
    for level in Level:
        key = (level, uids[level])
        cached = cache.get(key) if cache is not None and level is not Level.IMAGE else None
        if cached is None:
            cached = _entity(level, parts[level], uids[level])
            if cache is not None:
                cache[key] = cached
        entities[level] = cached
    return IndexedFile(path=path, mtime_ns=mtime_ns, size=size, entities=entities)


def parse_file(path: str, cache: EntityCache | None = None) -> IndexedFile:
    """Read one file's header (never its pixel data) into an :class:`IndexedFile`.

    The first 64 KiB are parsed by :mod:`aiodicom.store.qr_header` when they hold a
    simple Explicit VR Little Endian header; otherwise pydicom reads the file, with the
    same result. Raises :class:`DataError` naming the file when it is not a readable
    DICOM composite instance.
    """
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            head = handle.read(_HEADER_READ)
        elements = read_elements(head, whole=len(head) >= stat.st_size)
        if elements is not None:
            return index_elements(elements, path, stat.st_mtime_ns, stat.st_size, cache)
        ds = read_file(path, stop_before_pixels=True)
        if head[128:132] != b"DICM" and not ds.file_meta:  # pydicom guessed (force=True)
            try:
                return index_dataset(ds, path, stat.st_mtime_ns, stat.st_size, cache)
            except DataError:
                raise DataError(path, "not a DICOM file (no DICM prefix, no UIDs)") from None
        return index_dataset(ds, path, stat.st_mtime_ns, stat.st_size, cache)
    except DataError:
        raise
    except (InvalidDicomError, OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise DataError(path, f"not a readable DICOM file: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # pydicom raises many kinds of errors on garbage input
        raise DataError(path, f"unreadable DICOM header: {type(exc).__name__}: {exc}") from None


def walk_folder(root: Path, exclude: frozenset[str]) -> Iterator[tuple[str, int, int]]:
    """Yield (path, mtime_ns, size) of every regular file under ``root``, recursively.

    Hidden files and folders (leading dot) and the ``exclude`` paths are skipped.
    """
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.path in exclude:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    stat = entry.stat()
                    yield entry.path, stat.st_mtime_ns, stat.st_size
            except OSError:
                continue
