"""Soak test: mixed load against the worklist SCP and the Q/R SCP for a set time.

    python bench/soak.py --seconds 600 [--clients 4] [--reload-every 3] [--json]

Two server subprocesses (the worklist SCP with the ops features, reloaded with SIGHUP
every few seconds, and ``aiodicom-qrscp``) receive from ``--clients`` concurrent loops:
one-shot worklist queries, Q/R study queries on a kept association, C-CANCEL after the
first match (PS3.7 9.3.2.3), A-ABORT from the client (PS3.8 9.3.8) and one-shot C-ECHO
associations. The report has throughput per operation, errors and RSS over time; the
run passes when errors are 0 and the RSS of each server stays within 10 % of its value
at the end of the warm-up (the first 25 % of the run, at least 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydicom import Dataset  # noqa: E402

import aiodicom  # noqa: E402
from aiodicom.log import configure  # noqa: E402
from tests.hardening.support import (  # noqa: E402
    AE,
    qr_process,
    rss_kb,
    scp_process,
    worklist_query,
)

RSS_TOLERANCE = 0.10


@dataclass
class Soak:
    worklist_port: int
    qr_port: int
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    reloads: int = 0


def study_query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = "*"
    ds.StudyInstanceUID = ""
    ds.StudyDate = ""
    return ds


async def worklist_once(soak: Soak) -> None:
    async with aiodicom.connect(
        "127.0.0.1", soak.worklist_port, called_ae=AE, models=["worklist"], acse_timeout=10
    ) as assoc:
        found = [ds async for ds in assoc.find(worklist_query(), "worklist")]
    if not found:
        raise RuntimeError("worklist query found nothing")


async def cancel_once(soak: Soak) -> None:
    async with aiodicom.connect(
        "127.0.0.1", soak.worklist_port, called_ae=AE, models=["worklist"], acse_timeout=10
    ) as assoc:
        stream = assoc.find(worklist_query(), "worklist")
        async for _ in stream:
            break
        await stream.aclose()
        if await assoc.echo() != 0:
            raise RuntimeError("echo after cancel failed")


async def abort_once(soak: Soak) -> None:
    port = soak.qr_port if soak.ops["abort"] % 2 else soak.worklist_port
    async with aiodicom.connect("127.0.0.1", port, called_ae=AE, acse_timeout=10) as assoc:
        await assoc.echo()
        await assoc.abort()


async def echo_once(soak: Soak) -> None:
    async with aiodicom.connect("127.0.0.1", soak.qr_port, acse_timeout=10) as assoc:
        if await assoc.echo() != 0:
            raise RuntimeError("echo failed")


async def qr_loop(soak: Soak, deadline: float) -> None:
    """Study-root queries on one kept association (re-opened only after an error)."""
    while time.monotonic() < deadline:
        try:
            async with aiodicom.connect(
                "127.0.0.1", soak.qr_port, models=["study"], acse_timeout=10
            ) as assoc:
                while time.monotonic() < deadline:
                    found = [ds async for ds in assoc.find(study_query(), "study")]
                    if not found:
                        raise RuntimeError("Q/R query found nothing")
                    soak.ops["qr-find"] += 1
        except (aiodicom.AiodicomError, OSError, RuntimeError) as exc:
            soak.errors[f"qr-find: {type(exc).__name__}: {exc}"[:160]] += 1
            await asyncio.sleep(0.1)


MIX: tuple[tuple[str, Callable[[Soak], Awaitable[None]]], ...] = (
    ("worklist-find", worklist_once),
    ("worklist-find", worklist_once),
    ("cancel", cancel_once),
    ("abort", abort_once),
    ("echo", echo_once),
)


async def client_loop(soak: Soak, deadline: float, offset: int) -> None:
    index = offset
    while time.monotonic() < deadline:
        name, operation = MIX[index % len(MIX)]
        index += 1
        try:
            await operation(soak)
            soak.ops[name] += 1
        except (aiodicom.AiodicomError, OSError, RuntimeError) as exc:
            soak.errors[f"{name}: {type(exc).__name__}: {exc}"[:160]] += 1


async def reload_loop(soak: Soak, pid: int, every: float, deadline: float) -> None:
    while time.monotonic() + every < deadline:
        await asyncio.sleep(every)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)
            soak.reloads += 1


async def sample_loop(soak: Soak, pids: tuple[int, int], deadline: float, start: float) -> None:
    while time.monotonic() < deadline:
        soak.samples.append((time.monotonic() - start, rss_kb(pids[0]), rss_kb(pids[1])))
        await asyncio.sleep(1.0)


async def drive(soak: Soak, pids: tuple[int, int], seconds: float, clients: int,
                reload_every: float) -> None:  # fmt: skip
    start = time.monotonic()
    deadline = start + seconds
    tasks = [client_loop(soak, deadline, i) for i in range(clients)]
    tasks.append(qr_loop(soak, deadline))
    tasks.append(reload_loop(soak, pids[0], reload_every, deadline))
    tasks.append(sample_loop(soak, pids, deadline, start))
    await asyncio.gather(*tasks)


def rss_verdict(samples: list[tuple[float, int, int]], seconds: float) -> dict[str, object]:
    warm = max(5.0, seconds * 0.25)
    after = [s for s in samples if s[0] >= warm]
    if not after:
        return {"ok": False, "why": "no RSS samples after warm-up"}
    result: dict[str, object] = {"warmup_s": warm}
    ok = True
    for column, name in ((1, "worklist"), (2, "qr")):
        base = after[0][column]
        peak = max(s[column] for s in after)
        growth = (peak - base) / base
        ok = ok and growth <= RSS_TOLERANCE
        result[name] = {
            "start_kb": samples[0][column], "warm_kb": base, "max_kb": peak,
            "end_kb": after[-1][column], "growth_pct": round(100 * growth, 2),
        }  # fmt: skip
    result["ok"] = ok
    return result


def run(seconds: float, clients: int, reload_every: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aiodicom-soak-") as work:
        folder = Path(work)
        with (
            scp_process(folder, ["--no-audit", "--log-level", "warning"]) as worklist,
            qr_process(folder) as (qr, qr_port),
        ):
            soak = Soak(worklist.port, qr_port)
            pids = (worklist.pid, qr.pid)
            asyncio.run(drive(soak, pids, seconds, clients, reload_every))
            alive = worklist.process.poll() is None and qr.poll() is None
    total = sum(soak.ops.values())
    step = max(1, len(soak.samples) // 20)
    rss = rss_verdict(soak.samples, seconds)
    return {
        "seconds": seconds,
        "operations": total,
        "ops_per_second": round(total / seconds, 1),
        "by_operation": dict(soak.ops),
        "errors": sum(soak.errors.values()),
        "error_kinds": dict(soak.errors.most_common(5)),
        "reloads": soak.reloads,
        "servers_alive": alive,
        "rss": rss,
        "rss_series_kb": [(round(t), w, q) for t, w, q in soak.samples[::step]],
        "passed": bool(rss["ok"]) and not soak.errors and alive,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--reload-every", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure("console", "critical")
    report = run(args.seconds, args.clients, args.reload_every)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>15}: {value}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
