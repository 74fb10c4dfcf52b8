"""Worklist management API benchmark: list, create, page load with 1,000 items on one day.

    python bench/bench_webapi.py [--items 1000] [--requests 200] [--write]

Serves a generated data folder (``--items`` items, all scheduled today) with the
worklist store and the HTTP API in this process, on uvloop, and measures from an aiohttp
client on the same loop (so figures include client overhead):

1. ``GET /api/items?date=today&limit=100`` and ``limit=1000``: p50 / p95 ms;
2. ``POST /api/items`` (flat form, atomic YAML write + fsync, background store reload):
   p50 / p95 ms, then the time until the new item is in the store (C-FIND visible);
3. ``GET /`` (server-rendered page with every item of the day): p50 / p95 ms.

Every scenario is bounded by a count and by ``--seconds``. Targets: list and create p50
< 10 ms, page < 200 ms. Holds /tmp/aiodicom-bench.lock while running; ``--write``
updates the "Worklist management" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from _common import bench_lock, pct, write_section

from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi import QueryLog, WebSettings
from aiodicom.webapi.server import start_http
from aiodicom.worklist.sample import SampleOptions, write_folder

WRITE = {"X-Requested-With": "aiodicom"}
Row = tuple[str, int, float, float]


async def measure(
    name: str, call: Callable[[int], Awaitable[None]], count: int, seconds: float
) -> Row:
    """Run ``call`` up to ``count`` times (at most ``seconds``); return p50/p95 in ms."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    for index in range(count):
        started = time.perf_counter()
        await call(index)
        samples.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > deadline:
            break
    row = (name, len(samples), statistics.median(samples), pct(samples, 0.95))
    print(f"{name:<44} n={row[1]:>4}  p50={row[2]:7.2f} ms  p95={row[3]:7.2f} ms")
    return row


async def get_ok(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(url) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")


def getter(http: aiohttp.ClientSession, url: str) -> Callable[[int], Awaitable[None]]:
    async def call(_index: int) -> None:
        await get_ok(http, url)

    return call


def item_body(index: int) -> dict[str, str]:
    start = datetime.datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    return {"id": f"bench-{index}", "patient_name": f"Bench^{index}",
            "patient_id": f"BENCH{index:06d}", "modality": "CT", "station_ae": "CT01",
            "start": start.isoformat(timespec="minutes"), "description": "CT HEAD"}  # fmt: skip


async def scenarios(args: argparse.Namespace, root: Path) -> list[Row]:
    store = WorklistStore(root)
    store.reload()
    server = await start_http(store, WebSettings(port=0), QueryLog())
    rows: list[Row] = []
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            for limit in (100, 1000):
                url = f"/api/items?date=today&limit={limit}"
                await get_ok(http, url)  # warm the per-generation cache
                rows.append(await measure(f"GET /api/items limit={limit}",
                                          getter(http, url),
                                          args.requests, args.seconds))  # fmt: skip

            async def create(index: int) -> None:
                async with http.post("/api/items", json=item_body(index), headers=WRITE) as rsp:
                    if rsp.status != 201:
                        raise RuntimeError(f"POST: HTTP {rsp.status}: {await rsp.text()}")

            rows.append(await measure("POST /api/items (fsync + reload)", create,
                                      args.creates, args.seconds))  # fmt: skip
            rows.append(await visible_after_post(http, store))
            await get_ok(http, "/")
            rows.append(await measure(f"GET / page ({args.items}+ items today)",
                                      getter(http, "/"), args.pages,
                                      args.seconds))  # fmt: skip
    finally:
        await server.stop()
    return rows


async def visible_after_post(http: aiohttp.ClientSession, store: WorklistStore) -> Row:
    """POST, then poll the store snapshot until the item is served to C-FIND."""
    samples = []
    for index in range(10):
        started = time.perf_counter()
        body = item_body(100_000 + index)
        async with http.post("/api/items", json=body, headers=WRITE) as response:
            await response.read()
        for _ in range(1000):
            worklist = store.snapshot.get("WLMSCP")
            if worklist and any(i.path.endswith(f"bench-{100_000 + index}.yaml")
                                for i in worklist.items):  # fmt: skip
                break
            await asyncio.sleep(0.002)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    row = ("POST -> in the C-FIND snapshot", len(samples), statistics.median(samples), samples[-1])
    print(f"{row[0]:<44} n={row[1]:>4}  p50={row[2]:7.2f} ms  max={row[3]:7.2f} ms")
    return row


def write_markdown(rows: list[Row], args: argparse.Namespace) -> None:
    lines = [
        "## Worklist management",
        "",
        f"`python bench/bench_webapi.py --items {args.items}` ({datetime.date.today()}, "
        "2-core shared machine, uvloop, client and server in one process, loopback). "
        "Targets: list and create p50 < 10 ms, page < 200 ms.",
        "",
        "| scenario | n | p50 ms | p95 ms (max for the snapshot row) |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {n} | {p50:.2f} | {p95:.2f} |" for name, n, p50, p95 in rows],
        "",
        "Create = validate + YAML write to a temporary file + fsync + os.replace + a "
        "background store reload (a list request waits for a pending reload: read-your-"
        "writes). Lists are served from the store snapshot, cached per generation.",
        "",
    ]
    write_section("## Worklist management", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="items scheduled today")
    parser.add_argument("--requests", type=int, default=200, help="list requests per scenario")
    parser.add_argument("--creates", type=int, default=100, help="POSTs")
    parser.add_argument("--pages", type=int, default=50, help="page loads")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per scenario")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None
    today = int(datetime.date.today().strftime("%Y%m%d"))
    with bench_lock(), tempfile.TemporaryDirectory(prefix="aiodicom-webapi-bench-") as work:
        root = Path(work)
        options = SampleOptions(base_date=today, days=1, max_steps=1)
        write_folder(root, "WLMSCP", args.items, seed=5, options=options)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            rows = runner.run(scenarios(args, root))
        if args.write:
            write_markdown(rows, args)  # still under the lock


if __name__ == "__main__":
    main()
