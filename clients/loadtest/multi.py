"""Several load generator processes whose reports merge into one (``--processes N``).

One Python process saturates one core; on a small machine that also runs the SCP, the
generator needs more than one to offer the load a few C clients (findscu) can. The run's
``count``, ``concurrency`` and open-loop ``rate`` are split evenly among the processes;
each returns its counters and its HDR histogram (encoded), which are added up here, so
the percentiles are those of all queries, not an average of per-process percentiles.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import signal
from typing import Any

from aiodicom.net import run as run_loop

from .config import QueryMix, Target
from .runner import RunSettings
from .stats import LoadStats


def split_settings(settings: RunSettings, processes: int) -> list[RunSettings]:
    """The share of each process: count and rate divided, concurrency rounded up.

    Without a count (a run bounded by its duration only) each process runs for the
    duration.
    """
    concurrency = max(1, math.ceil(settings.concurrency / processes))
    counts: list[int | None]
    if settings.count is None:
        counts = [None] * processes
    else:
        base, extra = divmod(settings.count, processes)
        counts = [base + (1 if index < extra else 0) for index in range(processes)]
    return [
        dataclasses.replace(
            settings, count=count, concurrency=concurrency, rate=settings.rate / processes
        )
        for count in counts
        if count is None or count > 0
    ]


def _child(job: tuple[Target, QueryMix, RunSettings]) -> tuple[dict[str, Any], bool]:
    from .__main__ import run  # late import: __main__ imports this module

    target, mix, settings = job
    stats, interrupted = run_loop(run(target, mix, settings, show_progress=False))
    return stats.to_wire(), interrupted


def run_processes(
    target: Target, mix: QueryMix, settings: RunSettings, processes: int
) -> tuple[LoadStats, bool]:
    """Run ``processes`` generators (fork) and merge their statistics."""
    shares = split_settings(settings, processes)
    jobs = [
        (target, dataclasses.replace(mix, seed=None if mix.seed is None else mix.seed + i), share)
        for i, share in enumerate(shares)
    ]
    context = multiprocessing.get_context("fork")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # children stop and report
    try:
        with context.Pool(len(jobs)) as pool:
            results = pool.map(_child, jobs)
    finally:
        signal.signal(signal.SIGINT, previous)
    merged = LoadStats(started=min(wire["started"] for wire, _ in results))
    merged.finished = merged.started
    for wire, _ in results:
        merged.merge(wire)
    return merged, any(interrupted for _, interrupted in results)
