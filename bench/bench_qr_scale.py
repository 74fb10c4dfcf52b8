"""Q/R index at scale: SQLite vs PostgreSQL from 10k to 100k (to 1M) instances.

    python bench/bench_qr_scale.py [--sizes 10000,100000,1000000] [--batch 1000]
        [--queries 200] [--size-limit 1500] [--write]

Instances are generated in memory (no files; 100 per patient: 2 studies x 5 series x 10
instances, so 10k patients at 1M) and ingested through the store's write path, the one
``index_file`` (C-STORE) uses: ``apply`` in batches of ``--batch``, each one transaction
with the computed attributes refreshed, as new data arrives. Then, per backend and size:
index size on disk, ingest time (instances/s), ``index_file`` one instance at a time
(p50/p99 ms), and C-FIND latencies p50/p99 through the Q/R service in this process (no
network): STUDY keyed by PatientID, STUDY by a one-month StudyDate range, IMAGE level of
one series (hierarchical). Ratios are PostgreSQL / SQLite. PostgreSQL runs in a
throw-away cluster (tests/pg_cluster.py, fsync on, commits without waiting for the WAL
flush: like SQLite's WAL with synchronous=NORMAL). Each size is bounded by
``--size-limit`` seconds of ingest per backend; a size that does not finish is reported
as such and larger ones are skipped. Holds /tmp/aiodicom-bench.lock while running.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _common import bench_lock, pct, write_section
from pydicom import Dataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiodicom.qr.service import QRService  # noqa: E402
from aiodicom.store import QRStore, open_qr_store  # noqa: E402
from aiodicom.store.qr_files import index_dataset  # noqa: E402
from aiodicom.store.qr_model import Level  # noqa: E402
from aiodicom.store.qr_store import EntityData, IndexedFile  # noqa: E402
from tests.pg_cluster import PgCluster, start_cluster  # noqa: E402
from tests.qr.helpers import STUDY_ROOT, query, request  # noqa: E402

UID = "1.2.826.0.1.3680043.10.1234.7"
STUDIES, SERIES, INSTANCES = 2, 5, 10
PER_PATIENT = STUDIES * SERIES * INSTANCES
MODALITIES = ("CT", "MR", "US", "CR")
SOP = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
       "US": "1.2.840.10008.5.1.4.1.1.6.1", "CR": "1.2.840.10008.5.1.4.1.1.1"}  # fmt: skip


def _series_file(patient: int, study: int, series: int, rng: random.Random) -> IndexedFile:
    """The first instance of one series, through the indexer's own splitting."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = f"{rng.choice(('Doe', 'Smith', 'Garcia', 'Rossi'))}^P{patient}"
    ds.PatientID = f"PID{patient:07d}"
    ds.PatientBirthDate = f"19{rng.randint(30, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}"
    ds.PatientSex = rng.choice("FM")
    ds.StudyInstanceUID = f"{UID}.{patient}.{study}"
    ds.StudyDate = f"20{rng.randint(15, 24)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    ds.StudyTime = f"{rng.randint(7, 18):02d}{rng.randint(0, 59):02d}00"
    ds.AccessionNumber = f"ACC{patient:07d}{study}"
    ds.StudyDescription = rng.choice(("CHEST", "HEAD", "ABDOMEN", "KNEE"))
    modality = rng.choice(MODALITIES)
    ds.SeriesInstanceUID = f"{ds.StudyInstanceUID}.{series}"
    ds.Modality = modality
    ds.SeriesNumber = series + 1
    ds.SOPInstanceUID = f"{ds.SeriesInstanceUID}.100"
    ds.SOPClassUID = SOP[modality]
    ds.InstanceNumber = 1
    return index_dataset(ds, f"/virtual/{patient}/{study}/{series}/000.dcm", 1, 512)


