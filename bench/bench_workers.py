"""How ``aiodicom-worklist --workers N`` throughput scales (SO_REUSEPORT worker processes).

    python bench/bench_workers.py [--workers 1,2,4] [--seconds 10] [--repeats 2] [--write]

For each N, ``aiodicom-worklist --workers N --no-http`` serves a 10k-item worklist folder
(PS3.4 Annex K items from aiodicom.worklist.sample, reused from
/tmp/aiodicom-wl-bench-10000 when bench_worklist.py already generated it) on a free
loopback port. The benchmark waits (bounded) until N sockets listen on the port and a
C-ECHO (PS3.7 9.1.5) is answered, then drives the server with ``aiodicom-loadtest`` as a
subprocess (``--processes 2``, closed loop, one-match keyed PatientID queries):

* reuse: ``-n 32`` queries in flight over a pool of associations: queries/s, p50, p99;
* new: one association per query (associate, C-FIND, release; PS3.8 9.3): assoc/s.

Each run is bounded by ``--count`` and ``--seconds``; the best of ``--repeats`` runs is
kept. The server is then stopped with SIGTERM (by PID) and must exit 0. CPU seconds used
by each worker process show how the kernel spread the connections. The measurement part
holds /tmp/aiodicom-bench.lock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import LOCK, bench_lock, free_port, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiodicom.worklist.sample import generate, write_item  # noqa: E402

AE = "WLMSCP"
SIZE = 10_000
WORK = Path("/tmp/aiodicom-workers-bench")
BIN = Path(sys.executable).parent
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
SERVER_CONFIG = """\
server: {max_associations: 1000, idle_timeout: 600}
worklist: {max_matches: 100, watch: false}
logging: {level: warning}
"""
HEADING = "## Workers (SO_REUSEPORT)"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STEP = "ScheduledProcedureStepSequence[0]"


@dataclass
class Row:
    """Best figures of one worker count."""

    workers: int
    reuse: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)
    exit_code: int | None = None
    startup: float = 0.0
    rss_mb: float = 0.0
    client_cpu: float = 0.0
    wall: float = 0.0


# -- data and server process ------------------------------------------------------------


def data_folder(limit: float) -> Path:
    """A folder with ``AE/`` holding SIZE items; generated once (bounded by ``limit`` s)."""
    shared = Path(f"/tmp/aiodicom-wl-bench-{SIZE}")
    if (shared / AE).is_dir() and len(list((shared / AE).glob("*.wl"))) == SIZE:
        return shared
    final = WORK / f"data-{SIZE}"
    if (final / AE).is_dir():
        return final
    partial = Path(f"{final}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / AE).mkdir(parents=True)
    deadline = time.monotonic() + limit
    for index, ds in enumerate(generate(SIZE, seed=11)):
        if time.monotonic() > deadline:
            raise SystemExit(f"generating {SIZE} items took more than {limit} s")
        write_item(ds, partial / AE / f"item_{index:06d}.wl", with_meta=True)
    partial.rename(final)
    return final


def listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on 127.0.0.1:``port`` (Linux /proc/net/tcp)."""
    wanted = f"0100007F:{port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":
            count += 1
    return count


