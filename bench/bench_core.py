"""Core benchmark: C-FIND streaming rate, association churn and one-match round trip.

    python bench/bench_core.py [--responses 20000] [--clients 50] [--seconds 8]

Scenarios (every loop is bounded by a count and by time):

1. one association streams N pending responses of a fixed identifier:
   our SCP -> our SCU, our SCP -> DCMTK findscu (process wall time), and a
   pynetdicom SCP -> our SCU as the baseline;
2. associate + C-ECHO + release per second with ``--clients`` concurrent clients,
   against our SCP and against a pynetdicom SCP;
3. round trip of a one-match C-FIND on one association, p50/p99, ours vs pynetdicom.

Each SCP runs in its own process (``--serve ours|pynetdicom PORT``); the SCU side runs
on uvloop in this process. Targets: >= 20,000 responses/s, >= 1,000 assoc+echo+release/s,
one-match p50 < 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from _common import free_port, stop_process
from pydicom import Dataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiodicom  # noqa: E402
from aiodicom.dicom.identifier import encode_identifier  # noqa: E402
from aiodicom.net.loop import run  # noqa: E402

WORKLIST_UID = "1.2.840.10008.5.1.4.31"
VERIFICATION_UID = "1.2.840.10008.1.1"
MANY = "MANY"


def fixed_identifier() -> Dataset:
    """The identifier every pending response carries (~150 bytes)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "DOE^JOHN^Q"
    ds.PatientID = "BENCH000001"
    ds.AccessionNumber = "ACC000001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.9999.1"
    return ds


def query(patient_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = patient_id
    return ds


def match_count(identifier: Dataset, many: int) -> int:
    """PatientID MANY asks for ``many`` matches, anything else for one."""
    return many if identifier.get("PatientID", "") == MANY else 1


# -- SCP processes --------------------------------------------------------------------


async def serve_ours(port: int, many: int) -> None:
    item = fixed_identifier()

    async def handler(request: aiodicom.FindRequest) -> AsyncIterator[bytes]:
        raw = encode_identifier(item, request.transfer_syntax)
        for _ in range(match_count(request.identifier, many)):
            yield raw

    config = aiodicom.ServerConfig(max_associations=500, idle_timeout=None)
    server = aiodicom.Server(config, {"worklist": handler})
    await server.start("127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


def serve_pynetdicom(port: int, many: int) -> None:
    from pynetdicom import AE, evt

    item = fixed_identifier()

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        for _ in range(match_count(event.identifier, many)):
            yield 0xFF00, item

    ae = AE(ae_title="PYSCP")
    ae.maximum_associations = 500
    ae.add_supported_context(VERIFICATION_UID)
    ae.add_supported_context(WORKLIST_UID)
    ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)])
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes our stdin


class ScpProcess:
    """One SCP in a child process, stopped by PID when the block ends."""

    def __init__(self, kind: str, many: int) -> None:
        self.kind = kind
        self.many = many
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ScpProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                self.kind,
                str(self.port),
                "--responses",
                str(self.many),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{self.kind} SCP did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        stop_process(process, 5)


# -- scenario 1: streaming ------------------------------------------------------------


async def stream_with_our_scu(port: int, called_ae: str, expected: int) -> float:
    async with aiodicom.connect(
        "127.0.0.1", port, called_ae=called_ae, models=("worklist",)
    ) as assoc:
        started = time.perf_counter()
        count = 0
        stream = assoc.find_responses(query(MANY))
        async with asyncio.timeout(120):
            async for result in stream:
                count += 1 if not result.is_final else 0
        elapsed = time.perf_counter() - started
    if count != expected or stream.status != 0:
        raise RuntimeError(f"got {count} responses, status {stream.status}")
    return count / elapsed


