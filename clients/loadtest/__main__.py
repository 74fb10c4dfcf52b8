"""``aiodicom-loadtest``: drive a C-FIND SCP (PS3.4 C.4.1 / K.4.1) and report latency.

``aiodicom-loadtest merge A.json B.json ...`` adds up reports of several hosts
(:mod:`.merge`). Exit status: 0 when the error rate is at most ``--max-error-rate`` and
every ``--threshold`` passed, 1 otherwise, 2 on usage/config errors, 130 when
interrupted before any query finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from aiodicom.errors import ConfigError
from aiodicom.net import run as run_loop

from . import merge
from .cli import build_parser, check, configure, start_time, thresholds
from .config import QueryMix, Target
from .multi import run_processes
from .output import finish, thresholds_failed
from .progress import live_progress
from .runner import LoadRunner, RunSettings
from .stats import LoadStats
from .timeseries import TimeSeries

__all__ = ["build_parser", "configure", "main", "run"]


async def run(
    target: Target, mix: QueryMix, settings: RunSettings, *, show_progress: bool
) -> tuple[LoadStats, bool]:
    """Run the load test; Ctrl-C (SIGINT) or SIGTERM stops it and still reports."""
    stats = LoadStats(series=TimeSeries(settings.interval))
    runner = LoadRunner(target, mix, settings, stats)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, runner.stop)
    console = Console(stderr=True)
    progress = asyncio.create_task(live_progress(runner, stats, console)) if show_progress else None
    try:
        await runner.run()
    finally:
        if progress is not None:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    return stats, runner.stopped


def _settings_report(settings: RunSettings, processes: int) -> dict[str, Any]:
    return {
        "mode": settings.mode,
        "concurrency": settings.concurrency,
        "rate": settings.rate if settings.mode == "open" else None,
        "association": settings.association,
        "window": settings.window,
        "processes": processes,
        "count": settings.count,
        "duration": settings.duration,
        "stages": [[stage.duration, stage.level] for stage in settings.stages],
        "warmup": settings.warmup,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["merge"]:
        return merge.main(args[1:])
    parser = build_parser()
    ns = parser.parse_args(args)
    check(parser, ns)
    try:
        target, mix, settings = configure(ns)
        limits = thresholds(ns, mix)
        begin = start_time(ns.start_at) if ns.start_at else None
    except ConfigError as exc:
        parser.error(str(exc))
    if begin is not None:
        time.sleep(max(0.0, begin - time.time()))
    show = not ns.no_progress and sys.stderr.isatty()
    if ns.processes > 1:
        stats, interrupted = run_processes(target, mix, settings, ns.processes)
    else:
        stats, interrupted = run_loop(run(target, mix, settings, show_progress=show))
    extra = {
        "interrupted": interrupted,
        "target": f"{target.host}:{target.port} {target.calling_ae}->{target.called_ae}",
        "settings": _settings_report(settings, ns.processes),
    }
    report = finish(stats, limits, extra, json_path=ns.json, html_path=ns.report_html)
    if interrupted and stats.queries == 0:
        return 130
    failed = stats.error_rate > ns.max_error_rate or thresholds_failed(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
