"""Several load generator processes whose reports merge into one (``--processes N``).

One Python process saturates one core; on a small machine that also runs the SCP, the
generator needs more than one to offer the load a few C clients (findscu) can. The run's
``count``, ``concurrency``, open-loop ``rate`` and stage levels are split evenly among
the processes (a closed loop's level rounded up), and so are the rows of a ``--values``
file and the values of counters; each process returns its counters and HDR histograms
(encoded), which are added up here, so the percentiles are those of all queries, not an
average of per-process percentiles.
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
from .stages import Stage
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
    stages = tuple(Stage(s.duration, s.level / processes) for s in settings.stages)
    return [
        dataclasses.replace(
            settings,
            count=count,
            concurrency=concurrency,
            rate=settings.rate / processes,
            stages=stages,
        )
        for count in counts
        if count is None or count > 0
    ]


_JOBS: list[tuple[Target, QueryMix, RunSettings]] = []
"""The jobs of the forked children, inherited through fork rather than pickled (a query
mix holds placeholder generators, which are closures)."""


def _child(index: int) -> tuple[dict[str, Any], bool]:
    from .__main__ import run  # late import: __main__ imports this module

    target, mix, settings = _JOBS[index]
    stats, interrupted = run_loop(run(target, mix, settings, show_progress=False))
    return stats.to_wire(), interrupted


def run_processes(
    target: Target, mix: QueryMix, settings: RunSettings, processes: int
) -> tuple[LoadStats, bool]:
    """Run ``processes`` generators (fork) and merge their statistics."""
    shares = split_settings(settings, processes)
    _JOBS[:] = [(target, mix.split(i, len(shares)), share) for i, share in enumerate(shares)]
    context = multiprocessing.get_context("fork")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # children stop and report
    try:
        with context.Pool(len(_JOBS)) as pool:
            results = pool.map(_child, range(len(_JOBS)))
    finally:
        signal.signal(signal.SIGINT, previous)
        _JOBS.clear()
    merged = LoadStats.from_wires([wire for wire, _ in results])
    return merged, any(interrupted for _, interrupted in results)