def stream_with_findscu(port: int, expected: int) -> float:
    started = time.perf_counter()
    output = subprocess.run(
        ["/usr/bin/findscu", "-v", "-sr", "-W", "-k", f"PatientID={MANY}", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TCP_NODELAY": "1"},
        check=False,
    )
    elapsed = time.perf_counter() - started
    count = (output.stdout + output.stderr).count("Received Find Response")
    if count != expected:
        raise RuntimeError(f"findscu saw {count} responses")
    return count / elapsed


# -- scenario 2: association churn ------------------------------------------------------


async def churn(port: int, called_ae: str, clients: int, seconds: float, max_ops: int) -> float:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    done = 0
    failures = 0
    errors: set[str] = set()

    async def client() -> None:
        nonlocal done, failures
        while loop.time() < deadline and done < max_ops:
            try:
                async with aiodicom.connect(
                    "127.0.0.1", port, called_ae=called_ae, models=(), acse_timeout=10
                ) as assoc:
                    await assoc.echo()
                done += 1
            except aiodicom.AiodicomError as exc:
                failures += 1
                errors.add(type(exc).__name__ + ": " + str(exc)[:80])

    started = loop.time()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = loop.time() - started
    if failures:
        print(f"  ({failures} failed associations: {'; '.join(sorted(errors)[:3])})")
    return done / elapsed


# -- scenario 3: one-match round trip ---------------------------------------------------


async def round_trips(port: int, called_ae: str, count: int, seconds: float) -> tuple[float, float]:
    samples: list[float] = []
    async with aiodicom.connect(
        "127.0.0.1", port, called_ae=called_ae, models=("worklist",)
    ) as assoc:
        one = query("ONE")
        for _ in range(20):  # warm-up
            [ds async for ds in assoc.find(one)]
        deadline = time.perf_counter() + seconds
        while len(samples) < count and time.perf_counter() < deadline:
            started = time.perf_counter()
            matches = [ds async for ds in assoc.find(one)]
            samples.append(time.perf_counter() - started)
            if len(matches) != 1:
                raise RuntimeError(f"expected one match, got {len(matches)}")
    quantiles = statistics.quantiles(samples, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000


# -- main -------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> list[str]:
    lines: list[str] = []

    def report(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    n = args.responses
    with ScpProcess("ours", n) as ours, ScpProcess("pynetdicom", n) as theirs:
        ours_rate = await stream_with_our_scu(ours.port, "ANY-SCP", n)
        report(f"stream {n} pending, our SCP -> our SCU: {ours_rate:,.0f} responses/s")
        dcmtk_rate = await asyncio.to_thread(stream_with_findscu, ours.port, n)
        report(f"stream {n} pending, our SCP -> DCMTK findscu: {dcmtk_rate:,.0f} responses/s")
        py_rate = await stream_with_our_scu(theirs.port, "PYSCP", n)
        report(f"stream {n} pending, pynetdicom SCP -> our SCU: {py_rate:,.0f} responses/s")
        report(f"  ratio ours/pynetdicom SCP: {ours_rate / py_rate:.1f}x")

        ours_churn = await churn(ours.port, "ANY-SCP", args.clients, args.seconds, 20_000)
        report(f"assoc+echo+release, {args.clients} clients, our SCP: {ours_churn:,.0f}/s")
        py_churn = await churn(theirs.port, "PYSCP", args.clients, args.seconds, 20_000)
        report(f"assoc+echo+release, {args.clients} clients, pynetdicom SCP: {py_churn:,.0f}/s")
        report(f"  ratio ours/pynetdicom SCP: {ours_churn / py_churn:.1f}x")

        p50, p99 = await round_trips(ours.port, "ANY-SCP", 2000, args.seconds)
        report(f"one-match C-FIND round trip, our SCP: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        py50, py99 = await round_trips(theirs.port, "PYSCP", 2000, args.seconds)
        report(f"one-match C-FIND round trip, pynetdicom SCP: p50 {py50:.2f} ms, p99 {py99:.2f} ms")
        report(f"  ratio pynetdicom/ours p50: {py50 / p50:.1f}x")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="aiodicom core benchmark")
    parser.add_argument("--responses", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound per scenario")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        kind, port = args.serve[0], int(args.serve[1])
        if kind == "ours":
            run(serve_ours(port, args.responses))
        else:
            serve_pynetdicom(port, args.responses)
        return 0
    run(bench(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
