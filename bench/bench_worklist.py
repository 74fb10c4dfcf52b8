"""Worklist benchmark: aiodicom-worklist vs DCMTK wlmscpfs vs a pynetdicom worklist SCP.

    python bench/bench_worklist.py [--sizes 10000,100000] [--peer-sizes 10000]
                                   [--seconds 8] [--queries 3000] [--write]

The three servers run as subprocesses on the same generated folders
(/tmp/aiodicom-wl-bench-<n>/WLMSCP, PS3.4 Annex K items from aiodicom.worklist.sample)
and are driven by the same client, aiodicom's SCU on uvloop in this process. Scenarios,
each bounded by a count AND by ``--seconds``:

(a) one query matching every item: responses/s (and /usr/bin/findscu against our server,
    to check that our client is not the bottleneck);
(b) Modality=CT in the Scheduled Procedure Step (about 1/8 of the items): responses/s;
(c) keyed PatientID lookups on one association: queries/s, p50, p99;
(c') the same with up to 2 queries outstanding (asynchronous operations window, PS3.7
     D.3.3.3; our server grants it, a server that does not gets them one at a time);
(d) associate + keyed query + release with 50 concurrent clients: associations/s;
(e) 200 associations held open, each querying every ``--interval`` s: p99;
(f) our server with 100k items: spawn-to-listening time and RSS.

Association limits are raised on every server. Holds /tmp/aiodicom-bench.lock.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import Dataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiodicom  # noqa: E402
from aiodicom.net.loop import run  # noqa: E402
from aiodicom.proto.negotiation import EXPLICIT_VR_LE, IMPLICIT_VR_LE  # noqa: E402
from aiodicom.proto.status import StatusCategory  # noqa: E402
from aiodicom.worklist.sample import generate, write_item  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _common import (  # noqa: E402
    SPS_KEYS,
    TOP_KEYS,
    bench_lock,
    free_port,
    listening,
    mwl_query,
    stop_process,
    write_section,
)

Query = Dataset | aiodicom.EncodedQuery
WORK = Path("/tmp/aiodicom-wl-bench")
AE = "WLMSCP"
WINDOW = 2
"""Asynchronous operations window proposed by the client in (c') and granted by our server."""
PEERS = ("ours", "wlmscpfs", "pynetdicom")
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
OURS_CONFIG = """\
server: {max_associations: 1000, idle_timeout: 600, async_ops_window: %d}
worklist: {max_matches: 10000000, watch: false}
logging: {level: %s}
"""


@dataclass
class Report:
    """Rows of ``scenario -> {server: text}`` plus the numbers for the ratios."""

    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    numbers: dict[str, dict[str, float]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)

    def add(self, row: str, peer: str, text: str, number: float, *, higher: bool) -> None:
        self.rows.setdefault(row, {})[peer] = text
        self.numbers.setdefault(row, {})[peer] = number
        self.higher_is_better[row] = higher
        print(f"  {row:<52} {peer:<11} {text}", flush=True)

    def ratio(self, row: str, peer: str) -> str:
        found = self.numbers.get(row, {})
        ours, theirs = found.get("ours"), found.get(peer)
        if not ours or not theirs or math.isnan(ours) or math.isnan(theirs):
            return "-"
        value = ours / theirs if self.higher_is_better[row] else theirs / ours
        return f"{value:.1f}x"

    def table(self) -> list[str]:
        lines = ["| scenario | aiodicom | wlmscpfs | pynetdicom | vs wlmscpfs | vs pynetdicom |",
                 "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for row, texts in self.rows.items():
            cells = [texts.get(peer, "-") for peer in PEERS]
            ratios = [self.ratio(row, "wlmscpfs"), self.ratio(row, "pynetdicom")]
            lines.append(f"| {row} | " + " | ".join(cells + ratios) + " |")
        return lines


# -- data and server processes --------------------------------------------------------


def data_folder(count: int, limit: float) -> Path:
    """/tmp/aiodicom-wl-bench-<count>, generated once (bounded by ``limit`` seconds)."""
    final = Path(f"/tmp/aiodicom-wl-bench-{count}")
    if (final / AE).is_dir():
        return final
    partial = Path(f"{final}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    folder = partial / AE
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()
    deadline = time.monotonic() + limit
    for index, ds in enumerate(generate(count, seed=11)):
        if time.monotonic() > deadline:
            raise SystemExit(f"generating {count} items took more than {limit} s")
        write_item(ds, folder / f"item_{index:06d}.wl", with_meta=index % 3 != 2,
                   implicit=index % 4 == 1)  # fmt: skip
    partial.rename(final)
    return final


def command(peer: str, root: Path, port: int, log_level: str) -> tuple[list[str], dict[str, str]]:
    if peer == "ours":
        config = WORK / "ours.yaml"
        config.write_text(OURS_CONFIG % (WINDOW, log_level))
        args = ["-m", "servers.worklist", "--config", str(config), "--data", str(root),
                "--host", "127.0.0.1", "--port", str(port), "--no-watch", "--no-http"]  # fmt: skip
        return [sys.executable, *args], dict(os.environ)
    if peer == "wlmscpfs":
        args = ["-dfr", "-dfp", str(root), "--max-associations", "1000", str(port)]
        return ["/usr/bin/wlmscpfs", *args], DCMTK_ENV
    script = str(ROOT / "bench" / "pynetdicom_wl_scp.py")
    args = ["--data", str(root / AE), "--port", str(port), "--max-associations", "1000"]
    return [sys.executable, script, *args], dict(os.environ)


@dataclass
class Running:
    pid: int
    port: int
    ready_seconds: float


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, in kB (Linux /proc)."""
    found: dict[str, int] = {}
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def stop_children(pid: int) -> None:
    """Terminate, by PID, the processes forked by our server process (wlmscpfs --fork)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                os.kill(int(stat.parent.name), 15)


@contextmanager
def server(peer: str, root: Path, log_level: str, limit: float = 180.0) -> Iterator[Running]:
    port = free_port()
    args, env = command(peer, root, port, log_level)
    log = (WORK / f"{peer}.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{peer} exited early, see {log.name}")
            if listening(port):
                break
            if time.monotonic() - started > limit:
                raise SystemExit(f"{peer} not listening after {limit} s")
            time.sleep(0.02)
        yield Running(process.pid, port, time.monotonic() - started)
    finally:
        stop_children(process.pid)
        stop_process(process, 10)
        log.close()


# -- queries and client measurements ----------------------------------------------------


def connect(port: int) -> aiodicom.net.Connector:
    return aiodicom.connect("127.0.0.1", port, called_ae=AE, models=["worklist"],
                            acse_timeout=60, connect_timeout=60)  # fmt: skip


async def stream(port: int, query: Dataset, limit: int, seconds: float) -> tuple[int, float]:
    """Pending responses received (at most ``limit``) and the elapsed time."""
    count = 0
    async with connect(port) as assoc:
        started = time.perf_counter()
        deadline = started + seconds
        async for result in assoc.find_responses(query, "worklist"):
            if result.category is StatusCategory.PENDING:
                count += 1
                if count >= limit or time.perf_counter() > deadline:
                    break  # closing the stream sends C-CANCEL-RQ
        return count, time.perf_counter() - started


async def timed_query(assoc: aiodicom.ClientAssociation, query: Query) -> float:
    """One C-FIND round trip; the responses are only counted, never decoded."""
    started = time.perf_counter()
    async for _ in assoc.find_responses(query, "worklist"):
        pass
    return time.perf_counter() - started


def pre_encoded(query: Dataset) -> aiodicom.EncodedQuery:
    """``query`` encoded once in both transfer syntaxes the client proposes (PS3.5 A.1,
    A.2), so no server's choice makes the client encode during a timed run."""
    encoded = aiodicom.encode_query(query, EXPLICIT_VR_LE)
    encoded.for_syntax(IMPLICIT_VR_LE)
    return encoded


def keyed_queries(size: int, seed: int, count: int = 2000) -> Iterator[aiodicom.EncodedQuery]:
    """Keyed PatientID queries, built and encoded before any timing starts (cycled).

    The same pre-encoded queries go to every server, so this only removes client cost.
    """
    rng = random.Random(seed)
    queries = [mwl_query(f"PID{rng.randrange(size):07d}") for _ in range(count)]
    return itertools.cycle([pre_encoded(query) for query in queries])


async def keyed(port: int, size: int, count: int, seconds: float) -> tuple[list[float], float]:
    samples: list[float] = []
    queries = keyed_queries(size, 1, count)
    async with connect(port) as assoc:
        started = time.perf_counter()
        while len(samples) < count and time.perf_counter() - started < seconds:
            samples.append(await timed_query(assoc, next(queries)))
        return samples, time.perf_counter() - started


async def pipelined(port: int, size: int, count: int, seconds: float) -> tuple[list[float], float]:
    """(c'): keyed queries on one association, up to WINDOW outstanding (PS3.7 D.3.3.3).

    A server that grants no window gets them one at a time (the client queues them).
    """
    samples: list[float] = []
    queries = keyed_queries(size, 4, count)
    async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=["worklist"],
                                async_ops_window=(WINDOW, WINDOW), acse_timeout=60,
                                connect_timeout=60) as assoc:  # fmt: skip
        started = time.perf_counter()

        async def worker() -> None:
            while len(samples) < count and time.perf_counter() - started < seconds:
                samples.append(await timed_query(assoc, next(queries)))

        await bounded([worker] * WINDOW, seconds + 1)
        return samples, time.perf_counter() - started


async def bounded(tasks: list[Callable[[], Awaitable[None]]], seconds: float) -> None:
    """Run the workers until they end or ``seconds`` pass; then cancel the rest."""
    running = [asyncio.ensure_future(task()) for task in tasks]
    _done, pending = await asyncio.wait(running, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def churn(port: int, size: int, clients: int, total: int, seconds: float) -> float:
    """Associations (associate + one keyed query + release) completed per second."""
    completed = 0
    queries = keyed_queries(size, 2)
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal completed
        while completed < total and time.perf_counter() < deadline:
            async with connect(port) as assoc:
                await timed_query(assoc, next(queries))
            completed += 1

    await bounded([worker] * clients, seconds)
    return completed / min(time.perf_counter() - started, seconds)


async def held(port: int, size: int, clients: int, interval: float, seconds: float) -> list[float]:
    """Latencies of keyed queries sent every ``interval`` s on each of ``clients`` associations."""
    samples: list[float] = []
    opening = asyncio.Semaphore(50)
    queries = keyed_queries(size, 3)
    associations: list[aiodicom.ClientAssociation] = []

    async def worker() -> None:
        async with opening:
            assoc = await connect(port).__aenter__()
        associations.append(assoc)
        await asyncio.sleep(random.random() * interval)
        while True:
            started = time.perf_counter()
            samples.append(await timed_query(assoc, next(queries)))
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

    await bounded([worker] * clients, seconds)
    await asyncio.gather(*(release(assoc) for assoc in associations))
    return samples


async def release(assoc: aiodicom.ClientAssociation) -> None:
    try:
        await asyncio.wait_for(assoc.release(), 10)
    except (aiodicom.AiodicomError, TimeoutError):
        with suppress(aiodicom.AiodicomError):
            await assoc.abort()


def findscu_rate(port: int, expected: int, seconds: float) -> float | None:
    """Responses/s of /usr/bin/findscu for the match-all query (None on failure/timeout)."""
    keys = [f"{k}" for k in TOP_KEYS] + [f"(0040,0100)[0].{k}" for k in SPS_KEYS]
    args = ["/usr/bin/findscu", "-W", "-aec", AE]
    for key in keys:
        args += ["-k", key]
    started = time.perf_counter()
    try:
        done = subprocess.run([*args, "127.0.0.1", str(port)], env=DCMTK_ENV, timeout=seconds,
                              capture_output=True, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    return expected / (time.perf_counter() - started) if done.returncode == 0 else None


def pct(samples: list[float], p: float) -> float:
    """Percentile in ms (NaN when nothing completed within the time bound)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def latency_text(samples: list[float]) -> str:
    if not samples:
        return "none completed"
    return f"{pct(samples, 50):.2f} / {pct(samples, 99):.2f}"


# -- scenarios ------------------------------------------------------------------------------


async def run_scenarios(report: Report, peer: str, size: int, running: Running,
                        args: argparse.Namespace) -> None:  # fmt: skip
    label = f"{size // 1000}k"
    port, seconds = running.port, args.seconds
    for run_label in ("first query", "again"):
        count, elapsed = await stream(port, mwl_query(), size, seconds)
        report.add(f"(a) match all, {label}, {run_label}: responses/s", peer,
                   f"{count / elapsed:,.0f} ({count} in {elapsed:.2f} s)", count / elapsed,
                   higher=True)  # fmt: skip
    if peer == "ours":
        rate = findscu_rate(port, count, seconds * 4) if count == size else None
        text = "-" if rate is None else f"{rate:,.0f}"
        report.add(f"(a) match all, {label}, findscu client: responses/s", peer, text,
                   rate or 0.0, higher=True)  # fmt: skip
    count, elapsed = await stream(port, mwl_query(modality="CT"), size, seconds)
    report.add(f"(b) Modality=CT, {label}: responses/s", peer,
               f"{count / elapsed:,.0f} ({count} in {elapsed:.2f} s)", count / elapsed,
               higher=True)  # fmt: skip
    samples, elapsed = await keyed(port, size, args.queries, seconds)
    report.add(f"(c) keyed PatientID, {label}: queries/s", peer,
               f"{len(samples) / elapsed:,.0f}", len(samples) / elapsed, higher=True)  # fmt: skip
    report.add(f"(c) keyed PatientID, {label}: p50 / p99 ms", peer,
               latency_text(samples), pct(samples, 50),
               higher=False)  # fmt: skip
    samples, elapsed = await pipelined(port, size, args.queries, seconds)
    report.add(f"(c') keyed, window {WINDOW}, one assoc, {label}: q/s, p50 / p99 ms", peer,
               f"{len(samples) / elapsed:,.0f}, {latency_text(samples)}",
               len(samples) / elapsed, higher=True)  # fmt: skip
    rate = await churn(port, size, 50, args.associations, seconds)
    report.add(f"(d) assoc+query+release x50, {label}: assoc/s", peer, f"{rate:,.0f}", rate,
               higher=True)  # fmt: skip
    samples = await held(port, size, 200, args.interval, seconds)
    text = f"{latency_text(samples)} ({len(samples)} q)"
    report.add(f"(e) 200 held assocs, {label}: p50 / p99 ms", peer, text, pct(samples, 99),
               higher=False)  # fmt: skip


async def bench_one(report: Report, peer: str, size: int, args: argparse.Namespace) -> None:
    root = data_folder(size, args.generate_limit)
    print(f"{peer} on {size} items", flush=True)
    with server(peer, root, args.server_log_level) as running:
        loaded = memory_kb(running.pid)
        await run_scenarios(report, peer, size, running, args)
        after = memory_kb(running.pid)
    if peer != "wlmscpfs":  # wlmscpfs reads the files for every query: no load step
        label = f"(f) load {size // 1000}k: spawn to listening s / RSS MB"
        rss = loaded.get("VmRSS", 0) / 1024
        text = f"{running.ready_seconds:.2f} s / {rss:.0f} MB"
        report.add(label, peer, text, running.ready_seconds, higher=False)
        text = f"{after.get('VmRSS', 0) / 1024:.0f} MB (peak {after.get('VmHWM', 0) / 1024:.0f})"
        report.add(f"(f) RSS after the scenarios, {size // 1000}k", peer, text,
                   after.get("VmRSS", 0), higher=False)  # fmt: skip


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"


def write_markdown(report: Report, args: argparse.Namespace, command_line: str) -> None:
    lines = [
        "## Worklist",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {cpu_model()}, Python "
        f"{sys.version.split()[0]}, DCMTK 3.6.7 wlmscpfs, pynetdicom baseline "
        "`bench/pynetdicom_wl_scp.py`.",
        f"Command: `{command_line}`. Client: aiodicom SCU on uvloop in the benchmark process "
        f"for every server; each measurement bounded by a count and {args.seconds:g} s. "
        f"Our server logs at level `{args.server_log_level}`. (e) sends one keyed query "
        f"every {args.interval:g} s on each of 200 associations. Ratios: throughput "
        "ours/theirs, latency theirs/ours (higher is better for us).",
        "",
        *report.table(),
        "",
    ]
    write_section("## Worklist\n", lines)


async def main_async(args: argparse.Namespace) -> Report:
    report = Report()
    plan = [("ours", size) for size in args.sizes]
    plan += [(peer, size) for size in args.peer_sizes for peer in PEERS[1:]]
    for peer, size in plan:
        await bench_one(report, peer, size, args)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = lambda text: [int(part) for part in text.split(",") if part]  # noqa: E731
    parser.add_argument("--sizes", type=sizes, default=[10000, 100000], help="ours")
    parser.add_argument("--peer-sizes", type=sizes, default=[10000], help="wlmscpfs, pynetdicom")
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound per scenario")
    parser.add_argument("--queries", type=int, default=3000, help="count bound for (c)")
    parser.add_argument("--associations", type=int, default=20000, help="count bound for (d)")
    parser.add_argument("--interval", type=float, default=1.0, help="(e) seconds between queries")
    parser.add_argument("--generate-limit", type=float, default=900.0)
    parser.add_argument("--server-log-level", default="warning")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    with bench_lock():
        report = run(main_async(args))
    if args.write:
        write_markdown(
            report, args, "python " + " ".join(["bench/bench_worklist.py", *sys.argv[1:]])
        )


if __name__ == "__main__":
    main()
