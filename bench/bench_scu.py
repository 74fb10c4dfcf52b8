"""SCU benchmark: aiodicom's client vs pynetdicom, aiodicom-loadtest vs DCMTK findscu.

    python bench/bench_scu.py [--responses 20000] [--queries 2000] [--findscu 4]
                              [--associations 1000]

The SCP is aiodicom.Server in its own process (uvloop), answering Modality Worklist
C-FIND (PS3.4 K.4.1): ``PatientID=MANY<n>`` gets n pre-encoded matches, anything else one.

1. responses/s streaming one big result (our find_responses vs pynetdicom send_c_find);
2. one-match queries/s, sequential on one association (ours vs pynetdicom);
3. aggregate one-match queries/s of N /usr/bin/findscu processes (--repeat) vs
   aiodicom-loadtest closed loop with N associations (separate process) on the same SCP,
   and with an asynchronous operations window of 8 (8N queries in flight on N
   associations) spread over 2 generator processes (the SCP allows a window of 8);
4. 1,000 associations open at once, each querying, all held until the end: errors.

Every scenario is bounded by a count; the whole run holds /tmp/aiodicom-bench.lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import bench_lock
from pydicom import Dataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiodicom import FindRequest, QueryModel, Server, ServerConfig, connect  # noqa: E402
from aiodicom.dicom.identifier import encode_identifier  # noqa: E402
from aiodicom.net.loop import install  # noqa: E402

AE = "BENCH"
ENV = {**os.environ, "TCP_NODELAY": "1", "PYTHONPATH": str(ROOT)}


def raise_nofile(wanted: int = 8192) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def match(index: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = f"BENCH^PATIENT{index}"
    ds.PatientID = f"B{index:06d}"
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledProcedureStepStartDate = "20261125"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


_ENCODED: dict[str, bytes] = {}


async def bench_handler(request: FindRequest) -> AsyncIterator[Dataset | bytes]:
    """n identical pre-encoded matches for ``MANY<n>``, otherwise one."""
    wanted = str(request.identifier.get("PatientID", "") or "")
    count = int(wanted[4:]) if wanted.startswith("MANY") else 1
    encoded = _ENCODED.get(request.transfer_syntax)
    if encoded is None:
        encoded = encode_identifier(match(1), request.transfer_syntax)
        _ENCODED[request.transfer_syntax] = encoded
    for _ in range(count):
        yield encoded


async def serve_forever(port_file: Path) -> None:
    config = ServerConfig(
        ae_title=AE, max_associations=1500, backlog=1024, idle_timeout=600, async_ops_window=8
    )
    server = Server(config, {QueryModel.WORKLIST: bench_handler})
    await server.start("127.0.0.1", 0)
    port_file.write_text(str(server.port))  # noqa: ASYNC240 - once, before serving
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.shutdown(5.0)


@contextmanager
def bench_server() -> Iterator[int]:
    """Our SCP in a child process; yields its port, terminates it by PID."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)], env=ENV)
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("bench server did not start")
                time.sleep(0.05)
            yield int(port_file.read_text())
        finally:
            proc.terminate()
            proc.wait(15)


def query(patient_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id
    ds.PatientName = ""
    return ds


async def ours_stream(port: int, responses: int) -> float:
    async with connect("127.0.0.1", port, called_ae=AE, models=("worklist",)) as assoc:
        started = time.perf_counter()
        got = 0
        async for result in assoc.find_responses(query(f"MANY{responses}"), "worklist"):
            got += 0 if result.is_final else 1
        elapsed = time.perf_counter() - started
    assert got == responses, got
    return responses / elapsed


async def ours_sequential(port: int, queries: int) -> float:
    async with connect("127.0.0.1", port, called_ae=AE, models=("worklist",)) as assoc:
        one = query("ONE")
        started = time.perf_counter()
        for _ in range(queries):
            async for _result in assoc.find_responses(one, "worklist"):
                pass
        return queries / (time.perf_counter() - started)


def pynetdicom_run(port: int, patient_id: str, repeat: int) -> tuple[float, int]:
    from pynetdicom import AE as PynetAE
    from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore

    ae = PynetAE(ae_title="PYNETDICOM")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title=AE)
    assert assoc.is_established
    got = 0
    started = time.perf_counter()
    for _ in range(repeat):
        for status, identifier in assoc.send_c_find(
            query(patient_id), ModalityWorklistInformationFind
        ):
            if status and status.Status in (0xFF00, 0xFF01) and identifier is not None:
                got += 1
    elapsed = time.perf_counter() - started
    assoc.release()
    return elapsed, got


def findscu_load(port: int, processes: int, repeat: int) -> float:
    """N DCMTK findscu processes, each ``--repeat`` one-match queries on one association."""
    cmd = ["/usr/bin/findscu", "-aec", AE, "--repeat", str(repeat), "-q"]
    cmd += ["-k", "PatientID=ONE", "-k", "PatientName=", "127.0.0.1", str(port)]
    started = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=ENV, stderr=subprocess.DEVNULL) for _ in range(processes)]
    for proc in procs:
        assert proc.wait(300) == 0
    return processes * repeat / (time.perf_counter() - started)


