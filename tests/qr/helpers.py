"""Shared helpers of the Q/R SCP tests: sample folders, an in-process server, findscu."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

from aiodicom.config import NetworkSection, QRSection, QRServerConfig, is_database_url
from aiodicom.dicom.identifier import decode_identifier
from aiodicom.net.types import FindRequest
from aiodicom.proto.negotiation import EXPLICIT_VR_LE
from aiodicom.testing.qr_sample import SampleShape, write_sample
from servers.qrscp.app import QRApp
from tests.pg_cluster import psql

FINDSCU = "/usr/bin/findscu"
SMALL = SampleShape(patients=4, studies_per_patient=2, series_per_study=2, instances_per_series=2)
PATIENT_ROOT = "1.2.840.10008.5.1.4.1.2.1.1"
STUDY_ROOT = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_STUDY = "1.2.840.10008.5.1.4.1.2.3.1"
MODEL_FLAGS = {PATIENT_ROOT: "-P", STUDY_ROOT: "-S", PATIENT_STUDY: "-O"}


def index_rows(index: str | Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` run on the index (an SQLite file or a PostgreSQL URL); integers
    as int, NULL as None, so both backends compare alike."""
    if not is_database_url(str(index)):
        conn = sqlite3.connect(index)
        try:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    rows = psql(str(index), sql)
    return [tuple(int(v) if v.lstrip("-").isdigit() else v for v in row) for row in rows]


def make_folder(root: Path, shape: SampleShape = SMALL) -> Path:
    """A fresh folder with ``shape`` written into it."""
    folder = root / "data"
    folder.mkdir(parents=True, exist_ok=True)
    write_sample(folder, shape, time_limit=60)
    return folder


def app_config(data: Path, index: str | Path, **qr: object) -> QRServerConfig:
    """A config for an in-process server on a free loopback port."""
    section = dataclasses.replace(QRSection(data=data, index=index, poll_interval=0.2), **qr)  # type: ignore[arg-type]
    return QRServerConfig(server=NetworkSection(port=0, ae_title="QRSCP"), qr=section)


@asynccontextmanager
async def running_app(data: Path, index: str | Path, **qr: object) -> AsyncIterator[QRApp]:
    """Start a QRApp on 127.0.0.1:<free port>; stop it whatever happens."""
    app = QRApp(app_config(data, index, **qr))
    try:
        await app.start("127.0.0.1", 0)
        yield app
    finally:
        await app.stop()


def request(identifier: Dataset, sop_class: str, extended: bytes | None = None) -> FindRequest:
    """A FindRequest as the server would build it (for socket-free service tests)."""
    return FindRequest(
        identifier=identifier,
        identifier_bytes=b"",
        transfer_syntax=EXPLICIT_VR_LE,
        sop_class_uid=sop_class,
        model=None,
        message_id=1,
        priority=0,
        calling_ae="TEST",
        called_ae="QRSCP",
        peer=("127.0.0.1", 1),
        association_id="test",
        extended_negotiation=extended,
    )


def as_dataset(item: Dataset | bytes) -> Dataset:
    """A handler output as a Dataset (fast-path bytes are Explicit VR LE here)."""
    return decode_identifier(item, EXPLICIT_VR_LE) if isinstance(item, bytes) else item


def query(level: str, **keys: str) -> Dataset:
    """An identifier: ``QueryRetrieveLevel`` plus keyword=value keys ("" = return key)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


@dataclasses.dataclass
class FindscuResult:
    """What findscu reported: the final status text and the extracted responses."""

    final: str
    responses: list[Dataset]
    output: str


_FINAL = re.compile(r"Received Final Find Response \(([^)]*)\)")


async def run_findscu(
    port: int,
    model_flag: str,
    keys: Sequence[str],
    workdir: Path,
    *,
    extra: Sequence[str] = (),
    aec: str = "QRSCP",
    seconds: float = 30.0,
) -> FindscuResult:
    """Run /usr/bin/findscu -X against 127.0.0.1:port; parse final status + responses."""
    _clean(workdir)
    args = [FINDSCU, "-v", model_flag, "-aec", aec, "-X", "-od", str(workdir), *extra]
    for key in keys:
        args += ["-k", key]
    args += ["127.0.0.1", str(port)]
    env = dict(os.environ, TCP_NODELAY="1")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _collect(workdir, out.decode("latin-1"))


def _clean(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("rsp*.dcm"):
        old.unlink()


def _collect(workdir: Path, text: str) -> FindscuResult:
    found = _FINAL.search(text)
    files = sorted(workdir.glob("rsp*.dcm"))
    return FindscuResult(
        final=found.group(1) if found else "<none>",
        responses=[dcmread(f, force=True) for f in files],
        output=text,
    )