def _instance(first: IndexedFile, number: int) -> IndexedFile:
    """Instance ``number`` of the series of ``first``: same entities, its own UID."""
    image = first.entities[Level.IMAGE]
    uid = f"{image.uid[:-3]}1{number:02d}"
    entity = EntityData(
        uid=uid,
        columns={**image.columns, 0x00080018: uid},
        blob=image.blob.replace(image.uid.encode(), uid.encode()),
    )
    return dataclasses.replace(
        first,
        path=first.path.replace("000.dcm", f"{number:03d}.dcm"),
        entities={**first.entities, Level.IMAGE: entity},
    )


def instances(patients: range, seed: int = 11) -> Iterator[IndexedFile]:
    """Every instance of ``patients`` in order (deterministic)."""
    rng = random.Random(seed)
    for patient in patients:
        for study in range(STUDIES):
            for series in range(SERIES):
                first = _series_file(patient, study, series, rng)
                yield first
                for number in range(1, INSTANCES):
                    yield _instance(first, number)


def ingest(store: QRStore, total: int, batch: int, limit: float) -> float | None:
    """Seconds spent in ``apply`` for ``total`` instances in batches (generating them is
    not counted); None past ``limit``."""
    spent = 0.0
    pending: list[IndexedFile] = []
    for file in instances(range(total // PER_PATIENT)):
        pending.append(file)
        if len(pending) == batch:
            spent += _timed_apply(store, pending)
            pending = []
            if spent > limit:
                return None
    if pending:
        spent += _timed_apply(store, pending)
    return spent


def _timed_apply(store: QRStore, files: list[IndexedFile]) -> float:
    started = time.perf_counter()
    assert store.apply(files, []) == []
    return time.perf_counter() - started


def one_at_a_time(store: QRStore, total: int, count: int) -> list[float]:
    """``index_file`` latencies (ms) of ``count`` new instances (patients after ``total``)."""
    first = total // PER_PATIENT
    patients = range(first, first + -(-count // PER_PATIENT))
    samples = []
    for file, _ in zip(instances(patients, seed=99), range(count), strict=False):
        started = time.perf_counter()
        assert store.index_file(file)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def latencies(service: QRService, make: Callable[[random.Random], Dataset], count: int) -> str:
    """p50/p99 ms of ``count`` C-FINDs (bounded to 60 s) and the mean number of matches."""
    rng = random.Random(5)
    samples: list[float] = []
    matches = 0

    async def one(ds: Dataset) -> int:
        return len([item async for item in service.find(request(ds, STUDY_ROOT))])

    deadline = time.monotonic() + 60
    while len(samples) < count and time.monotonic() < deadline:
        ds = make(rng)
        started = time.perf_counter()
        matches += asyncio.run(one(ds))
        samples.append((time.perf_counter() - started) * 1000)
    return f"{pct(samples, 0.5):.2f} / {pct(samples, 0.99):.2f} ({matches / len(samples):.0f})"


def queries(total: int) -> dict[str, Callable[[random.Random], Dataset]]:
    patients = total // PER_PATIENT

    def keyed(rng: random.Random) -> Dataset:
        pid = f"PID{rng.randrange(patients):07d}"
        return query("STUDY", PatientID=pid, StudyInstanceUID="", StudyDate="", PatientName="")

    def by_date(rng: random.Random) -> Dataset:
        month = f"20{rng.randint(15, 24)}{rng.randint(1, 12):02d}"
        return query("STUDY", StudyDate=f"{month}01-{month}28", StudyInstanceUID="", PatientID="")

    def one_series(rng: random.Random) -> Dataset:
        study = f"{UID}.{rng.randrange(patients)}.{rng.randrange(STUDIES)}"
        return query(
            "IMAGE",
            StudyInstanceUID=study,
            SeriesInstanceUID=f"{study}.{rng.randrange(SERIES)}",
            SOPInstanceUID="",
            InstanceNumber="",
        )

    return {"STUDY by PatientID": keyed, "STUDY by StudyDate month": by_date,
            "IMAGE of one series": one_series}  # fmt: skip


def index_size(store: QRStore, location: str | Path) -> int:
    if isinstance(location, Path):
        return sum(
            Path(str(location) + s).stat().st_size
            for s in ("", "-wal")
            if Path(str(location) + s).exists()
        )
    from tests.pg_cluster import psql

    return int(psql(str(location), "SELECT pg_database_size(current_database())")[0][0])


def run_backend(
    name: str, location: str | Path, total: int, args: argparse.Namespace
) -> dict[str, str] | None:
    store = open_qr_store(location)
    try:
        seconds = ingest(store, total, args.batch, args.size_limit)
        if seconds is None:
            print(f"{name} {total}: ingest past {args.size_limit} s, stopped", flush=True)
            return None
        result = {
            "ingest": f"{seconds:.1f} s ({total / seconds:,.0f}/s)",
            "size": f"{index_size(store, location) / 2**20:,.0f} MiB",
        }
        single = one_at_a_time(store, total, 200)
        result["index_file"] = f"{pct(single, 0.5):.2f} / {pct(single, 0.99):.2f}"
        service = QRService(store)
        for label, make in queries(total).items():
            result[label] = latencies(service, make, args.queries)
        print(f"{name} {total}: {result}", flush=True)
        return result
    finally:
        store.close()


def _number(text: str) -> float:
    return float(text.split(maxsplit=1)[0].replace(",", ""))


def table(results: dict[int, dict[str, dict[str, str]]]) -> list[str]:
    lines = ["| instances | measure | SQLite | PostgreSQL | PostgreSQL / SQLite |",
             "|---:|---|---:|---:|---:|"]  # fmt: skip
    for total, backends in results.items():
        lite, pg = backends.get("sqlite"), backends.get("postgresql")
        for measure in lite or pg or {}:
            a = lite[measure] if lite else "-"
            b = pg[measure] if pg else "-"
            ratio = f"{_number(b) / _number(a):.2f}" if lite and pg and _number(a) else "-"
            lines.append(f"| {total:,} | {measure} | {a} | {b} | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--size-limit", type=float, default=1500.0)
    parser.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, dict[str, dict[str, str]]] = {}
    with bench_lock(), tempfile.TemporaryDirectory(prefix="aiodicom-qr-scale-") as work:
        clusters = start_cluster(durable=True)
        cluster: PgCluster = next(clusters)
        try:
            for total in sizes:
                results[total] = {}
                for name in ("sqlite", "postgresql"):
                    location: str | Path = (
                        Path(work) / f"{total}.sqlite" if name == "sqlite"
                        else cluster.fresh_database()
                    )  # fmt: skip
                    result = run_backend(name, location, total, args)
                    if result is not None:
                        results[total][name] = result
                if len(results[total]) < 2:
                    break
        finally:
            next(clusters, None)
    lines = table(results)
    print("\n".join(lines))
    if args.write:
        command = "python bench/bench_qr_scale.py " + " ".join(sys.argv[1:])
        write_section(
            "## Q/R index at scale: SQLite vs PostgreSQL",
            [
                "## Q/R index at scale: SQLite vs PostgreSQL",
                "",
                f"{time.strftime('%Y-%m-%d')}, {platform.node()}: {os.cpu_count()} cores "
                f"(shared), {platform.platform()}, PostgreSQL 15 (fsync on, "
                "synchronous_commit off), SQLite WAL (synchronous=NORMAL). Command: "
                f"`{command.replace(' --write', '')}`.",
                "Ingest through the store's write path (``apply``, batches of "
                f"{args.batch}, computed attributes refreshed per batch); ``index_file``: "
                "one instance per transaction (the C-STORE path), p50 / p99 ms. Queries: "
                "C-FIND through the Q/R service in one process (no network), p50 / p99 "
                "ms (mean matches).",
                "",
                *lines,
                "",
            ],
        )


if __name__ == "__main__":
    main()
