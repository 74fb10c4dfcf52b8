"""The Q/R SCP's Storage SCP (PS3.4 B.2): each received instance into the folder and the index.

For each C-STORE-RQ (:class:`aiodicom.net.store_scp.StoreOperation` calls
:meth:`QRStorage.open`) a temporary file gets the PS3.10 File Meta Information (built from
the command set and the presentation context, :func:`aiodicom.dicom.writer.file_meta_information`)
followed by the data set exactly as received, fragment by fragment (no re-encoding).
When the last fragment is in, :meth:`InstanceSink.commit`:

1. fsyncs the file and reads its header with the folder scan's parser
   (:func:`aiodicom.store.qr_files.parse_file`: one file in, one ``IndexedFile`` out);
2. checks it against the command (PS3.4 B.2.3): SOP Class UID and SOP Instance UID equal
   to the Affected ones, else 0xA900; a data set that cannot be read, or UIDs that break
   PS3.5 9.1, 0xC000;
3. while no folder scan runs (:meth:`aiodicom.store.QRIndex.exclusive`), applies the
   duplicate policy, indexes it (one transaction) and renames it into place
   (:class:`aiodicom.store.qr_received.ReceivedFolder`), then answers Success: the
   instance is on disk and found by C-FIND before the C-STORE-RSP leaves.

Out of disk space, an unwritable folder or an unusable index give 0xA700 with the cause
in the Error Comment. Duplicate SOP Instance UIDs (PS3.4 C.6.1.1.5: the unique key names
one instance) follow :attr:`StorageOptions.duplicates`: ``replace`` (default) indexes the
new copy instead of the old one, ``keep`` keeps the stored one and answers Success,
``reject`` answers 0x0111 (Duplicate SOP Instance, PS3.7 C.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import structlog

from aiodicom.dicom.uid import valid_uid
from aiodicom.dicom.writer import file_meta_information
from aiodicom.errors import DataError, IndexUnavailable, StoreError
from aiodicom.net.server import Server
from aiodicom.net.store_scp import StoreOperation, StoreRequest
from aiodicom.proto.messages import CommandField
from aiodicom.proto.negotiation import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from aiodicom.qr.storage_classes import STORAGE_SOP_CLASSES, STORAGE_TRANSFER_SYNTAXES
from aiodicom.store.atomic import AtomicFile, fsync_dir
from aiodicom.store.qr_files import parse_file
from aiodicom.store.qr_index import QRIndex
from aiodicom.store.qr_model import Level
from aiodicom.store.qr_received import ReceivedFolder
from aiodicom.store.qr_store import IndexedFile

log = structlog.get_logger("aiodicom.qr.storage")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: Refused, out of resources
DATA_SET_MISMATCH = 0xA900  # PS3.4 B.2.3: Error, data set does not match SOP class
CANNOT_UNDERSTAND = 0xC000  # PS3.4 B.2.3: Error, cannot understand
DUPLICATE_SOP_INSTANCE = 0x0111  # PS3.7 C.5: Failure, duplicate SOP instance
DUPLICATE_POLICIES = ("replace", "keep", "reject")
_SOP_CLASS_UID = 0x00080016
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True, slots=True)
class StorageOptions:
    """``duplicates``: replace, keep or reject (module docstring). ``max_instance_size``:
    bytes one instance may take (file meta included), None = no limit; beyond it the
    instance is refused with 0xA700 and its partial file removed at once, so a stream
    that never ends fills no disk (the rest of it is read and dropped)."""

    duplicates: str = "replace"
    max_instance_size: int | None = None


def _index_error(exc: Exception) -> StoreError:
    """0xA700 (PS3.4 B.2.3) when the index cannot take the instance: the cause, e.g.
    "index unavailable: connection refused" for a PostgreSQL server that is away."""
    if isinstance(exc, IndexUnavailable):
        cause = (exc.comment or "").removeprefix("Q/R index unavailable: ")
    else:
        cause = f"{type(exc).__name__}: {exc}"
    return StoreError(OUT_OF_RESOURCES, comment=f"index unavailable: {cause}")


def _resource_error(exc: OSError, doing: str) -> StoreError:
    """0xA700 naming the cause (disk full, permission, ...)."""
    what = "disk full" if exc.errno in _FULL else (exc.strerror or type(exc).__name__)
    return StoreError(OUT_OF_RESOURCES, comment=f"{doing}: {what}")


class QRStorage:
    """The C-STORE handler of ``aiodicom-qrscp``: ``Server.register_operation(C_STORE_RQ,
    StoreOperation(storage.open), storage classes)``."""

    def __init__(
        self, folder: ReceivedFolder, index: QRIndex, options: StorageOptions | None = None
    ) -> None:
        self.folder = folder
        self.index = index
        self.options = options or StorageOptions()
        self._spare: AtomicFile | None = None  # a temporary file made ahead, off the loop
        self._making = False
        if self.options.duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicate policy {self.options.duplicates!r}")

    def register(
        self,
        server: Server,
        sop_classes: Collection[str] | None = None,
        transfer_syntaxes: Collection[str] | None = None,
    ) -> None:
        """Serve C-STORE on ``server`` (one more entry in its operation table) for
        ``sop_classes`` in ``transfer_syntaxes`` (None: every storage class / syntax)."""
        server.register_operation(
            CommandField.C_STORE_RQ,
            StoreOperation(self.open),
            tuple(sop_classes or STORAGE_SOP_CLASSES),
            tuple(transfer_syntaxes or STORAGE_TRANSFER_SYNTAXES),
        )

    def open(self, request: StoreRequest) -> InstanceSink:
        """A sink for one instance, its file meta information written (PS3.10 7.1)."""
        if not valid_uid(request.sop_instance_uid):
            uid = request.sop_instance_uid[:40]
            comment = f"Affected SOP Instance UID {uid!r} is not a UID (PS3.5 9.1)"
            raise StoreError(CANNOT_UNDERSTAND, comment=comment)
        try:
            file = self._take_file()
        except OSError as exc:
            raise _resource_error(exc, "cannot create the file") from None
        sink = InstanceSink(self, request, file)
        meta = file_meta_information(
            request.sop_class_uid,
            request.sop_instance_uid,
            request.transfer_syntax,
            implementation_class_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version_name=IMPLEMENTATION_VERSION_NAME,
            source_ae_title=request.calling_ae.strip(),
        )
        try:
            sink.write(meta)
        except StoreError:
            sink.discard()
            raise
        return sink

    def _take_file(self) -> AtomicFile:
        """The spare temporary file, or a new one; then the next spare is made in a
        thread (creating a file costs about a millisecond on some file systems: not on
        the event loop for the next instance)."""
        spare, self._spare = self._spare, None
        file = spare if spare is not None else self.folder.new_file()
        if not self._making:
            self._making = True
            made = asyncio.get_running_loop().run_in_executor(None, self.folder.new_file)
            made.add_done_callback(self._spare_made)
        return file

    def _spare_made(self, made: asyncio.Future[AtomicFile]) -> None:
        self._making = False
        if made.cancelled() or made.exception() is not None:
            return  # the next instance makes its own file and reports the error
        file = made.result()
        if self._spare is None:
            self._spare = file
        else:
            file.discard()

    def close(self) -> None:
        """Remove the spare temporary file (at shutdown)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()


