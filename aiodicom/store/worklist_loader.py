"""Load worklist items from a wlmscpfs-style data folder: ``DATA/<AE title>/*.wl|*.yaml``.

``*.wl`` files are DICOM data sets with or without Part 10 meta information (PS3.10 7.1),
as DCMTK's ``wlmscpfs -dfp DATA`` reads them; ``*.yaml`` files hold one item each, written
with attribute keywords (PS3.6) as keys and sequences as lists of mappings. A file that
cannot be used is skipped with one warning naming it and the reason; it never stops the
server. AE folders are *enumerated* here, never built from request data.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml
from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.config.common import yaml_error_text
from aiodicom.dicom.identifier import dataset_bytes
from aiodicom.dicom.reader import Interner, RawDataset, parse_file_bytes
from aiodicom.dicom.values import decode_record
from aiodicom.errors import DataError
from aiodicom.matching.model import Record
from aiodicom.store import cache_warmer
from aiodicom.store.readahead import DEFAULT_WINDOW, SYSTEM, FileAccess, ReadAhead
from aiodicom.store.worklist_validate import check_dataset

log = structlog.get_logger("aiodicom.worklist")

SPS_SEQUENCE = 0x00400100
DICOM_SUFFIXES = (".wl",)
YAML_SUFFIXES = (".yaml", ".yml")
MAX_AE_LENGTH = 16  # PS3.5 Table 6.2-1: AE is at most 16 characters


Stamp = tuple[int, int, int]
"""(inode, size, mtime_ns): a file is reloaded only when this changes."""


class WorklistItem:
    """One worklist item: its Record for matching and its raw elements (for responses)."""

    __slots__ = ("path", "raw", "record", "stamp")

    def __init__(self, path: str, raw: RawDataset, record: Record, stamp: Stamp) -> None:
        self.path = path
        self.raw = raw
        self.record = record
        self.stamp = stamp


def valid_ae_folder_name(name: str) -> bool:
    """A folder can serve an AE title if its name is a legal AE value (PS3.5 6.2)."""
    return (
        0 < len(name) <= MAX_AE_LENGTH
        and name == name.strip()
        and name.isprintable()
        and "\\" not in name
        and not name.startswith(".")
    )


def enumerate_ae_folders(root: Path) -> dict[str, Path]:
    """Map AE title -> folder for every usable sub-folder of ``root``."""
    folders: dict[str, Path] = {}
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError as exc:
        raise DataError(str(root), f"cannot list the worklist data folder: {exc}") from exc
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and valid_ae_folder_name(entry.name):
            folders[entry.name] = Path(entry.path)
    return folders


def _stamp(info: os.stat_result) -> Stamp:
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _check_item(raw: RawDataset, path: str) -> None:
    """PS3.4 K.6.1: an item without a Scheduled Procedure Step is no worklist item."""
    entry = raw.get(SPS_SEQUENCE)
    if entry is None or not isinstance(entry[1], tuple):
        raise DataError(path, "missing Scheduled Procedure Step Sequence (0040,0100)")
    if not entry[1]:
        raise DataError(path, "empty Scheduled Procedure Step Sequence (0040,0100)")


def load_dicom_bytes(
    name: str, data: bytes, stamp: Stamp, interner: Interner | None = None
) -> WorklistItem:
    """One ``*.wl`` item from the file's bytes (DataError on any problem)."""
    raw = parse_file_bytes(data, name, interner)
    _check_item(raw, name)
    return WorklistItem(name, raw, _decode(raw, name, interner), stamp)


ParseItem = Callable[[str, bytes, Stamp, "Interner | None"], WorklistItem]
"""(file name, bytes, stamp, interner) -> item; DataError for a file that is no item."""


def _decode(raw: RawDataset, path: str, interner: Interner | None) -> Record:
    try:
        return decode_record(raw, interner=interner)
    except DataError as exc:
        raise DataError(path, exc.reason) from exc


def load_yaml_bytes(name: str, data: bytes, stamp: Stamp) -> WorklistItem:
    """One ``*.yaml`` item: keywords as keys, sequences as lists of mappings."""
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        document = yaml.safe_load(text)  # newlines as a text-mode read gives them
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = ": ".join(yaml_error_text(exc)) if isinstance(exc, yaml.YAMLError) else str(exc)
        raise DataError(name, f"bad YAML: {reason}") from exc
    if not isinstance(document, Mapping):
        raise DataError(name, "expected a mapping of attribute keywords to values")
    ds = dataset_from_mapping(document, name)
    if "SpecificCharacterSet" not in ds and not _is_ascii(document):
        ds.SpecificCharacterSet = "ISO_IR 192"
    raw = parse_file_bytes(_encode_explicit_le(ds, name), name)
    _check_item(raw, name)
    _warn_invalid_values(ds, name)
    return WorklistItem(name, raw, _decode(raw, name, None), stamp)


def _warn_invalid_values(ds: Dataset, name: str) -> None:
    """The API's value checks (PS3.5 6.2) on a hand-written YAML item. The item is still
    served (the rule in docs/worklist.md); one warning names the file and every bad field.
    Called once per file version: unchanged files are not read again."""
    errors = check_dataset(ds)
    if errors:
        log.warning(
            "worklist file has invalid values (served as written)",
            file=name,
            fields=[error.field for error in errors],
            reason="; ".join(f"{error.field}: {error.rule}" for error in errors),
        )


