"""C-STORE ingest benchmark: aiodicom-qrscp vs DCMTK storescp, dcmqrscp and Orthanc.

    python bench/bench_store.py [--count 10000] [--dcmqrscp-count 2000] [--write]

(Two aiodicom-qrscp nodes on one PostgreSQL index vs one node: bench/bench_qr_nodes.py.)

DCMTK ``storescu`` (TCP_NODELAY=1) sends the same generated files (small instances
without pixel data, Explicit VR Little Endian) over one association to each SCP in turn;
instances/s is files / storescu wall time. The SCPs, each in its own process on a free
loopback port, fresh folders each time:

* ``aiodicom-qrscp`` (SQLite index): each instance fsynced, renamed into place and
  indexed (one transaction) before its C-STORE-RSP; the same with the PostgreSQL index
  (a throw-away cluster, tests/pg_cluster.py: fsync on, commits without waiting for the
  WAL flush, like SQLite's WAL with synchronous=NORMAL);
* DCMTK ``storescp``: writes the files, no index: the floor;
* DCMTK ``dcmqrscp``: stores and indexes (its index is capped at about 3,400 instances
  and re-read for every insert, so it gets the first ``--dcmqrscp-count`` files);
* Orthanc (Debian package): stores and indexes in its SQLite database.

Every run is bounded in time (``--limit`` seconds per SCP). Holds
/tmp/aiodicom-bench.lock while running; ``--write`` replaces the section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import bench_lock, free_port, listening, stop_process, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiodicom.testing.qr_sample import SampleShape, write_sample  # noqa: E402
from tests.interop.orthanc_peer import ORTHANC, orthanc  # noqa: E402
from tests.pg_cluster import start_cluster  # noqa: E402

QRSCP = Path(sys.executable).with_name("aiodicom-qrscp")
STORESCU = "/usr/bin/storescu"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
HEADING = "## C-STORE ingest"


@dataclass
class Result:
    """One SCP's run: instances sent, seconds, storescu's exit code."""

    name: str
    instances: int
    seconds: float
    code: int

    @property
    def rate(self) -> float:
        return self.instances / self.seconds if self.seconds else 0.0


def shape_for(count: int) -> SampleShape:
    """A sample shape of exactly ``count`` instances (10 per series, 5 series per study)."""
    if count % 50:
        raise SystemExit("--count must be a multiple of 50")
    return SampleShape(
        patients=count // 100 or 1,
        studies_per_patient=2 if count >= 100 else 1,
        series_per_study=5,
        instances_per_series=10,
    )


def files_for(count: int, limit: float) -> Path:
    """The generated files (made once per count, reused)."""
    folder = Path(tempfile.gettempdir()) / f"aiodicom-store-bench-{count}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        written = write_sample(folder, shape_for(count), time_limit=limit)
        if written != count:
            raise SystemExit(f"generated {written} of {count} files within {limit} s")
        done.write_text("ok\n")
    return folder


def chosen(folder: Path, count: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.dcm"))
    return files[:count]


def send(name: str, port: int, called: str, files: list[Path], limit: float) -> Result:
    """storescu over one association; wall time of the whole run."""
    cmd = [STORESCU, "-aec", called, "-nh", "-ta", "30", "-td", "60", "127.0.0.1", str(port)]
    cmd += ["--read-file", *map(str, files)]
    started = time.perf_counter()
    done = subprocess.run(
        cmd, env=DCMTK_ENV, capture_output=True, text=True, timeout=limit, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        print(f"{name}: storescu exit {done.returncode}: {done.stderr[-500:]}", file=sys.stderr)
    return Result(name, len(files), seconds, done.returncode)


@contextmanager
def process(cmd: list[str], port: int, log: Path) -> Iterator[None]:
    """Start an SCP, wait until it listens (bounded), stop it by PID afterwards."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=DCMTK_ENV)
        try:
            deadline = time.monotonic() + 60
            while not listening(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{cmd[0]} did not start: see {log}")
                time.sleep(0.05)
            yield
        finally:
            stop_process(proc, 10)


def ours_command(data: Path, index: str | Path, port: int, config: Path) -> list[str]:
    """``aiodicom-qrscp`` on ``port`` over ``data``, indexed in ``index``, quiet."""
    cmd = [str(QRSCP), "--config", str(config), "--data", str(data)]
    cmd += ["--index", str(index), "--port", str(port), "--no-watch", "--log-level", "warning"]
    return cmd


def run_ours(
    files: list[Path], work: Path, limit: float, *, fsync: bool = True, pg_url: str = ""
) -> Result:
    """Ours on SQLite (or on PostgreSQL at ``pg_url``)."""
    name = "aiodicom-qrscp" + (", PostgreSQL" if pg_url else "")
    name += "" if fsync else ", storage.fsync: false"
    tag = ("ours-pg" if pg_url else "ours") + ("" if fsync else "-nofsync")
    data = work / f"{tag}-data"
    data.mkdir()
    config = work / f"{tag}.yaml"
    config.write_text(f"storage:\n  fsync: {'true' if fsync else 'false'}\n")
    port = free_port()
    cmd = ours_command(data, pg_url or work / f"{tag}.sqlite", port, config)
    with process(cmd, port, work / f"{tag}.log"):
        return send(name, port, "QRSCP", files, limit)


def run_storescp(files: list[Path], work: Path, limit: float) -> Result:
    out = work / "storescp-out"
    out.mkdir()
    port = free_port()
    with process(["/usr/bin/storescp", "-od", str(out), str(port)], port, work / "storescp.log"):
        return send("storescp", port, "STORESCP", files, limit)


def run_dcmqrscp(files: list[Path], work: Path, limit: float) -> Result:
    db = work / "dcmqrscp-db"
    db.mkdir()
    port = free_port()
    config = work / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
        "HostTable BEGIN\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
        f"AETable BEGIN\nQRSCP {db} RW (1000, 1024mb) ANY\nAETable END\n"
    )
    cmd = ["/usr/bin/dcmqrscp", "-c", str(config), str(port)]
    with process(cmd, port, work / "dcmqrscp.log"):
        return send("dcmqrscp", port, "QRSCP", files, limit)