class InstanceSink:
    """One instance on its way to disk and index (module docstring)."""

    __slots__ = ("file", "request", "room", "storage")

    def __init__(self, storage: QRStorage, request: StoreRequest, file: AtomicFile) -> None:
        self.storage = storage
        self.request = request
        self.file = file
        self.room = storage.options.max_instance_size  # bytes still allowed, None: any

    def write(self, data: bytes) -> None:
        if self.room is not None:
            self.room -= len(data)
            if self.room < 0:
                limit = self.storage.options.max_instance_size
                comment = f"instance larger than the limit of {limit} bytes"
                raise StoreError(OUT_OF_RESOURCES, comment=comment)
        try:
            self.file.write(data)
        except OSError as exc:
            raise _resource_error(exc, "cannot write the instance") from None

    def discard(self) -> None:
        self.file.discard()

    async def commit(self) -> int:
        try:
            indexed, target = await asyncio.to_thread(self._checked)
            place = functools.partial(self._place, indexed, target)
            return await self.storage.index.exclusive(place)
        finally:
            self.file.discard()  # nothing left after a rename; the temporary file otherwise

    def _checked(self) -> tuple[IndexedFile, Path]:
        """Synced, parsed and checked against the command: (index entry, final path)."""
        try:
            self.file.sync()
        except OSError as exc:
            raise _resource_error(exc, "cannot write the instance") from None
        try:
            parsed = parse_file(str(self.file.temp))
        except DataError as exc:
            comment = f"cannot read the data set: {exc.reason}"
            raise StoreError(CANNOT_UNDERSTAND, comment=comment) from None
        self._check_uids(parsed)
        entities = parsed.entities
        try:
            target = self.storage.folder.path_for(
                entities[Level.STUDY].uid, entities[Level.SERIES].uid, entities[Level.IMAGE].uid
            )
        except ValueError as exc:
            raise StoreError(CANNOT_UNDERSTAND, comment=str(exc)) from None
        return dataclasses.replace(parsed, path=str(target)), target

    def _check_uids(self, parsed: IndexedFile) -> None:
        """PS3.4 B.2.3: the data set is the instance the command set names."""
        image = parsed.entities[Level.IMAGE]
        request = self.request
        sop_class = image.columns.get(_SOP_CLASS_UID)
        if sop_class != request.sop_class_uid:
            raise StoreError(
                DATA_SET_MISMATCH,
                comment=f"SOP Class UID {sop_class} is not the Affected SOP Class UID",
            )
        if image.uid != request.sop_instance_uid:
            raise StoreError(
                DATA_SET_MISMATCH,
                comment=f"SOP Instance UID {image.uid[:30]} is not the Affected one",
            )

    def _place(self, indexed: IndexedFile, target: Path) -> int:
        """Duplicate policy, index (one transaction), rename (no folder scan runs meanwhile).

        ``index_file`` decides the duplicate inside the index's write transaction (on
        PostgreSQL under the writers' lock every node takes), so two nodes receiving the
        same SOP Instance UID at once still end with one indexed copy: ``replace`` drops
        the other path, ``keep``/``reject`` see the refusal (PS3.4 C.6.1.1.5).
        """
        store = self.storage.index.store
        policy = self.storage.options.duplicates
        uid = self.request.sop_instance_uid
        try:
            existing = store.instance_path(uid)
            if existing is not None and policy != "replace":
                return self._duplicate(existing, policy)
            folder = self.storage.folder
            _make_folders(target.parent, folder.root, folder.durable)
            indexed_now = store.index_file(indexed, replace_uid=policy == "replace")
            if not indexed_now:  # another node indexed this UID since the lookup
                return self._duplicate(store.instance_path(uid) or "", policy)
        except StoreError:
            raise
        except OSError as exc:
            raise _resource_error(exc, "cannot create the folder") from None
        except Exception as exc:  # IndexUnavailable, sqlite3.Error, asyncpg errors
            raise _index_error(exc) from None
        try:
            self.file.commit(target)
        except OSError as exc:
            with contextlib.suppress(Exception):  # the index may be away too
                store.apply([], [str(target)])
            raise _resource_error(exc, "cannot rename the instance into place") from None
        log.debug("qr_instance_stored", path=str(target), assoc=self.request.association_id)
        return SUCCESS

    def _duplicate(self, existing: str, policy: str) -> int:
        """``keep``: the stored copy stays, Success; ``reject``: 0x0111."""
        log.info("qr_duplicate_instance", policy=policy, uid=self.request.sop_instance_uid)
        if policy == "keep":
            return SUCCESS
        comment = f"SOP Instance UID already stored ({os.path.basename(existing)[:30]})"
        raise StoreError(DUPLICATE_SOP_INSTANCE, comment=comment)


def _make_folders(folder: Path, root: Path, durable: bool) -> None:
    """Create ``folder`` (study/series) and make each new entry durable in its parent."""
    missing: list[Path] = []
    current = folder
    while current != root and not current.is_dir():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        if durable:
            fsync_dir(path.parent)