def loadtest_load(
    port: int, associations: int, count: int, rate: float | None = None, extra: tuple[str, ...] = ()
) -> dict[str, object]:
    """aiodicom-loadtest in its own process: closed loop, or open loop at ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "clients.loadtest", "127.0.0.1", str(port), "-aec", AE]
        cmd += ["-k", "PatientID=ONE", "-k", "PatientName=", "--count", str(count)]
        cmd += ["-n", str(associations), "--no-progress", "--json", str(report_path)]
        if rate is not None:
            cmd += ["--mode", "open", "--rate", f"{rate:.0f}"]
        cmd += extra
        subprocess.run(cmd, env=ENV, check=True, stdout=subprocess.DEVNULL, timeout=600)
        report: dict[str, object] = json.loads(report_path.read_text())
        return report


async def many_associations(port: int, count: int, queries_each: int) -> dict[str, float]:
    """``count`` associations opened concurrently, each querying, all held to the end."""
    connect_slots = asyncio.Semaphore(200)
    all_open = asyncio.Event()
    opened = 0
    errors = 0
    queries = 0

    async def one() -> None:
        nonlocal opened, errors, queries
        try:
            async with connect_slots:
                connector = connect("127.0.0.1", port, called_ae=AE, models=("worklist",))
                assoc = await connector
            opened += 1
            if opened == count:
                all_open.set()
            async with assoc:
                await asyncio.wait_for(all_open.wait(), 120)
                for _ in range(queries_each):
                    async for result in assoc.find_responses(query("ONE"), "worklist"):
                        if result.is_final and result.status != 0:
                            errors += 1
                    queries += 1
        except Exception as exc:  # counted, not raised: every association must succeed
            errors += 1
            print(f"association error: {exc!r}", file=sys.stderr)
            all_open.set()

    started = time.perf_counter()
    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.wait_for(all_open.wait(), 180)
    opened_after = time.perf_counter() - started
    query_start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    query_time = time.perf_counter() - query_start
    return {
        "opened": opened,
        "open_s": opened_after,
        "queries": queries,
        "qps": queries / query_time,
        "errors": errors,
    }


def _qps(report: dict[str, object]) -> float:
    value = report["throughput_qps"]
    return float(value) if isinstance(value, int | float) else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--responses", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--findscu", type=int, default=4, help="findscu processes")
    parser.add_argument("--repeat", type=int, default=500, help="queries per findscu")
    parser.add_argument("--associations", type=int, default=1000)
    args = parser.parse_args()
    install()
    raise_nofile()
    if args.serve:
        asyncio.run(serve_forever(args.serve))
        return
    rows: list[tuple[str, str, str]] = []
    with bench_lock(), bench_server() as port:
        ours_rps = asyncio.run(ours_stream(port, args.responses))
        elapsed, got = pynetdicom_run(port, f"MANY{args.responses}", 1)
        assert got == args.responses, got
        rows.append(
            ("responses/s, one C-FIND streaming", f"{ours_rps:,.0f}", f"{got / elapsed:,.0f}")
        )
        ours_qps = asyncio.run(ours_sequential(port, args.queries))
        elapsed, got = pynetdicom_run(port, "ONE", args.queries // 4)
        rows.append(
            ("one-match queries/s, 1 association", f"{ours_qps:,.0f}", f"{got / elapsed:,.0f}")
        )
        n, count = args.findscu, args.findscu * args.repeat
        dcmtk_best, closed_best, wide_best, window_best = 0.0, 0.0, 0.0, 0.0
        windowed = ("--window", "8", "--processes", "2")
        for _ in range(2):  # alternate rounds, best of each: the machine is shared
            dcmtk_best = max(dcmtk_best, findscu_load(port, n, args.repeat))
            closed_best = max(closed_best, _qps(loadtest_load(port, n, count)))
            wide_best = max(wide_best, _qps(loadtest_load(port, 4 * n, count)))
            window_best = max(window_best, _qps(loadtest_load(port, 8 * n, count, extra=windowed)))
        # the same load as the findscu processes, offered open loop: can loadtest drive it?
        open_report = loadtest_load(port, 8 * n, count, rate=dcmtk_best, extra=windowed)
        latency = open_report["latency_ms"]
        assert isinstance(latency, dict)
        rows.append((f"{n}x findscu --repeat {args.repeat} (best of 2), aggregate q/s",
                     "-", f"{dcmtk_best:,.0f}"))  # fmt: skip
        rows.append((f"loadtest closed loop, {n} / {4 * n} associations (best of 2), q/s",
                     f"{closed_best:,.0f} / {wide_best:,.0f}", "-"))  # fmt: skip
        rows.append((f"loadtest -n {8 * n} --window 8 --processes 2 ({n} associations), q/s",
                     f"{window_best:,.0f}", "-"))  # fmt: skip
        rows.append((
            f"loadtest open loop at the findscu rate ({dcmtk_best:,.0f}/s), window 8, 2 procs",
            f"{_qps(open_report):,.0f} q/s, p50 {latency['p50']:.2f} ms, p99 "
            f"{latency['p99']:.2f} ms, errors {open_report['errors']}",
            "-",
        ))  # fmt: skip
        many = asyncio.run(many_associations(port, args.associations, 3))
        rows.append((
            f"{args.associations} associations open at once, 3 queries each",
            f"opened {many['opened']:.0f} in {many['open_s']:.1f} s, {many['queries']:.0f} "
            f"queries at {many['qps']:,.0f} q/s, errors {many['errors']:.0f}",
            "-",
        ))  # fmt: skip
    print("| scenario | aiodicom | pynetdicom / DCMTK |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
