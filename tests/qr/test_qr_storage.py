"""C-STORE into ``aiodicom-qrscp`` (aiodicom.qr.storage): folder, index, statuses.

An in-process QRApp on a free loopback port; instances sent with the client's
``c_store``. Each stored instance is on disk under study/series/instance, holds the data
set byte for byte as sent (PS3.10 meta prepended, no re-encoding) and is found by C-FIND
before the C-STORE-RSP comes back. PS3.4 B.2.3 failures carry their status and Error
Comment; duplicates follow the configured policy.
"""

from __future__ import annotations

import dataclasses
import resource
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, generate_uid

import aiodicom
from aiodicom.config import StorageSection
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import DimseStatusError, NegotiationError
from aiodicom.net import Connector
from aiodicom.net.observers import ServerObserver
from aiodicom.net.scp import ServerProtocol
from aiodicom.net.store_scu import StoreCall
from aiodicom.proto.messages import CStoreRQ
from aiodicom.store import SQLiteQRStore
from aiodicom.testing.qr_sample import SampleShape, iter_sample
from servers.qrscp.app import QRApp
from tests.expected_warnings import PYDICOM_INVALID_INPUT
from tests.pg_cluster import PgCluster
from tests.qr.helpers import app_config

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
STUDY_ROOT = "study"
SHAPE = SampleShape(patients=2, studies_per_patient=1, series_per_study=2, instances_per_series=3)


def instances(shape: SampleShape = SHAPE) -> list[Dataset]:
    return [ds for _name, ds in iter_sample(shape)]


@asynccontextmanager
async def storing_app(tmp_path: Path, index: str | Path, **storage: Any) -> AsyncIterator[QRApp]:
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = app_config(data, index)
    config = dataclasses.replace(config, storage=StorageSection(**storage))
    app = QRApp(config)
    try:
        await app.start("127.0.0.1", 0)
        yield app
    finally:
        await app.stop()


def connect(app: QRApp, classes: tuple[str, ...] = ()) -> Connector:
    uids = classes or tuple(sorted({str(ds.SOPClassUID) for ds in instances()}))
    return aiodicom.connect(
        "127.0.0.1", app.port, called_ae="QRSCP", sop_classes=uids, transfer_syntaxes=[EXPLICIT_LE]
    )


async def find_image(assoc: aiodicom.ClientAssociation, ds: Dataset) -> list[Dataset]:
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = ds.StudyInstanceUID
    query.SeriesInstanceUID = ds.SeriesInstanceUID
    query.SOPInstanceUID = ds.SOPInstanceUID
    query.PatientName = ""
    return [ds async for ds in assoc.find(query, STUDY_ROOT)]


def written_files(app: QRApp) -> list[Path]:
    """Files with content under the received folder; the spare temporary file made
    ahead for the next instance is empty."""
    return [p for p in app.received.root.rglob("*") if p.is_file() and p.stat().st_size]


async def send_raw(
    assoc: aiodicom.ClientAssociation, rq_class: str, rq_instance: str, data: bytes
) -> int:
    """A C-STORE-RQ whose command set says what the test wants, whatever the data set."""
    context = assoc._context_for(rq_class, "storage")
    protocol = assoc._protocol

    def make() -> StoreCall:
        call = StoreCall(protocol, assoc._next_message_id())
        protocol.start_operation(call)
        protocol.send_command(
            context.context_id, CStoreRQ(call.message_id, rq_class, rq_instance), data
        )
        return call

    call = await assoc.perform(make)
    rsp = await call.finished
    assert rsp.affected_sop_instance_uid == rq_instance
    if rsp.status:
        raise DimseStatusError(rsp.status, comment=rsp.error_comment)
    return rsp.status


async def test_stored_instances_are_on_disk_as_sent_and_found_before_the_response(
    tmp_path: Path,
    qr_index: str | Path,
) -> None:
    async with storing_app(tmp_path, qr_index) as app, connect(app) as assoc:
        for ds in instances():
            assert await assoc.c_store(ds) == 0x0000
            [found] = await find_image(assoc, ds)  # before any other step
            assert found.PatientName == ds.PatientName
            path = app.received.root / ds.StudyInstanceUID / ds.SeriesInstanceUID
            stored = (path / f"{ds.SOPInstanceUID}.dcm").read_bytes()
            assert stored.endswith(encode_identifier(ds, EXPLICIT_LE))  # not re-encoded
            meta = dcmread(path / f"{ds.SOPInstanceUID}.dcm").file_meta
            assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            assert meta.TransferSyntaxUID == EXPLICIT_LE
            assert meta.SourceApplicationEntityTitle == "AIODICOM"
        counts = app.store.counts()
    assert counts["instance"] == SHAPE.total_instances
    assert not list((app.received.incoming).iterdir())  # no temporary file is left