def _is_ascii(value: object) -> bool:
    if isinstance(value, Mapping):
        return all(_is_ascii(key) and _is_ascii(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_is_ascii(item) for item in value)
    return str(value).isascii()


def _scalar(value: object, key: str, path: str) -> str:
    if isinstance(value, datetime.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, bool | Mapping | list):
        raise DataError(path, f"{key}: expected a text or number value, got {value!r}")
    return "" if value is None else str(value)


def dataset_from_mapping(document: Mapping[Any, Any], path: str) -> Dataset:
    """Build a Dataset from keyword -> value (PS3.6 keywords; DataError names the key)."""
    ds = Dataset()
    for key, value in document.items():
        tag = tag_for_keyword(str(key))
        if tag is None:
            raise DataError(path, f"unknown attribute keyword {key!r}")
        vr = str(dictionary_VR(tag)).split(" or ", maxsplit=1)[0]
        if vr == "SQ":
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise DataError(path, f"{key}: expected a list of mappings (sequence items)")
            ds.add_new(tag, vr, Sequence([dataset_from_mapping(v, path) for v in value]))
        else:
            text = (
                [_scalar(v, str(key), path) for v in value]
                if isinstance(value, list)
                else _scalar(value, str(key), path)
            )
            # values are checked by check_dataset (one warning per file), not by pydicom
            ds.add(DataElement(tag, vr, text, validation_mode=pydicom_config.IGNORE))
    return ds


def _encode_explicit_le(ds: Dataset, path: str) -> bytes:
    try:
        return dataset_bytes(ds)
    except (ValueError, TypeError, LookupError, OverflowError) as exc:
        raise DataError(path, f"cannot encode: {exc}") from exc


@dataclass(slots=True)
class FolderLoader:
    """Loads AE folders, reusing unchanged items and warning once per bad file version.

    Only files that must be parsed are opened: a file with a kept item or a known-bad
    version is ``stat``-ed and skipped while its stamp is unchanged. The others are read
    through :class:`ReadAhead` (``window`` files opened ahead; 0 reads one at a time),
    with a :class:`~aiodicom.store.cache_warmer.CacheWarmer` child when at least
    ``warm_min_files`` must be read (started by ``launcher``). ``access`` makes the
    descriptor calls (:class:`~aiodicom.store.readahead.FileAccess`), ``parse`` turns a
    ``.wl`` file's bytes into an item (:func:`load_dicom_bytes`).
    """

    items_by_path: dict[str, WorklistItem]
    bad_stamps: dict[str, Stamp]
    listed: set[str]
    window: int = DEFAULT_WINDOW
    warm_min_files: int = cache_warmer.MIN_FILES
    access: FileAccess = SYSTEM
    parse: ParseItem = load_dicom_bytes
    launcher: cache_warmer.Launcher = cache_warmer.DEFAULT

    @classmethod
    def empty(cls) -> FolderLoader:
        return cls({}, {}, set())

    def load_folder(self, folder: Path) -> list[WorklistItem]:
        """All usable items of one AE folder, in file name order."""
        try:
            names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
        except OSError as exc:
            log.warning("worklist folder skipped", file=str(folder), reason=str(exc))
            return []
        base = str(folder)
        keys = [os.path.join(base, name) for name in names if is_item_name(name)]
        self.listed.update(keys)
        unread = self._unread(keys)
        interner = Interner()  # shares repeated values between the items of this load
        items: list[WorklistItem] = []
        to_read = [key for key in keys if key not in unread]
        warming = cache_warmer.warming(to_read, self.warm_min_files, self.launcher)
        with warming, ReadAhead(to_read, self.window, self.access) as reader:
            for key in keys:
                item = unread[key] if key in unread else self._read(reader, key, interner)
                if item is not None:
                    items.append(item)
        return items

    def _unread(self, keys: list[str]) -> dict[str, WorklistItem | None]:
        """Files seen before that need no read: their kept item, or None to skip them."""
        unread: dict[str, WorklistItem | None] = {}
        for key in keys:
            previous = self.items_by_path.get(key)
            bad = self.bad_stamps.get(key)
            if previous is None and bad is None:
                continue  # never seen: read it (no stat needed, fstat gives the stamp)
            try:
                stamp = _stamp(os.stat(key))
            except OSError:
                unread[key] = None  # vanished between listing and stat: the next reload sees it
                continue
            if previous is not None and previous.stamp == stamp:
                unread[key] = previous
            elif bad == stamp:
                unread[key] = None  # already warned about this version of the file
        return unread

    def _read(self, reader: ReadAhead, key: str, interner: Interner) -> WorklistItem | None:
        try:
            info, data = reader.read(key)
        except OSError as exc:
            self._unreadable(key, exc)
            return None
        stamp = _stamp(info)
        try:
            if key.lower().endswith(YAML_SUFFIXES):
                item = load_yaml_bytes(key, data, stamp)
            else:
                item = self.parse(key, data, stamp, interner)
        except DataError as exc:
            self._bad(key, stamp, exc.reason)
            return None
        self.bad_stamps.pop(key, None)
        self.items_by_path[key] = item
        return item

    def _unreadable(self, key: str, exc: OSError) -> None:
        try:
            stamp = _stamp(os.stat(key))
        except OSError:
            return  # vanished between listing and open: the next reload sees it
        self._bad(key, stamp, f"unreadable: {exc.strerror or exc}")

    def _bad(self, key: str, stamp: Stamp, reason: str) -> None:
        if self.bad_stamps.get(key) != stamp:
            self.bad_stamps[key] = stamp
            log.warning("worklist file skipped", file=key, reason=reason)

    def forget_missing(self) -> None:
        """Drop cached items and warnings of files not listed by the last load."""
        for cache in (self.items_by_path, self.bad_stamps):
            for key in [key for key in cache if key not in self.listed]:
                del cache[key]
        self.listed = set()


def is_item_name(name: str) -> bool:
    return name.endswith(DICOM_SUFFIXES) or name.lower().endswith(YAML_SUFFIXES)