def run_orthanc(files: list[Path], work: Path, limit: float) -> Result | None:
    if not ORTHANC.exists():
        print("Orthanc is not installed: skipped", file=sys.stderr)
        return None
    with orthanc(work / "orthanc") as peer:
        return send("Orthanc", peer.dicom_port, peer.ae_title, files, limit)


def machine() -> str:
    text = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown CPU").strip()
    return f"{model}, {fields.get('CPU(s)', '?').strip()} CPUs (shared)"


def report(results: list[Result], args: argparse.Namespace) -> list[str]:
    ours = results[0]
    lines = [
        HEADING,
        "",
        f"Date: {time.strftime('%Y-%m-%d')}. Machine: {machine()}, Python "
        f"{sys.version.split()[0]}, DCMTK storescu/storescp/dcmqrscp 3.6.7, Orthanc "
        "(Debian), PostgreSQL (Debian, a throw-away cluster: fsync on, "
        "synchronous_commit off). Command: `python bench/bench_store.py "
        f"--count {args.count} --dcmqrscp-count {args.dcmqrscp_count}`. One storescu "
        "association per SCP, small instances (no pixel data); instances/s = files / "
        "storescu wall time.",
        "",
        "| SCP | instances | seconds | instances/s | aiodicom-qrscp vs it |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in results:
        ratio = ours.rate / result.rate if result.rate else 0.0
        failed = "" if result.code == 0 else f" (storescu exit {result.code})"
        lines.append(
            f"| {result.name}{failed} | {result.instances} | {result.seconds:.2f} | "
            f"{result.rate:,.0f} | {ratio:.2f}x |"
        )
    lines += [
        "",
        "aiodicom-qrscp makes each instance durable before it answers (fsync of the file, "
        "rename, fsync of the folder, one SQLite transaction), so the C-STORE-RSP means "
        "the instance survives a crash and is found by C-FIND; storescp writes its files "
        "without any fsync (checked with strace). The PostgreSQL row is the same server on "
        "a PostgreSQL index: each instance is one transaction of some ten statements "
        "(writers' lock, duplicate check, four upserts, computed attributes), each a round "
        "trip to another process, where SQLite commits in-process. The row with fsync "
        "false is ours with "
        "`storage.fsync: false` (atomic rename and index kept, no fsync: safe against a "
        "crash of the server, not of the machine). dcmqrscp gets the first "
        f"{args.dcmqrscp_count} files only: its index is capped at about 3,400 instances "
        "and re-read for every insert.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="files sent (x50)")
    parser.add_argument("--dcmqrscp-count", type=int, default=2000)
    parser.add_argument("--limit", type=float, default=900.0, help="seconds per SCP")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    with bench_lock(), tempfile.TemporaryDirectory(prefix="aiodicom-store-bench-") as tmp:
        folder = files_for(args.count, args.limit)
        files = chosen(folder, args.count)
        work = Path(tmp)
        for cluster in start_cluster(durable=True):
            on_pg = run_ours(files, work, args.limit, pg_url=cluster.fresh_database())
        results = [
            run_ours(files, work, args.limit),
            on_pg,
            run_ours(files, work, args.limit, fsync=False),
            run_storescp(files, work, args.limit),
            run_dcmqrscp(files[: args.dcmqrscp_count], work, args.limit),
        ]
        theirs = run_orthanc(files, work, args.limit)
        if theirs is not None:
            results.append(theirs)
    lines = report(results, args)
    print("\n".join(lines))
    if args.write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
