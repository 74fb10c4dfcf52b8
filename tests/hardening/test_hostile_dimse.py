"""Hostile peers against the DIMSE services added after issue 15: N-CREATE / N-SET of the
MPPS SCP (aiodicom-worklist) and streamed C-STORE (aiodicom-qrscp).

The bar of issue 15: no crash, nothing logged at error level or with a traceback for a
peer's mistake (bench/fuzz.py's ServerLog), a precise status (PS3.4 F.7.2, B.2.3, PS3.7
Annex C) or A-ABORT (PS3.8), no half-written MPPS or stored instance, no temporary file
left by an aborted C-STORE, and the server keeps answering.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from pydicom import Dataset

from aiodicom.config import StorageSection, load_qr_config
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import ConfigError
from aiodicom.proto.negotiation import IMPLICIT_VR_LE
from servers.qrscp.app import QRApp
from tests.hardening import dimse_peer as peer
from tests.hardening import fuzzing
from tests.qr.helpers import app_config
from tests.qr.test_qr_storage import instances, storing_app, written_files
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    create_attributes,
    make_worklist,
    mpps_stack,
    scheduled_step,
)

bench_fuzz = importlib.import_module("bench.fuzz")
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
MR = "1.2.840.10008.5.1.4.1.1.4"
MPPS_CONTEXT, FIND_CONTEXT = 3, 5
STORE_CONTEXT, MR_CONTEXT = 3, 5


@contextmanager
def server_log() -> Iterator[list[str]]:
    """What the server logged at error level or with a traceback (must stay empty)."""
    failures: list[str] = []
    with bench_fuzz.ServerLog(failures.append).installed():
        yield failures


def _attributes() -> bytes:
    return encode_identifier(create_attributes(scheduled_step(1)), IMPLICIT_VR_LE)


def _n_create(
    instance: str | None, context: int = MPPS_CONTEXT, sop: str = MPPS_SOP_CLASS
) -> bytes:
    return peer.message(context, peer.command(peer.N_CREATE_RQ, 1, sop, instance), _attributes())


N_CASES = {
    # Affected SOP Instance UIDs that try path tricks or break PS3.5 9.1: 0x0117
    "path-trick": (_n_create("../../etc/passwd"), 0x0117),
    "dot-dot": (_n_create(".."), 0x0117),
    "too-long": (_n_create("1." + "2" * 100), 0x0117),
    # a UID that is not even ASCII breaks the command set's encoding (PS3.5 6.2): A-ABORT
    "not-ascii": (_n_create("1.2.\xe9"), None),
    # the MPPS SOP class on the Modality Worklist's presentation context: 0x0122
    "wrong-context": (_n_create("1.2.3.4", FIND_CONTEXT), 0x0122),
    # a SOP class nobody serves, too long to echo in the response: 0x0118
    "unknown-long-class": (_n_create("1.2.3", sop="1." + "9" * 80), 0x0118),
    "n-set-path-trick": (
        peer.message(
            MPPS_CONTEXT, peer.command(peer.N_SET_RQ, 1, MPPS_SOP_CLASS, "1/../2"), _attributes()
        ),
        0x0117,
    ),
}


@pytest.mark.parametrize("name", sorted(N_CASES))
async def test_mangled_n_requests_get_a_precise_status(tmp_path: Path, name: str) -> None:
    """Each is refused before the handler runs, with its status, nothing stored and
    nothing logged as an error; a valid N-CREATE is answered afterwards."""
    data, status = N_CASES[name]
    root = make_worklist(tmp_path / "wl")
    opening = peer.associate_rq(AE, ["1.2.840.10008.1.1", MPPS_SOP_CLASS, WORKLIST_FIND])
    with server_log() as failures:
        async with mpps_stack(root) as stack:
            answer = await peer.session(stack.server.port, opening, data)
            if status is None:
                assert answer.replies == ["AssociateAC", "Abort"]
            else:
                assert answer.statuses() == [status], answer.replies
                assert answer.replies[-1] == "ReleaseRP", answer.replies
            assert not list((root / ".mpps").glob("*.json"))
            valid = await peer.session(stack.server.port, opening, _n_create("1.2.3.4"))
            assert valid.statuses() == [0x0000], valid.replies
    assert failures == []


async def _store_session(port: int, rest: bytes) -> peer.Answer:
    sop_class = str(instances()[0].SOPClassUID)
    assert sop_class != MR
    opening = peer.associate_rq("QRSCP", ["1.2.840.10008.1.1", sop_class, MR])
    return await peer.session(port, opening, rest)


def _store(ds: Dataset, *, split: int, message_id: int = 1, last: bool = True) -> bytes:
    data = encode_identifier(ds, IMPLICIT_VR_LE)
    rq = peer.command(peer.C_STORE_RQ, message_id, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    return peer.message(STORE_CONTEXT, rq, data, split=split, last=last)


def _incoming(app: object) -> list[Path]:
    """Temporary files with content (the spare file made ahead is empty)."""
    root = app.received.root / ".incoming"  # type: ignore[attr-defined]
    return [p for p in root.glob("*") if p.stat().st_size]


async def test_an_abort_in_the_read_that_completes_a_store_leaves_no_temporary_file(
    tmp_path: Path,
    qr_index: str | Path,
) -> None:
    """Two streamed C-STOREs with one Message ID in one read: the second aborts the
    association (PS3.7 9.1.1.1.1) before the first's task ran. Found by this pass: the
    first's temporary file stayed until the next restart."""
    ds = instances()[0]
    with server_log() as failures:
        async with storing_app(tmp_path, qr_index) as app:
            answer = await _store_session(app.port, _store(ds, split=50) * 2)
            assert answer.replies[-1] == "Abort", answer.replies
            for _ in range(50):
                if not _incoming(app):
                    break
                await asyncio.sleep(0.05)
            assert _incoming(app) == []
            valid = await _store_session(app.port, _store(ds, split=0))
            assert valid.statuses() == [0x0000]
    assert failures == []