def echo_ok(port: int) -> bool:
    """One C-ECHO with /usr/bin/echoscu (bounded timeouts)."""
    args = ["/usr/bin/echoscu", "-to", "2", "-ta", "5", "-aec", AE, "127.0.0.1", str(port)]
    try:
        done = subprocess.run(args, env=DCMTK_ENV, capture_output=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (the forked workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MB (Linux /proc, 0 when it is gone)."""
    with suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    with suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return 0.0


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    workers: list[int]
    startup: float


@contextmanager
def server(count: int, data: Path, limit: float) -> Iterator[Running]:
    """``aiodicom-worklist --workers count``, ready when count sockets listen and C-ECHO works."""
    port = free_port()
    config = WORK / "worklist.yaml"
    config.write_text(SERVER_CONFIG)
    args = [str(BIN / "aiodicom-worklist"), "--config", str(config), "--data", str(data),
            "--port", str(port), "--workers", str(count), "--no-http", "--no-watch",
            "--log-level", "warning"]  # fmt: skip
    log = (WORK / f"server-{count}.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        while listening_sockets(port) < count or not echo_ok(port):
            if process.poll() is not None:
                raise SystemExit(f"server exited early ({process.returncode}), see {log.name}")
            if time.monotonic() - started > limit:
                raise SystemExit(f"--workers {count} not ready after {limit} s")
            time.sleep(0.1)
        workers = children(process.pid) if count > 1 else [process.pid]
        yield Running(process, port, workers, time.monotonic() - started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# -- load -------------------------------------------------------------------------------


def query_mix(path: Path, queries: int) -> None:
    """A loadtest YAML: ``queries`` keyed PatientID queries, each matching one item."""
    rng = random.Random(7)
    lines = ["queries:"]
    for index in range(queries):
        patient = f"PID{rng.randrange(SIZE):07d}"
        keys = [f"PatientID={patient}", "PatientName=", "AccessionNumber=",
                f"{STEP}.Modality=", f"{STEP}.ScheduledProcedureStepStartDate="]  # fmt: skip
        lines += [f"  - name: pid-{index}", "    keys:", *(f'      - "{key}"' for key in keys)]
    path.write_text("\n".join(lines) + "\n")


def loadtest(port: int, mix: Path, association: str, ns: argparse.Namespace) -> dict[str, Any]:
    """One aiodicom-loadtest run; its JSON report (SystemExit on failure)."""
    count = ns.count if association == "reuse" else ns.count_new
    with tempfile.NamedTemporaryFile(suffix=".json", dir=WORK, delete=False) as handle:
        report_path = Path(handle.name)
    args = [str(BIN / "aiodicom-loadtest"), "127.0.0.1", str(port), "-aec", AE,
            "-c", str(mix), "-n", str(ns.concurrency), "--processes", str(ns.processes),
            "--association", association, "--count", str(count),
            "--duration", str(ns.seconds), "--json", str(report_path), "--no-progress",
            "--seed", "1", "--window", str(ns.window if association == "reuse" else 1)]  # fmt: skip
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=ns.seconds + 60,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"loadtest failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        report: dict[str, Any] = json.loads(report_path.read_text())
    finally:
        report_path.unlink(missing_ok=True)
    per_query = set(report["responses_per_query"].values())
    if per_query != {1.0}:
        raise SystemExit(f"expected one match per query, got {sorted(per_query)}")
    return report


def children_cpu() -> float:
    """CPU seconds of our waited-for descendants: the loadtest processes (and echoscu)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best(reports: list[dict[str, Any]]) -> dict[str, Any]:
    return max(reports, key=lambda report: float(report["throughput_qps"]))


def measure(count: int, data: Path, mix: Path, ns: argparse.Namespace) -> Row:
    row = Row(count)
    with server(count, data, ns.startup_limit) as running:
        row.startup = running.startup
        before = [cpu_seconds(pid) for pid in running.workers]
        client_before = children_cpu()
        started = time.perf_counter()
        for association in ("reuse", "new"):
            reports = [loadtest(running.port, mix, association, ns) for _ in range(ns.repeats)]
            setattr(row, association, best(reports))
            rates = ", ".join(f"{report['throughput_qps']:.0f} q/s" for report in reports)
            print(f"  workers={count} {association}: {rates}", flush=True)
        row.cpu = [cpu_seconds(pid) - b for pid, b in zip(running.workers, before, strict=True)]
        row.rss_mb = sum(rss_mb(pid) for pid in running.workers)
        row.wall = time.perf_counter() - started
        row.client_cpu = children_cpu() - client_before
        process = running.process
    with suppress(subprocess.TimeoutExpired):
        process.wait(0)
    row.exit_code = process.returncode
    return row


# -- report -----------------------------------------------------------------------------


COLUMNS = (
    "workers", "q/s (reuse)", "p50 / p99 ms (reuse)", "assoc/s (new)", "p50 / p99 ms (new)",
    "q/s vs 1", "assoc/s vs 1", "worker CPU s", "cores: server / loadgen", "ready s / RSS MB",
    "exit",
)  # fmt: skip


def cells(row: Row, base: Row) -> list[str]:
    reuse, new = row.reuse, row.new
    lat_r, lat_n = reuse["latency_ms"], new["latency_ms"]
    return [
        str(row.workers),
        f"{reuse['throughput_qps']:,.0f}",
        f"{lat_r['p50']:.2f} / {lat_r['p99']:.2f}",
        f"{new['throughput_qps']:,.0f}",
        f"{lat_n['p50']:.2f} / {lat_n['p99']:.2f}",
        f"{reuse['throughput_qps'] / base.reuse['throughput_qps']:.2f}x",
        f"{new['throughput_qps'] / base.new['throughput_qps']:.2f}x",
        " / ".join(f"{value:.1f}" for value in row.cpu),
        f"{sum(row.cpu) / row.wall:.2f} / {row.client_cpu / row.wall:.2f}",
        f"{row.startup:.1f} / {row.rss_mb:.0f}",
        str(row.exit_code),
    ]


def table(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row, rows[0])) + " |" for row in rows]
    return lines


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def machine() -> str:
    model = "unknown CPU"
    with suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                                   check=False).stdout.splitlines():  # fmt: skip
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    return f"{model}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}"


