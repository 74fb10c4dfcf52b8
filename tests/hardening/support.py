"""Helpers for the hardening tests: a worklist SCP subprocess, a steady query stream,
a raw sans-IO requestor for sending hand-made data sets, and RSS readings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydicom import Dataset

import aiodicom
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.events import (
    Aborted,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    Event,
    MessageReceived,
)
from aiodicom.proto.messages import CFindRQ, CFindRSP
from aiodicom.proto.negotiation import IMPLICIT_VR_LE, QueryModel, requestor_contexts
from aiodicom.proto.pdu import encode_pdu
from aiodicom.proto.pdus import AssociateRQ, UserInformation
from tests.clients.peers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
WORKLIST_DATA = ROOT / "config" / "worklist-data"
QR_DATA = ROOT / "config" / "qr-data"
AE = "WLMSCP"
WORKLIST_UID = QueryModel.WORKLIST.sop_class_uid


def rss_kb(pid: int) -> int:
    """VmRSS of a process in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def write_config(folder: Path, port: int, data: Path = WORKLIST_DATA, **server: object) -> Path:
    """A worklist config with the given ``server`` section overrides (data: the sample)."""
    config = {
        "server": {"host": "127.0.0.1", "port": port, "ae_title": AE, **server},
        "worklist": {"data": str(data), "watch": False},
        "logging": {"format": "json", "level": "info"},
    }
    path = folder / f"worklist-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class ScpProcess:
    """A running ``aiodicom-worklist`` (``python -m servers.worklist``) subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def config_path(self) -> Path:
        return self.log_path.parent / f"worklist-{self.port}.yaml"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def count_events(self, name: str) -> int:
        """How many JSON log lines have ``event == name``."""
        count = 0
        for line in self.log_text().splitlines():
            if line.startswith("{") and f'"event": "{name}"' in line:
                count += 1
        return count


def wait_listening(
    port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port} after {timeout} s")


@contextlib.contextmanager
def scp_process(
    folder: Path,
    extra: Sequence[str] = (),
    *,
    port: int | None = None,
    data: Path = WORKLIST_DATA,
    **server: object,
) -> Iterator[ScpProcess]:
    """Start the SCP (config in ``folder``), wait until it listens, stop it by PID after."""
    port = port or free_port()
    config = write_config(folder, port, data, **server)
    log_path = folder / f"scp-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "servers.worklist",
                "--config",
                str(config),
                "--no-http",
                *extra,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, process=process)
        yield ScpProcess(process, port, log_path)
    finally:
        stop_process(process, 15)  # SIGTERM: graceful shutdown


@contextlib.contextmanager
def qr_process(
    folder: Path, extra: Sequence[str] = ()
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``aiodicom-qrscp`` on the sample data (index in ``folder``); stopped by PID after."""
    port = free_port()
    log = (folder / "qrscp.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "servers.qrscp", "--data", str(QR_DATA), "--port", str(port),
         "--index", str(folder / "qr.sqlite"), "--no-watch", "--log-format", "json", *extra],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_listening(port, process=process)
        yield process, port
    finally:
        stop_process(process, 15)  # SIGTERM: graceful shutdown
        log.close()


def worklist_query() -> Dataset:
    ds = Dataset()
    ds.PatientName = "*"
    ds.PatientID = ""
    step = Dataset()
    step.Modality = ""
    step.ScheduledStationAETitle = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


@dataclass
class QueryStream:
    """Queries the SCP in a loop on one association per round; counts what happens."""

    port: int
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    matches: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                async with aiodicom.connect(
                    "127.0.0.1", self.port, called_ae=AE, models=["worklist"], acse_timeout=10
                ) as assoc:
                    stream = assoc.find(worklist_query(), "worklist")
                    found = [ds async for ds in stream]
                    self.matches += len(found)
                    self.ok += 1
            except (aiodicom.AiodicomError, OSError) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def wait_for_progress(stream: QueryStream, more: int, limit: float = 10.0) -> None:
    """Wait (at most ``limit`` seconds) until the stream completed ``more`` queries."""
    target = stream.ok + more
    deadline = time.monotonic() + limit
    while stream.ok < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"query stream stalled at {stream.ok}: {stream.failures[-3:]}")
        await asyncio.sleep(0.05)


# -- raw requestor over the sans-IO Association ----------------------------------------


def associate_rq(calling_ae: str = "HOSTILE", called_ae: str = AE) -> AssociateRQ:
    """PS3.8 9.3.2: Worklist FIND in Implicit VR LE only, so we control the encoding."""
    return AssociateRQ(
        called_ae=called_ae,
        calling_ae=calling_ae,
        presentation_contexts=requestor_contexts([WORKLIST_UID], [IMPLICIT_VR_LE]),
        user_information=UserInformation(
            max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.10.1999.7"
        ),
    )


def associate_rq_bytes() -> bytes:
    return encode_pdu(associate_rq())


@dataclass
class RawOutcome:
    """What the SCP answered to one hand-made C-FIND: final status or abort."""

    statuses: list[int] = field(default_factory=list)
    aborted: bool = False
    closed: bool = False
    rejected: bool = False

    @property
    def final_status(self) -> int | None:
        finals = [s for s in self.statuses if s not in (0xFF00, 0xFF01)]
        return finals[-1] if finals else None


class RawRequestor:
    """Drives a requestor Association over asyncio streams, to send any data set bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.association = Association(Mode.REQUESTOR, max_pdu_length=16384)
        self.outcome = RawOutcome()

    @classmethod
    async def open(cls, port: int) -> RawRequestor:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _flush(self) -> None:
        data = self.association.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    async def _pump(self, limit: float) -> list[Event]:
        async with asyncio.timeout(limit):
            chunk = await self.reader.read(65536)
        events = self.association.receive_data(chunk) if chunk else []
        if not chunk:
            events += self.association.connection_lost()
        self._record(events)
        await self._flush()
        return events

    def _record(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MessageReceived) and isinstance(event.command, CFindRSP):
                self.outcome.statuses.append(event.command.status)
            elif isinstance(event, Aborted):
                self.outcome.aborted = True
            elif isinstance(event, AssociationRejected):
                self.outcome.rejected = True
            elif isinstance(event, ConnectionClosed):
                self.outcome.closed = True

    async def associate(self, limit: float = 5.0, calling_ae: str = "HOSTILE") -> bool:
        self.association.request(associate_rq(calling_ae))
        self.association.connection_made()
        await self._flush()
        while not self.outcome.closed and not self.outcome.rejected:
            if any(isinstance(e, AssociationAccepted) for e in await self._pump(limit)):
                return True
        return False

    async def find_raw(self, data_set: bytes, limit: float = 20.0) -> RawOutcome:
        """Send C-FIND-RQ with ``data_set`` as is; collect responses until final/abort."""
        context_id = next(iter(self.association.contexts))
        self.association.send_message(context_id, CFindRQ(1, WORKLIST_UID), data_set)
        await self._flush()
        deadline = time.monotonic() + limit
        while self.outcome.final_status is None and not self.outcome.closed:
            await self._pump(max(0.01, deadline - time.monotonic()))
        return self.outcome

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def element(group: int, elem: int, value: bytes) -> bytes:
    """PS3.5 7.1.3: one implicit VR little endian data element (explicit length)."""
    return struct.pack("<HHL", group, elem, len(value)) + value


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
