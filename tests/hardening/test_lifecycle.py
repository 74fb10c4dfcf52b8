"""Process lifecycle of a worklist SCP subprocess: SIGTERM drain, SIGHUP reload without
dropping associations, ``--workers`` with SO_REUSEPORT, Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom import Dataset

import aiodicom
from aiodicom.errors import AssociationRejected
from aiodicom.net import Connector
from aiodicom.proto.status import SUCCESS
from tests.clients.peers import free_port
from tests.hardening.support import (
    AE,
    ROOT,
    WORKLIST_DATA,
    ScpProcess,
    pid_alive,
    qr_process,
    scp_process,
    wait_listening,
    worklist_query,
)

pytestmark = pytest.mark.slow


def _events(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


async def _wait_for_event(scp: ScpProcess, name: str, count: int = 1, limit: float = 10) -> None:
    """Wait until the log holds ``count`` lines with event ``name``."""
    deadline = time.monotonic() + limit
    while scp.count_events(name) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} {name!r} in the log after {limit} s")
        await asyncio.sleep(0.05)


async def _count(assoc: aiodicom.ClientAssociation) -> int:
    return len([ds async for ds in assoc.find(worklist_query(), "worklist")])


def _connect(port: int, calling_ae: str = "KEEP") -> Connector:
    return aiodicom.connect(
        "127.0.0.1", port, calling_ae=calling_ae, called_ae=AE, models=["worklist"]
    )


async def test_sigterm_drains_in_flight_association(tmp_path: Path) -> None:
    """Expected: after SIGTERM no new connection is accepted, the open association still
    gets answers until it releases, then the process exits 0 well before the deadline."""
    with scp_process(tmp_path, ["--shutdown-deadline", "8"]) as scp:
        async with _connect(scp.port) as assoc:
            before = await _count(assoc)
            scp.process.send_signal(signal.SIGTERM)
            await _wait_for_event(scp, "stopping: draining associations")
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", scp.port)
            assert await _count(assoc) == before > 0
            assert await assoc.echo() == SUCCESS
        started = time.monotonic()
        assert await asyncio.to_thread(scp.process.wait, 10) == 0
        assert time.monotonic() - started < 3


async def test_sigterm_aborts_stragglers_after_the_deadline(tmp_path: Path) -> None:
    """Expected: an association still open when the 1 s deadline passes is aborted
    (A-ABORT) and the process still exits 0."""
    with scp_process(tmp_path, ["--shutdown-deadline", "1"]) as scp:
        reader, writer = await asyncio.open_connection("127.0.0.1", scp.port)
        from tests.hardening.support import associate_rq_bytes

        writer.write(associate_rq_bytes())
        assert (await reader.readexactly(1)) == b"\x02"
        started = time.monotonic()
        scp.process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b"\x07\x00\x00\x00\x00\x04" in rest  # A-ABORT PDU header
        assert await asyncio.to_thread(scp.process.wait, 10) == 0
        assert 0.8 < time.monotonic() - started < 5


async def test_sighup_reloads_config_and_data_without_dropping(tmp_path: Path) -> None:
    """Expected: SIGHUP re-reads the config (new calling-AE allow-list) and the data (one
    more item); an association open across the reload keeps working and sees the new
    data; new associations follow the new allow-list."""
    data = tmp_path / "data"
    shutil.copytree(WORKLIST_DATA, data)
    with scp_process(tmp_path, data=data) as scp:
        async with _connect(scp.port) as kept:
            before = await _count(kept)
            _add_item_and_restrict(scp.config_path, data)
            scp.process.send_signal(signal.SIGHUP)
            await _wait_for_event(scp, "reloaded")
            assert await _count(kept) == before + 1
        with pytest.raises(AssociationRejected) as info:
            async with _connect(scp.port, calling_ae="OTHER") as assoc:
                await assoc.echo()
        assert info.value.reason == 3
        async with _connect(scp.port) as fresh:
            assert await _count(fresh) == before + 1
        assert "association aborted" not in scp.log_text()


def _add_item_and_restrict(config: Path, data: Path) -> None:
    """One more worklist file, and an allow-list of just KEEP in the config."""
    first = sorted((data / AE).glob("*.wl"))[0]
    shutil.copy(first, data / AE / "zz_extra.wl")
    document = yaml.safe_load(config.read_text())
    document["server"]["allowed_calling_aes"] = ["KEEP"]
    config.write_text(yaml.safe_dump(document))


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_workers_share_the_port_and_export_metrics(tmp_path: Path) -> None:
    """Expected: --workers 2 forks two processes bound to one port (SO_REUSEPORT); the
    kernel spreads associations over both (audit lines carry the pid); each serves
    /metrics on metrics-port + index; SIGTERM to the parent stops both, exit code 0."""
    metrics_port = _two_free_ports()
    with scp_process(tmp_path, ["--workers", "2", "--metrics-port", str(metrics_port)]) as scp:
        for _ in range(40):
            async with _connect(scp.port) as assoc:
                assert await _count(assoc) > 0
        pages = []
        for port in (metrics_port, metrics_port + 1):
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/metrics"
            pages.append(await asyncio.to_thread(_get, url))
        audit = [e for e in _events(scp.log_text()) if e.get("event") == "audit.association"]
        pids = {e["pid"] for e in audit}
        assert len(pids) == 2 and scp.pid not in pids
        queries = sum(_metric(p, 'aiodicom_queries_total{model="worklist"') for p in pages)
        assert queries == 40
        assert sum(_metric(p, "aiodicom_matches_total") for p in pages) > 40
        assert all(_metric(p, "aiodicom_query_seconds_count") > 0 for p in pages)
        scp.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(scp.process.wait, 15) == 0
        await asyncio.sleep(0.2)
        assert not any(pid_alive(pid) for pid in pids)


def _two_free_ports() -> int:
    """A port P with P and P + 1 free (worker i serves metrics on P + i)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def test_healthcheck_module_exit_codes(tmp_path: Path) -> None:
    """Expected: ``python -m aiodicom.ops.healthcheck`` exits 0 against a live SCP (C-ECHO
    Success) and 1 against a closed port."""
    with scp_process(tmp_path) as scp:
        command = [sys.executable, "-m", "aiodicom.ops.healthcheck", "127.0.0.1"]
        ok = subprocess.run(
            [*command, str(scp.port), "--called-ae", AE], cwd=ROOT, capture_output=True,
            timeout=30, check=False,
        )  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        down = subprocess.run(
            [*command, str(free_port()), "--timeout", "2"], cwd=ROOT, capture_output=True,
            timeout=30, check=False,
        )  # fmt: skip
        assert down.returncode == 1
        assert b"unhealthy" in down.stderr


async def test_qrscp_sighup_rescans_and_sigterm_exits_zero(tmp_path: Path) -> None:
    """Expected: aiodicom-qrscp (also under aiodicom.ops) answers across a SIGHUP reload
    (config re-read, folder rescanned) on a kept association, then exits 0 on SIGTERM."""
    with qr_process(tmp_path, ["--log-level", "info"]) as (process, port):
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        async with aiodicom.connect("127.0.0.1", port, models=["study"]) as assoc:
            before = len([ds async for ds in assoc.find(query, "study")])
            process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while '"reloaded"' not in _read(tmp_path / "qrscp.log"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert len([ds async for ds in assoc.find(query, "study")]) == before > 0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 10) == 0


def _read(path: Path) -> str:
    return path.read_text(errors="replace")