def section(rows: list[Row], ns: argparse.Namespace, argv: list[str], load: str) -> list[str]:
    command = "python bench/bench_workers.py " + " ".join(argv)
    return [
        HEADING,
        "",
        f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: {machine()}; "
        f"load average {load}.",
        f"Command: `{command}`. Server: `aiodicom-worklist --workers N --no-http --no-watch "
        f"--log-level warning` on {SIZE:,} items. Load: `aiodicom-loadtest --processes "
        f"{ns.processes} -n {ns.concurrency}` (reuse runs: `--window {ns.window}`) closed "
        f"loop, {ns.mix_size} one-match keyed "
        f"PatientID queries, each run bounded by --count {ns.count} (new: {ns.count_new}) "
        f"and --duration {ns.seconds:g}; best of {ns.repeats}. `reuse` = a pool of open "
        "associations, `new` = associate + C-FIND + release per query. Worker CPU s: CPU "
        "time of each worker process over all runs of that row; cores: CPU seconds of the "
        "server workers and of the loadtest processes divided by the wall time of the runs "
        "(the machine has 2); ready s: spawn until N "
        "sockets listen and C-ECHO succeeds; RSS: sum over the workers after the runs; exit: "
        "the server's exit code after SIGTERM.",
        "",
        *table(rows),
        "",
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="bound of each run")
    parser.add_argument("--count", type=int, default=100_000, help="queries per reuse run")
    parser.add_argument("--count-new", type=int, default=20_000, help="queries per new run")
    parser.add_argument("--concurrency", type=int, default=32, help="loadtest -n")
    parser.add_argument("--window", type=int, default=1, help="loadtest --window (reuse runs)")
    parser.add_argument("--processes", type=int, default=2, help="loadtest --processes")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode (best kept)")
    parser.add_argument("--mix-size", type=int, default=64, help="distinct keyed queries")
    parser.add_argument("--startup-limit", type=float, default=120.0, help="seconds")
    parser.add_argument("--write", action="store_true", help="replace our docs section")
    return parser.parse_args(argv)


def main() -> None:
    argv = sys.argv[1:]
    ns = parse_args(argv)
    counts = [int(value) for value in ns.workers.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    data = data_folder(limit=300)
    mix = WORK / "mix.yaml"
    query_mix(mix, ns.mix_size)
    print(f"data {data}; waiting for {LOCK}", flush=True)
    with bench_lock():
        load = f"{load_average()} at the start"
        print(f"lock held, load average {load}", flush=True)
        rows = [measure(count, data, mix, ns) for count in counts]
        load += f", {load_average()} at the end"
    lines = section(rows, ns, [arg for arg in argv if arg != "--write"], load)
    print("\n".join(lines))
    failed = [row.workers for row in rows if row.exit_code != 0]
    if failed:
        raise SystemExit(f"server exit code != 0 after SIGTERM for workers {failed}")
    if ns.write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