@PYDICOM_INVALID_INPUT[0]  # "Invalid value for VR UI": the bad Study Instance UID
@pytest.mark.parametrize(
    ("change", "status", "comment"),
    [
        ("sop_class", 0xA900, "SOP Class UID"),
        ("sop_instance", 0xA900, "SOP Instance UID"),
        ("garbage", 0xC000, "cannot read the data set"),
        ("study_uid", 0xC000, "Study Instance UID"),
        ("command_uid", 0xC000, "Affected SOP Instance UID"),
    ],
)
async def test_refusals_name_their_cause(
    tmp_path: Path, qr_index: str | Path, change: str, status: int, comment: str
) -> None:
    ds = instances()[0]
    rq_class, rq_instance = str(ds.SOPClassUID), str(ds.SOPInstanceUID)
    if change == "sop_class":
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    elif change == "sop_instance":
        rq_instance = generate_uid()
    elif change == "study_uid":
        ds.StudyInstanceUID = "1.2.3/../../etc"
    elif change == "command_uid":
        rq_instance = "1.2.03"
    data = b"\x08\x00\x16" if change == "garbage" else encode_identifier(ds, EXPLICIT_LE)
    async with storing_app(tmp_path, qr_index) as app, connect(app) as assoc:
        with pytest.raises(DimseStatusError) as info:
            await send_raw(assoc, rq_class, rq_instance, data)
        assert info.value.status == status
        assert comment in (info.value.comment or "")
        assert app.store.counts()["instance"] == 0
        assert written_files(app) == []
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize(("policy", "status"), [("replace", 0), ("keep", 0), ("reject", 0x0111)])
async def test_duplicate_policy(
    tmp_path: Path, qr_index: str | Path, policy: str, status: int
) -> None:
    first = instances()[0]
    second = Dataset()
    second.update(first)
    second.PatientName = "Changed^Name"
    async with storing_app(tmp_path, qr_index, duplicates=policy) as app, connect(app) as assoc:
        assert await assoc.c_store(first) == 0
        if status:
            with pytest.raises(DimseStatusError) as info:
                await assoc.c_store(second)
            assert info.value.status == status and "already stored" in (info.value.comment or "")
        else:
            assert await assoc.c_store(second) == status
        [found] = await find_image(assoc, first)
    expected = "Changed^Name" if policy == "replace" else str(first.PatientName)
    assert found.PatientName == expected
    [path] = [p for p in app.received.root.rglob("*.dcm")]
    assert dcmread(path).PatientName == expected


async def test_an_instance_first_found_by_the_folder_scan_is_replaced_in_the_index(
    tmp_path: Path,
    qr_index: str | Path,
) -> None:
    ds = instances()[0]
    data = tmp_path / "data"
    data.mkdir()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(EXPLICIT_LE)
    ds.file_meta = meta
    ds.save_as(data / "by-hand.dcm", enforce_file_format=True)
    ds.PatientName = "Received^Copy"
    async with storing_app(tmp_path, qr_index) as app, connect(app) as assoc:
        assert app.store.counts()["instance"] == 1
        assert await assoc.c_store(ds) == 0
        [found] = await find_image(assoc, ds)
        assert found.PatientName == "Received^Copy"
        assert app.store.counts()["instance"] == 1


@contextmanager
def index_away(app: QRApp, request: pytest.FixtureRequest) -> Iterator[None]:
    """Every index write fails meanwhile: SQLite read-only, or the PostgreSQL database
    refusing connections (its sessions terminated)."""
    store = app.store
    if isinstance(store, SQLiteQRStore):
        store._conn.execute("PRAGMA query_only = ON")
        try:
            yield
        finally:
            store._conn.execute("PRAGMA query_only = OFF")
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    database = str(app.config.index_url()).rsplit("/", 1)[1]
    cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
    cluster.psql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    )
    try:
        yield
    finally:
        cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")


async def test_index_unavailable_is_out_of_resources(
    tmp_path: Path, qr_index: str | Path, request: pytest.FixtureRequest
) -> None:
    """PS3.4 B.2.3: 0xA700 naming the cause; nothing stays on disk; stored again after."""
    first, second = instances()[:2]
    async with storing_app(tmp_path, qr_index) as app, connect(app) as assoc:
        assert await assoc.c_store(first) == 0
        with index_away(app, request), pytest.raises(DimseStatusError) as info:
            await assoc.c_store(second)
        assert info.value.status == 0xA700
        comment = info.value.comment or ""
        assert comment.startswith("index unavailable: "), comment
        if not isinstance(app.store, SQLiteQRStore):  # PostgreSQL's words, truncated to
            assert "is not currently accept" in comment, comment  # LO: 64 characters
        assert len(written_files(app)) == 1
        assert await assoc.c_store(second) == 0  # the index is back
        assert app.store.counts()["instance"] == 2


