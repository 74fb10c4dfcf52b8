"""find_many / AssociationPool and aiodicom-loadtest against a real wlmscpfs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from aiodicom.errors import AssociationRejected, DicomTimeoutError
from aiodicom.net.pool import AssociationPool, FindQuery, PeerSpec, find_many
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.status import StatusCategory
from clients.loadtest.__main__ import main as loadtest_main
from tests.clients.peers import Peer, free_port, wlmscpfs

pytestmark = pytest.mark.interop

WL_COUNT = 8
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wl_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    # finished forked children are reaped lazily: leave room above the 50 we use
    extra = ["--max-associations", "500"]
    with wlmscpfs(tmp_path_factory.mktemp("wlm"), WL_COUNT, extra=extra) as peer:
        yield peer


def by_patient(index: int) -> Dataset:
    ds = Dataset()
    ds.PatientID = f"P{index % WL_COUNT:04d}"
    ds.PatientName = ""
    return ds


async def test_find_many_200_queries_at_concurrency_50(wl_peer: Peer) -> None:
    peer = PeerSpec("127.0.0.1", wl_peer.port, called_ae=wl_peer.ae_title)
    pool = AssociationPool(max_per_peer=50)
    seen: dict[int, str] = {}
    async with pool:
        queries = (by_patient(i) for i in range(200))
        async for outcome in find_many(
            queries, peer=peer, concurrency=50, query_timeout=60, pool=pool
        ):
            assert outcome.error is None, outcome.error
            assert outcome.category is StatusCategory.SUCCESS
            assert outcome.status == 0x0000
            assert outcome.message_id is not None
            assert outcome.elapsed > 0
            (identifier,) = outcome.identifiers
            assert identifier.PatientID == outcome.query.identifier.PatientID
            assert outcome.index not in seen
            seen[outcome.index] = str(identifier.PatientID)
        assert 1 <= pool.opened <= 50
    assert sorted(seen) == list(range(200))


async def test_one_failing_query_does_not_stop_the_others(wl_peer: Peer) -> None:
    good = PeerSpec("127.0.0.1", wl_peer.port, called_ae=wl_peer.ae_title)
    rejecting = PeerSpec("127.0.0.1", wl_peer.port, called_ae="WRONG-AE")
    refused = PeerSpec("127.0.0.1", free_port())
    queries = [
        FindQuery(by_patient(1), QueryModel.WORKLIST, good, "ok-1"),
        FindQuery(by_patient(2), QueryModel.WORKLIST, rejecting, "rejected"),
        FindQuery(by_patient(3), QueryModel.WORKLIST, refused, "refused"),
        FindQuery(by_patient(4), QueryModel.WORKLIST, good, "ok-2"),
    ]
    outcomes = {o.query.label: o async for o in find_many(queries, concurrency=4)}
    assert outcomes["ok-1"].ok and outcomes["ok-2"].ok
    assert len(outcomes["ok-2"].responses) == 1
    assert isinstance(outcomes["rejected"].error, AssociationRejected)
    assert outcomes["rejected"].status is None
    assert outcomes["refused"].error is not None


async def test_per_query_timeout(tmp_path: Path) -> None:
    with wlmscpfs(tmp_path, 3, extra=["--sleep-during", "1"]) as slow:
        peer = PeerSpec("127.0.0.1", slow.port, called_ae=slow.ae_title)
        started = time.monotonic()
        outcomes = [
            o
            async for o in find_many(
                [by_patient(0), by_patient(1)], peer=peer, concurrency=2, query_timeout=0.4
            )
        ]
    assert time.monotonic() - started < 6
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome.error, DicomTimeoutError)
        assert outcome.elapsed < 3


async def test_pool_reuses_associations(wl_peer: Peer) -> None:
    peer = PeerSpec("127.0.0.1", wl_peer.port, called_ae=wl_peer.ae_title)
    async with AssociationPool(max_per_peer=2) as pool:
        outcomes = [
            o async for o in find_many((by_patient(i) for i in range(20)), peer=peer, pool=pool)
        ]
        assert pool.opened <= 2
        assert pool.size <= 2
    assert all(o.ok for o in outcomes)


def _load_report(tmp_path: Path, peer: Peer, *args: str) -> tuple[int, dict[str, object]]:
    report_path = tmp_path / "report.json"
    argv = ["127.0.0.1", str(peer.port), "-aec", peer.ae_title, "-k", "PatientName=*"]
    code = loadtest_main([*argv, *args, "--no-progress", "--json", str(report_path)])
    return code, json.loads(report_path.read_text())


def test_loadtest_closed_loop_counts(wl_peer: Peer, tmp_path: Path) -> None:
    code, report = _load_report(tmp_path, wl_peer, "--count", "60", "-n", "4")
    assert code == 0
    assert report["queries"] == 60
    assert report["responses"] == 60 * WL_COUNT
    assert report["statuses"] == {"0x0000": 60}
    assert report["responses_per_query"] == {"cli": WL_COUNT}
    assert report["errors"] == 0
    assert 1 <= int(report["associations"]) <= 4  # type: ignore[call-overload]
    latency = report["latency_ms"]
    assert isinstance(latency, dict)
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]


def test_loadtest_open_loop_rate_and_new_associations(wl_peer: Peer, tmp_path: Path) -> None:
    args = ("--mode", "open", "--rate", "40", "--count", "20", "--association", "new")
    code, report = _load_report(tmp_path, wl_peer, *args)
    assert code == 0
    assert report["queries"] == 20
    assert report["associations"] == 20
    assert float(report["duration_s"]) >= 19 / 40  # type: ignore[arg-type]


def test_loadtest_rejections_fail_the_run(wl_peer: Peer, tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    argv = ["127.0.0.1", str(wl_peer.port), "-aec", "WRONG", "-k", "PatientID=", "--count", "5"]
    code = loadtest_main([*argv, "--no-progress", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert code == 1
    assert report["rejects"] == {"called-AE-title-not-recognized": 5}
    assert report["error_rate"] == 1.0


def test_loadtest_duration_bound_and_ctrl_c(wl_peer: Peer, tmp_path: Path) -> None:
    report_path = tmp_path / "int.json"
    cmd = [sys.executable, "-m", "clients.loadtest", "127.0.0.1", str(wl_peer.port)]
    cmd += ["-aec", wl_peer.ae_title, "-k", "PatientID=P0001", "--count", "1000000"]
    cmd += ["--duration", "30", "-n", "2", "--no-progress", "--json", str(report_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = "Association Received (localhost:LOADTEST"
    before = wl_peer.log().count(marker)
    try:
        deadline = time.monotonic() + 30  # python start-up may be slow on a busy machine
        while wl_peer.log().count(marker) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the run is under way: interrupt it
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(report_path.read_text())
    assert report["interrupted"] is True
    assert 0 < int(report["queries"]) < 1000000
    assert f"queries       {report['queries']}" in out.decode()