def _cut(ds: Dataset) -> bytes:
    """A data set cut in half, properly framed: shorter than its elements announce."""
    data = encode_identifier(ds, IMPLICIT_VR_LE)
    rq = peer.command(peer.C_STORE_RQ, 1, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    return peer.message(STORE_CONTEXT, rq, data[: len(data) // 2], split=50)


def _wrong_class(ds: Dataset) -> bytes:
    """The instance's class on the MR context, and as the Affected SOP Class of a CT."""
    data = encode_identifier(ds, IMPLICIT_VR_LE)
    rq = peer.command(peer.C_STORE_RQ, 1, MR, str(ds.SOPInstanceUID))
    return peer.message(MR_CONTEXT, rq, data, split=50)


def _path_trick(ds: Dataset) -> bytes:
    data = encode_identifier(ds, IMPLICIT_VR_LE)
    rq = peer.command(peer.C_STORE_RQ, 1, str(ds.SOPClassUID), "1.2/../../x")
    return peer.message(STORE_CONTEXT, rq, data, split=50)


STORE_CASES: dict[str, tuple[Callable[[Dataset], bytes], list[int]]] = {
    "abort-mid-stream": (lambda ds: _store(ds, split=50, last=False) + peer.ABORT, []),
    "no-last-fragment-then-release": (lambda ds: _store(ds, split=50, last=False), []),
    "shorter-than-announced": (_cut, [0xC000]),
    "sop-class-of-another-context": (_wrong_class, [0xA900]),
    "instance-uid-path-trick": (_path_trick, [0xC000]),
}


@pytest.mark.parametrize("name", sorted(STORE_CASES))
async def test_cut_c_stores_leave_nothing_behind(
    tmp_path: Path, name: str, qr_index: str | Path
) -> None:
    """A data set cut short (abort, release or truncation): no stored instance, no
    temporary file, nothing logged as an error; a legitimate C-STORE still succeeds."""
    build, statuses = STORE_CASES[name]
    ds = instances()[0]
    with server_log() as failures:
        async with storing_app(tmp_path, qr_index) as app:
            answer = await _store_session(app.port, build(ds))
            assert answer.statuses() == statuses, answer.replies
            await asyncio.sleep(0.2)
            assert written_files(app) == [] and _incoming(app) == []
            valid = await _store_session(app.port, _store(ds, split=7))
            assert valid.statuses() == [0x0000]
    assert failures == []


@asynccontextmanager
async def _timed_app(tmp_path: Path, **network: float) -> AsyncIterator[QRApp]:
    """The Q/R SCP storing instances, with these input deadlines."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    config = app_config(data, tmp_path / "index.sqlite")
    section = dataclasses.replace(config.server, **network)  # type: ignore[arg-type]
    app = QRApp(dataclasses.replace(config, server=section, storage=StorageSection()))
    await app.start("127.0.0.1", 0)
    try:
        yield app
    finally:
        await app.stop()


async def _dribble(port: int, opening: bytes, pieces: list[bytes], pause: float) -> list[str]:
    """Each piece ``pause`` s after the previous one; then what the SCP answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(opening)
    received = [await reader.read(65536)]
    try:
        for piece in pieces:
            await fuzzing.read_until_quiet(reader, received, pause)  # the pause, reading
            if reader.at_eof():
                break
            writer.write(piece)
            await writer.drain()
        await fuzzing.read_until_quiet(reader, received, 1.0)
        writer.write(peer.RELEASE)
        async with asyncio.timeout(5.0):
            while block := await reader.read(65536):
                received.append(block)
    except OSError:
        pass
    finally:
        writer.close()
    return peer.Answer(peer.describe(b"".join(received))).replies


def _store_pdus(ds: Dataset, message_id: int, split: int) -> list[bytes]:
    data = encode_identifier(ds, IMPLICIT_VR_LE)
    rq = peer.command(peer.C_STORE_RQ, message_id, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    return fuzzing.split_pdus(peer.message(STORE_CONTEXT, rq, data, split=split))


async def test_a_dribbled_c_store_is_aborted_at_the_message_timeout(tmp_path: Path) -> None:
    """Issue 15's message deadline holds for streamed C-STORE: each PDU in time (pdu
    timeout), the message not (1.5 s): A-ABORT, and its temporary file is removed."""
    ds = instances()[0]
    pieces = _store_pdus(ds, 1, 20)
    assert len(pieces) * 0.2 > 3.0
    timeouts = {"pdu_timeout": 1.0, "message_timeout": 1.5}
    with server_log() as failures:
        async with _timed_app(tmp_path, **timeouts) as app:
            opening = peer.associate_rq("QRSCP", ["1.2.840.10008.1.1", str(ds.SOPClassUID)])
            replies = await _dribble(app.port, opening, pieces, 0.2)
            assert replies == ["AssociateAC", "Abort"]
            await asyncio.sleep(0.2)
            assert _incoming(app) == [] and written_files(app) == []
    assert failures == []


async def test_the_next_message_after_a_streamed_c_store_has_its_own_deadline(
    tmp_path: Path,
) -> None:
    """The last fragment of a C-STORE and the start of the next one in one read: the next
    message's deadline runs from there, not from the first one's start. Found by this
    pass: the second message inherited the first's clock and was aborted early."""
    first, second = instances()[:2]
    one, two = _store_pdus(first, 1, 200), _store_pdus(second, 2, 200)
    joined = [*one[:-1], one[-1] + two[0], *two[1:]]
    pause = 1.0 / (len(one) - 1)  # each message takes ~1 s of a 1.5 s deadline
    assert len(two) >= len(one) - 1
    timeouts = {"pdu_timeout": 1.0, "message_timeout": 1.5}
    with server_log() as failures:
        async with _timed_app(tmp_path, **timeouts) as app:
            classes = ["1.2.840.10008.1.1", str(first.SOPClassUID)]
            assert str(second.SOPClassUID) == classes[1]
            replies = await _dribble(app.port, peer.associate_rq("QRSCP", classes), joined, pause)
    assert replies == ["AssociateAC", "CStoreRSP:0000", "CStoreRSP:0000", "ReleaseRP"]
    assert failures == []


class _LoopErrors:
    """Exceptions the event loop reports (a task nobody awaited): each one a defect."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __call__(self, _loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        self.errors.append(f"{context.get('message')}: {context.get('exception')!r}")


async def test_a_refused_commit_after_the_release_is_not_an_unretrieved_exception(
    tmp_path: Path,
    qr_index: str | Path,
) -> None:
    """An unreadable data set, then A-RELEASE-RQ while its commit runs: the commit goes on
    (shielded) and refuses it after the association ended. Found by bench/fuzz.py
    --service store: "Task exception was never retrieved: StoreError(0xC000...)"."""
    ds = instances()[0]
    rq = peer.command(peer.C_STORE_RQ, 1, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    garbage = peer.message(STORE_CONTEXT, rq, b"\xff" * 3000, split=700)
    opening = peer.associate_rq("QRSCP", ["1.2.840.10008.1.1", str(ds.SOPClassUID)])
    loop = asyncio.get_running_loop()
    errors = _LoopErrors()
    loop.set_exception_handler(errors)
    try:
        with server_log() as failures:
            async with storing_app(tmp_path, qr_index) as app:
                for delay in (0.0, 0.001, 0.003, 0.01, 0.03):
                    reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
                    writer.write(opening)
                    await reader.read(65536)
                    writer.write(garbage)
                    await asyncio.sleep(delay)
                    writer.write(peer.RELEASE)
                    await fuzzing.read_until_quiet(reader, [], 1.0)
                    writer.close()
                await asyncio.sleep(0.5)
                assert _incoming(app) == [] and written_files(app) == []
                gc.collect()  # an unretrieved task exception is reported when collected
                await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert errors.errors == [] and failures == []


async def test_an_instance_beyond_max_instance_size_is_refused_and_removed(
    tmp_path: Path,
    qr_index: str | Path,
) -> None:
    """storage.max_instance_size bounds the disk an instance (or a stream that never
    ends) may take: the partial file is removed as soon as the limit is passed, the rest
    of the data set is read and dropped, and the C-STORE-RSP says 0xA700 naming it."""
    ds = instances()[0]
    rq = peer.command(peer.C_STORE_RQ, 1, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    endless = peer.message(STORE_CONTEXT, rq, b"\x00" * 400_000, split=4000, last=False)
    opening = peer.associate_rq("QRSCP", ["1.2.840.10008.1.1", str(ds.SOPClassUID)])
    with server_log() as failures:
        async with storing_app(tmp_path, qr_index, max_instance_size=5000) as app:
            answer = await _store_session(app.port, _store(ds, split=0))
            assert answer.statuses() == [0x0000]  # a small instance is stored
            reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
            writer.write(opening)
            await reader.read(65536)
            writer.write(endless)
            await writer.drain()
            await asyncio.sleep(0.3)
            assert _incoming(app) == []  # dropped at 5000 bytes, while the stream goes on
            last = peer.message(STORE_CONTEXT, rq, b"\x00" * 10, split=0)
            writer.write(fuzzing.split_pdus(last)[1])  # the last fragment
            received: list[bytes] = []
            await fuzzing.read_until_quiet(reader, received, 1.0)
            writer.close()
            replies = peer.describe(b"".join(received))
            assert replies == ["CStoreRSP:A700"], replies
            assert len(written_files(app)) == 1
    assert failures == []


def test_max_instance_size_is_validated(tmp_path: Path) -> None:
    """A limit of 0 or less is a configuration error naming the key."""
    data = tmp_path / "data"
    data.mkdir()
    file = tmp_path / "qrscp.yaml"
    file.write_text(f"qr: {{data: {data}}}\nstorage: {{max_instance_size: 0}}\n")
    with pytest.raises(ConfigError, match=r"storage\.max_instance_size"):
        load_qr_config(file)
    file.write_text(f"qr: {{data: {data}}}\nstorage: {{max_instance_size: 1000000}}\n")
    assert load_qr_config(file).storage.max_instance_size == 1_000_000
