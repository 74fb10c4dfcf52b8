"""What only the PostgreSQL index does: migrations, several SCP nodes (and ``--workers``)
on one database, clear errors when the database is away at start or during a query."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiodicom.errors import IndexUnavailable
from aiodicom.store import open_qr_store
from aiodicom.store.qr_files import parse_file
from aiodicom.testing.qr_sample import SampleShape, write_sample
from tests.clients.peers import free_port, stop_process
from tests.hardening.support import wait_listening
from tests.pg_cluster import PgCluster
from tests.qr.helpers import index_rows, make_folder, run_findscu, running_app

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientID"]


def test_migrations_create_the_schema_once(pg_cluster: PgCluster) -> None:
    url = pg_cluster.fresh_database()
    for _ in range(2):  # a second start finds the schema current
        open_qr_store(url).close()
    assert index_rows(url, "SELECT version FROM qr_schema_version") == [(1,)]
    tables = index_rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert {row[0] for row in tables} >= {"patient", "study", "series", "instance"}


async def test_a_file_indexed_by_one_node_is_found_through_another(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    url = pg_cluster.fresh_database()
    first, second = make_folder(tmp_path / "a"), tmp_path / "b"
    second.mkdir()
    async with (
        running_app(first, url) as node_a,
        running_app(second, url, poll_interval=0.1) as node_b,
    ):
        found = await run_findscu(node_b.port, "-S", STUDIES, tmp_path / "rsp")
        assert found.final == "Success" and len(found.responses) == 8
        shape = SampleShape(1, 1, 1, 1, seed=21)
        await asyncio.to_thread(write_sample, second / "new", shape)  # arrives at node B
        for _ in range(100):
            found = await run_findscu(node_a.port, "-S", STUDIES, tmp_path / "rsp")
            if len(found.responses) == 9:
                break
            await asyncio.sleep(0.1)
        assert len(found.responses) == 9, "node A never saw node B's file"


async def test_index_unavailable_is_refused_0xA700_and_serving_goes_on(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    url = pg_cluster.fresh_database()
    database = url.rsplit("/", 1)[1]
    async with running_app(make_folder(tmp_path), url, watch=False) as app:
        before = await run_findscu(app.port, "-S", STUDIES, tmp_path / "rsp")
        assert before.final == "Success" and len(before.responses) == 8
        pg_cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        pg_cluster.psql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )
        try:
            away = await run_findscu(app.port, "-S", STUDIES, tmp_path / "rsp", extra=["-d"])
        finally:
            pg_cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        assert "DIMSE Status                  : 0xa700" in away.output, away.output
        assert "Q/R index unavailable" in away.output  # the Error Comment (0000,0902)
        again = await run_findscu(app.port, "-S", STUDIES, tmp_path / "rsp")
        assert again.final == "Success" and len(again.responses) == 8


def _qrscp(*args: str) -> list[str]:
    return [sys.executable, "-m", "servers.qrscp", "--no-watch", *args]


def test_unreachable_database_names_the_flag_and_the_url(tmp_path: Path) -> None:
    url = f"postgresql://aiodicom:s3cret@127.0.0.1:{free_port()}/qr"
    done = subprocess.run(
        _qrscp("--data", str(make_folder(tmp_path)), "--port", str(free_port()), "--index", url),
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--index" in done.stderr and "qr.index" in done.stderr
    assert "postgresql://aiodicom@127.0.0.1:" in done.stderr and "s3cret" not in done.stderr


def test_workers_share_one_postgresql_index(tmp_path: Path, pg_cluster: PgCluster) -> None:
    url, port = pg_cluster.fresh_database(), free_port()
    folder = make_folder(tmp_path)
    log = (tmp_path / "qrscp.log").open("wb")
    process = subprocess.Popen(
        _qrscp("--data", str(folder), "--port", str(port), "--index", url, "--workers", "2"),
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        wait_listening(port, process=process)
        for _ in range(6):  # SO_REUSEPORT spreads the associations over both workers
            found = asyncio.run(run_findscu(port, "-S", STUDIES, tmp_path / "rsp"))
            assert found.final == "Success" and len(found.responses) == 8, found.output
    finally:
        stop_process(process, 15)
        log.close()
    assert index_rows(url, "SELECT count(*) FROM instance") == [(32,)]


def test_sqlite_refuses_workers(tmp_path: Path) -> None:
    done = subprocess.run(
        _qrscp("--data", str(tmp_path), "--index", str(tmp_path / "i.sqlite"), "--workers", "2"),
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.returncode == 2 and "--workers" in done.stderr and "PostgreSQL" in done.stderr


def test_index_file_while_the_database_is_away(tmp_path: Path, pg_cluster: PgCluster) -> None:
    """The C-STORE write path fails with 0xA700 (PS3.4 B.2.3) and works again after."""
    url = pg_cluster.fresh_database()
    database = url.rsplit("/", 1)[1]
    first, second = sorted(make_folder(tmp_path).rglob("*.dcm"))[:2]
    store = open_qr_store(url)
    try:
        assert store.index_file(parse_file(str(first)))
        pg_cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        pg_cluster.psql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )
        try:
            with pytest.raises(IndexUnavailable) as info:
                store.index_file(parse_file(str(second)))
        finally:
            pg_cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        assert info.value.status == 0xA700
        assert store.index_file(parse_file(str(second)))
        assert store.counts()["instance"] == 2
    finally:
        store.close()