async def test_a_full_disk_is_out_of_resources(tmp_path: Path, qr_index: str | Path) -> None:
    """A write that fails for lack of space (EFBIG under RLIMIT_FSIZE, as ENOSPC would)
    refuses the instance with 0xA700 and leaves no partial file."""
    big = instances()[0]
    big.add_new(0x7FE00010, "OB", bytes(3 << 20))  # Pixel Data, 3 MB
    async with storing_app(tmp_path, qr_index) as app, connect(app) as assoc:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))  # SIGXFSZ is ignored
        try:
            with pytest.raises(DimseStatusError) as info:
                await assoc.c_store(big)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        assert info.value.status == 0xA700
        assert info.value.comment == "cannot write the instance: disk full"
        assert written_files(app) == [] and app.store.counts()["instance"] == 0
        assert await assoc.c_store(instances()[1]) == 0  # space again: stored


async def test_an_unwritable_folder_is_out_of_resources(
    tmp_path: Path, qr_index: str | Path
) -> None:
    async with storing_app(tmp_path, qr_index) as app, connect(app) as assoc:
        app.received.incoming.rmdir()
        app.received.incoming.write_bytes(b"")  # a file where the folder should be
        with pytest.raises(DimseStatusError) as info:
            await assoc.c_store(instances()[0])
        assert info.value.status == 0xA700 and "cannot create the file" in (
            info.value.comment or ""
        )


async def test_storage_can_be_switched_off(tmp_path: Path, qr_index: str | Path) -> None:
    async with storing_app(tmp_path, qr_index, enabled=False) as app, connect(app) as assoc:
        with pytest.raises(NegotiationError):
            await assoc.c_store(instances()[0])
        assert await assoc.echo() == 0


async def test_a_configured_class_list_limits_what_is_accepted(
    tmp_path: Path, qr_index: str | Path
) -> None:
    ct, other = instances()[:2]
    ct.SOPClassUID, other.SOPClassUID = CT, MR
    async with (
        storing_app(tmp_path, qr_index, sop_classes=(CT,)) as app,
        connect(app, (CT, MR)) as assoc,
    ):
        assert await assoc.c_store(ct) == 0
        with pytest.raises(NegotiationError):
            await assoc.c_store(other)


async def test_partial_files_of_a_killed_server_are_removed_at_start(
    tmp_path: Path, qr_index: str | Path
) -> None:
    incoming = tmp_path / "data" / "received" / ".incoming"
    incoming.mkdir(parents=True)
    (incoming / "0123456789abcdef.part").write_bytes(b"half")
    async with storing_app(tmp_path, qr_index) as app:
        assert not list(app.received.incoming.iterdir())
        assert app.store.counts()["instance"] == 0


class _WindowAtEnd(ServerObserver):
    """Notes, when each C-STORE ends (just before its response), how many operations
    still count against the association's asynchronous operations window."""

    def __init__(self) -> None:
        self.running: list[int] = []

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        self.running.append(len(scp.operations.running))


async def test_a_store_leaves_the_window_before_its_response(
    tmp_path: Path, qr_index: str | Path
) -> None:
    """PS3.7 D.3.3.3 (window 1): the peer may send its next C-STORE-RQ as soon as it has
    the response; with uvloop that request can be read before the operation task's done
    callback runs, so the operation must be out of the window before the response leaves
    (else 0xA700 "window exceeded", seen with storescu +sd)."""
    seen = _WindowAtEnd()
    async with storing_app(tmp_path, qr_index) as app:
        app.server.observers.append(seen)
        async with connect(app) as assoc:
            for ds in instances()[:3]:
                assert await assoc.c_store(ds) == 0
    assert seen.running == [0, 0, 0]


@pytest.mark.parametrize(("policy", "status"), [("replace", 0), ("keep", 0), ("reject", 0x0111)])
async def test_duplicate_policy_across_nodes_sharing_one_postgresql_index(
    tmp_path: Path, pg_cluster: PgCluster, policy: str, status: int
) -> None:
    """Node B receives an instance node A already stored (each its own folder, one
    index): the policy holds across nodes, and one copy stays indexed."""
    url = pg_cluster.fresh_database()
    first = instances()[0]
    second = Dataset()
    second.update(first)
    second.PatientName = "Changed^Name"
    async with (
        storing_app(tmp_path / "a", url, duplicates=policy) as node_a,
        storing_app(tmp_path / "b", url, duplicates=policy) as node_b,
        connect(node_a) as to_a,
        connect(node_b) as to_b,
    ):
        assert await to_a.c_store(first) == 0
        if status:
            with pytest.raises(DimseStatusError) as info:
                await to_b.c_store(second)
            assert info.value.status == status and "already stored" in (info.value.comment or "")
        else:
            assert await to_b.c_store(second) == 0
        [found] = await find_image(to_a, first)
        assert node_a.store.counts()["instance"] == 1
    replaced = policy == "replace"
    assert found.PatientName == ("Changed^Name" if replaced else str(first.PatientName))
    assert len(written_files(node_b)) == (1 if replaced else 0)
