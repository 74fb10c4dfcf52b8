"""Typed configuration of the Q/R SCP (``config/qrscp.yaml``).

Same conventions as the worklist server (:mod:`aiodicom.config.common`): the ``server``,
``matching`` and ``logging`` sections are shared; the ``qr`` section names the data
folder, the index file and the query limits; the ``storage`` section C-STORE. Errors
name the file, the dotted key and what was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiodicom.config.common import (
    LoggingSection,
    MatchingSection,
    NetworkSection,
    build_section,
    read_yaml,
)
from aiodicom.dicom.uid import valid_uid
from aiodicom.errors import ConfigError


@dataclass(frozen=True, slots=True)
class QRSection:
    """The data folder, where the index lives, and the query limits.

    ``index``: the SQLite index file (empty = a file in the temp folder named after the
    data path), or a PostgreSQL URL ``postgresql://user[:password]@host[:port]/database``
    (a database several SCP processes share).
    ``max_matches``: more matches than this are refused (0xA700); 0 = unlimited.
    """

    data: Path = Path("qr-data")
    index: str | Path | None = None
    max_matches: int = 0
    batch_size: int = 256
    watch: bool = True
    poll_interval: float = 2.0


DuplicatePolicy = Literal["replace", "keep", "reject"]


@dataclass(frozen=True, slots=True)
class StorageSection:
    """C-STORE into the index (PS3.4 B.2; docs/qrscp.md), on by default.

    ``folder``: where received instances go, inside ``qr.data`` so the folder scan finds
    them after a crash; empty = ``<qr.data>/received``. ``duplicates``: replace, keep or
    reject a SOP Instance UID already indexed. ``fsync``: make each instance durable
    (file and folder fsynced) before its response; false survives a crash of the server
    but not of the machine, and is faster. ``sop_classes`` / ``transfer_syntaxes``:
    what is accepted; empty = every Storage SOP Class / every transfer syntax.
    ``max_instance_size``: bytes one received instance may take on disk (file meta
    included); a larger one is refused with 0xA700 and its partial file removed; null =
    no limit (an endless stream is then bounded by ``server.message_timeout`` only).
    """

    enabled: bool = True
    folder: Path | None = None
    duplicates: DuplicatePolicy = "replace"
    fsync: bool = True
    sop_classes: tuple[str, ...] | None = None
    transfer_syntaxes: tuple[str, ...] | None = None
    max_instance_size: int | None = None


def _default_network() -> NetworkSection:
    return NetworkSection(port=11113, ae_title="QRSCP")


@dataclass(frozen=True, slots=True)
class QRServerConfig:
    """The whole ``config/qrscp.yaml`` file."""

    server: NetworkSection = field(default_factory=_default_network)
    qr: QRSection = field(default_factory=QRSection)
    storage: StorageSection = field(default_factory=StorageSection)
    matching: MatchingSection = field(default_factory=MatchingSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    source: str | None = None

    def index_url(self) -> str | None:
        """The PostgreSQL URL of ``qr.index``, or None for an SQLite index."""
        index = self.qr.index
        return index if isinstance(index, str) and is_database_url(index) else None

    def storage_folder(self) -> Path:
        """Where C-STORE writes: ``storage.folder`` or ``<qr.data>/received``."""
        return self.storage.folder or self.qr.data / "received"

    def index_path(self) -> Path:
        """The SQLite file: ``qr.index`` or ``<tmp>/aiodicom-qr-<hash of data path>.sqlite``."""
        if self.qr.index is not None and self.index_url() is None:
            return Path(self.qr.index)
        digest = hashlib.sha1(str(self.qr.data.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"aiodicom-qr-{digest}.sqlite"


def _check(file: str | None, key: str, ok: bool, expected: str, got: object) -> None:
    if not ok:
        raise ConfigError(file, key, expected, got)


def validate_qr_config(config: QRServerConfig) -> QRServerConfig:
    """Range checks the types cannot express (PS3.5 6.2: AE titles are 1-16 characters)."""
    file, net, qr = config.source, config.server, config.qr
    _check(file, "server.port", 0 <= net.port <= 65535, "a port 0-65535", net.port)
    _check(
        file,
        "server.max_associations",
        net.max_associations >= 1,
        "an integer >= 1",
        net.max_associations,
    )
    _check(
        file,
        "server.max_pdu_length",
        net.max_pdu_length == 0 or net.max_pdu_length >= 4096,
        "0 or >= 4096",
        net.max_pdu_length,
    )
    window = net.async_ops_window
    _check(file, "server.async_ops_window", 1 <= window <= 65535, "1 to 65535", window)
    _check(file, "qr.max_matches", qr.max_matches >= 0, "an integer >= 0", qr.max_matches)
    _check(file, "qr.batch_size", 1 <= qr.batch_size <= 100_000, "1 to 100000", qr.batch_size)
    _check(
        file,
        "qr.poll_interval",
        0.05 <= qr.poll_interval <= 3600,
        "0.05 to 3600 s",
        qr.poll_interval,
    )
    _check_storage(config)
    titles = [("server.ae_title", net.ae_title)]
    titles += [
        (f"server.allowed_calling_aes[{i}]", t) for i, t in enumerate(net.allowed_calling_aes or ())
    ]
    for key, title in titles:
        good = 0 < len(title.strip()) <= 16 and "\\" not in title and title.isprintable()
        _check(file, key, good, "an AE title of 1 to 16 printable characters", title)
    return config


def is_database_url(text: str) -> bool:
    """Whether ``qr.index`` names a PostgreSQL database rather than an SQLite file."""
    return text.startswith(("postgresql://", "postgres://"))


def _check_storage(config: QRServerConfig) -> None:
    """The storage folder lies inside the data folder (the folder scan must see it)."""
    file, folder, data = config.source, config.storage_folder(), config.qr.data
    inside = folder.resolve().is_relative_to(data.resolve())
    _check(file, "storage.folder", inside, f"a folder inside qr.data ({data})", str(folder))
    size = config.storage.max_instance_size
    good = size is None or (isinstance(size, int) and size > 0)
    _check(file, "storage.max_instance_size", good, "a number of bytes > 0, or null", size)
    for key in ("sop_classes", "transfer_syntaxes"):
        for i, uid in enumerate(getattr(config.storage, key) or ()):
            _check(file, f"storage.{key}[{i}]", valid_uid(uid), "a UID (PS3.5 9.1)", uid)


def _relative_to(file: Path, path: str | Path | None) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if path.is_absolute():
        return path
    return (file.parent / path).resolve()


def load_qr_config(path: Path | str | None) -> QRServerConfig:
    """Load and validate a Q/R config; ``qr.data`` and ``qr.index`` are relative to it."""
    if path is None:
        return validate_qr_config(QRServerConfig())
    file = Path(path)
    config = build_section(QRServerConfig, read_yaml(file), str(file))
    data = _relative_to(file, config.qr.data)
    assert data is not None
    index = config.qr.index
    if not (isinstance(index, str) and is_database_url(index)):
        index = _relative_to(file, index)
    qr = dataclasses.replace(config.qr, data=data, index=index)
    storage = dataclasses.replace(config.storage, folder=_relative_to(file, config.storage.folder))
    config = dataclasses.replace(config, qr=qr, storage=storage, source=str(file))
    return validate_qr_config(config)
