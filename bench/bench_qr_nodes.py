"""Two aiodicom-qrscp nodes on one PostgreSQL index vs one node: C-STORE and C-FIND.

    python bench/bench_qr_nodes.py [--count 4000] [--seconds 20] [--concurrency 8] [--write]

Each node is its own process with its own data folder, on the same database of a
throw-away PostgreSQL cluster (tests/pg_cluster.py: fsync on, commits without waiting
for the WAL flush). The same generated files as bench/bench_store.py (small instances,
no pixel data).

* C-STORE, instances/s = files / wall time of DCMTK storescu (TCP_NODELAY=1), a fresh
  database each: one node with one storescu (all files); one node with two storescu at
  once (half each); two nodes with one storescu each (half each) at once.
* C-FIND, q/s: STUDY level keyed by PatientID (Study Root, one study answered per
  query: the index holds every file sent), by ``aiodicom-loadtest`` (closed loop,
  ``--concurrency`` queries in flight in all, associations reused) for ``--seconds``:
  against one node, then against both at once (half the concurrency each, the two
  reports added up).

Bounded: ``--limit`` seconds per storescu run, ``--seconds`` per C-FIND run. Holds
/tmp/aiodicom-bench.lock while running; ``--write`` replaces the section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from _common import bench_lock, free_port, write_section
from bench_store import (
    DCMTK_ENV,
    QRSCP,
    STORESCU,
    chosen,
    files_for,
    machine,
    ours_command,
    process,
    shape_for,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg_cluster import PgCluster, start_cluster  # noqa: E402

LOADTEST = QRSCP.with_name("aiodicom-loadtest")
HEADING = "## Two Q/R nodes on one PostgreSQL"


@contextmanager
def nodes(count: int, url: str, work: Path, tag: str) -> Iterator[list[int]]:
    """``count`` aiodicom-qrscp processes on ``url``; their ports."""
    config = work / "node.yaml"
    config.write_text("storage:\n  fsync: true\n")
    with ExitStack() as stack:
        ports = []
        for number in range(count):
            data = work / f"{tag}-node{number}"
            data.mkdir()
            port = free_port()
            cmd = ours_command(data, url, port, config)
            stack.enter_context(process(cmd, port, work / f"{tag}-node{number}.log"))
            ports.append(port)
        yield ports


def store_at_once(ports: list[int], parts: list[list[Path]], limit: float) -> float:
    """One storescu per part (to ``ports[i]``), all at once; wall seconds of all."""
    started = time.perf_counter()
    running = []
    for port, part in zip(ports, parts, strict=True):
        cmd = [STORESCU, "-aec", "QRSCP", "-nh", "-ta", "30", "-td", "60", "127.0.0.1"]
        cmd += [str(port), "--read-file", *map(str, part)]
        running.append(subprocess.Popen(cmd, env=DCMTK_ENV, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True))  # fmt: skip
    for sender in running:
        try:
            _out, err = sender.communicate(timeout=limit)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait(10)
        if sender.returncode:
            raise SystemExit(f"storescu exit {sender.returncode}: {err[-500:]}")
    return time.perf_counter() - started


def halves(files: list[Path]) -> list[list[Path]]:
    return [files[0::2], files[1::2]]


def patient_values(work: Path, count: int) -> Path:
    """A --values CSV of the PatientIDs of the files sent (qr_sample's naming)."""
    path = work / "patients.csv"
    ids = [f"PID{index:06d}" for index in range(shape_for(count).patients)]
    path.write_text("pid\n" + "".join(f"{pid}\n" for pid in ids))
    return path


def loadtest(port: int, values: Path, concurrency: int, seconds: float, out: Path) -> Any:
    """``aiodicom-loadtest`` against one node (started, not waited for)."""
    cmd = [str(LOADTEST), "127.0.0.1", str(port), "-aec", "QRSCP", "-m", "study",
           "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID={pid}", "-k", "StudyInstanceUID=",
           "--values", str(values), "--values-order", "random", "--seed", "1",
           "-n", str(concurrency), "--duration", str(seconds), "--warmup", "2",
           "--json", str(out), "--no-progress"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def find_rate(ports: list[int], values: Path, concurrency: int, seconds: float) -> float:
    """Summed q/s of one loadtest per port (``concurrency`` split between them)."""
    share = max(1, concurrency // len(ports))
    with tempfile.TemporaryDirectory(prefix="aiodicom-nodes-find-") as tmp:
        outs = [Path(tmp) / f"{port}.json" for port in ports]
        runs = [loadtest(p, values, share, seconds, o) for p, o in zip(ports, outs, strict=True)]
        for run in runs:
            try:
                _out, err = run.communicate(timeout=seconds + 90)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait(10)
            if run.returncode:
                raise SystemExit(f"loadtest exit {run.returncode}: {err[-800:]}")
        reports = [json.loads(out.read_text()) for out in outs]
    for report in reports:
        answers = set(report["responses_per_query"].values())
        if answers != {2.0}:  # each patient has two studies
            raise SystemExit(f"expected two studies per query, got {sorted(answers)}")
    return sum(float(report["throughput_qps"]) for report in reports)


STORE_1 = "C-STORE, one node, one storescu"
STORE_1X2 = "C-STORE, one node, two storescu at once"
STORE_2 = "C-STORE, two nodes, one storescu each at once"
FIND_1 = "C-FIND STUDY by PatientID, one node"
FIND_2 = "C-FIND STUDY by PatientID, two nodes (half the queries in flight each)"


def measure(
    cluster: PgCluster, files: list[Path], work: Path, args: argparse.Namespace
) -> dict[str, float]:
    """Every figure of the table (module docstring), by row name."""
    count = len(files)
    figures: dict[str, float] = {}
    with nodes(1, cluster.fresh_database(), work, "one") as [port]:
        figures[STORE_1] = count / store_at_once([port], [files], args.limit)
    values = patient_values(work, count)
    with nodes(1, cluster.fresh_database(), work, "one2") as [port]:
        figures[STORE_1X2] = count / store_at_once([port, port], halves(files), args.limit)
        figures[FIND_1] = find_rate([port], values, args.concurrency, args.seconds)
    with nodes(2, cluster.fresh_database(), work, "two") as ports:
        figures[STORE_2] = count / store_at_once(ports, halves(files), args.limit)
        figures[FIND_2] = find_rate(ports, values, args.concurrency, args.seconds)
    return figures


def report(figures: dict[str, float], args: argparse.Namespace) -> list[str]:
    lines = [
        HEADING,
        "",
        f"Date: {time.strftime('%Y-%m-%d')}. Machine: {machine()}, Python "
        f"{sys.version.split()[0]}, PostgreSQL (Debian; a throw-away cluster on the same "
        "machine: fsync on, synchronous_commit off). Command: `python bench/bench_qr_nodes.py "
        f"--count {args.count} --seconds {args.seconds:g} --concurrency {args.concurrency}`: "
        f"{args.count} instances stored, {args.concurrency} C-FINDs in flight in all. "
        "Each node an aiodicom-qrscp process with its own data folder, one database.",
        "",
        "| run | unit | rate | vs one node |",
        "|---|---|---:|---:|",
    ]
    for name in (STORE_1, STORE_1X2, STORE_2, FIND_1, FIND_2):
        rate = figures[name]
        unit, base = ("q/s", figures[FIND_1]) if "FIND" in name else ("inst/s", figures[STORE_1])
        lines.append(f"| {name} | {unit} | {rate:,.0f} | {rate / base if base else 0:.2f}x |")
    lines += [
        "",
        "All the processes (storescu or loadtest, the nodes, PostgreSQL) share the same "
        "CPUs here, so a second node adds processes but no cores: the ratios compare "
        "two nodes with one on the same shared machine, not what a second machine "
        "would add. Writes of all nodes take one advisory lock in turn (one writer at "
        "a time, like SQLite); reads run in parallel, each on its own snapshot.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="files stored (x100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per C-FIND run")
    parser.add_argument("--concurrency", type=int, default=8, help="C-FINDs in flight")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds per storescu run")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if args.count % 100:
        raise SystemExit("--count must be a multiple of 100")
    with bench_lock(), tempfile.TemporaryDirectory(prefix="aiodicom-nodes-bench-") as tmp:
        files = chosen(files_for(max(args.count, 10_000), args.limit), args.count)
        for cluster in start_cluster(durable=True):
            figures = measure(cluster, files, Path(tmp), args)
    lines = report(figures, args)
    print("\n".join(lines))
    if args.write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
