"""``aiodicom-loadtest``: drive a C-FIND SCP (PS3.4 C.4.1 / K.4.1) and report latency.

Exit status: 0 when the error rate is at most ``--max-error-rate``, 1 when above it,
2 on usage/config errors, 130 when interrupted before any query finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from aiodicom.errors import ConfigError
from aiodicom.net import run as run_loop
from aiodicom.proto import QueryModel

from .config import QueryMix, Target, WeightedQuery, apply_target, load_yaml, queries_from_keys
from .multi import run_processes
from .progress import live_progress
from .runner import LoadRunner, RunSettings
from .stats import LoadStats, render_text

DEFAULT_COUNT = 1000
DEFAULT_DURATION = 60.0

EPILOG = f"""run bounds: the run stops at --count queries or after --duration seconds,
whichever comes first. Give one and only that one applies; give neither and the run
stops at {DEFAULT_COUNT} queries or after {DEFAULT_DURATION:g} s.

exit status: 0 = error rate <= --max-error-rate, 1 = above it,
2 = usage or config error, 130 = interrupted before any query finished."""


def build_parser() -> argparse.ArgumentParser:
    """Command line parser."""
    parser = argparse.ArgumentParser(
        prog="aiodicom-loadtest",
        description="C-FIND load generator with HDR latency percentiles",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    target = Target()
    add = parser.add_argument
    add("host", nargs="?", help="SCP host (or target.host in --config)")
    add("port", nargs="?", type=int, help=f"SCP port (or target.port; default {target.port})")
    add("-c", "--config", metavar="YAML", help="target + weighted query mix")
    add("-k", "--key", action="append", default=[], help="findscu -k key (instead of --config)")
    add("-aec", "--call", help=f"called AE title (or target.called_ae; default {target.called_ae})")
    add("-aet", "--aetitle", help=f"calling AE title (default {target.calling_ae})")
    add(
        "-m",
        "--model",
        choices=[m.value for m in QueryModel],
        help=f"query model of -k queries (or target.model; default {target.model.value})",
    )
    add("--mode", choices=("closed", "open"), default="closed", help="load loop (default closed)")
    add("-n", "--concurrency", type=int, default=10, help="queries in flight (default 10)")
    add(
        "--window",
        type=int,
        default=1,
        help="propose an asynchronous operations window: queries per association "
        "(PS3.7 D.3.3.3; default 1)",
    )
    add("--processes", type=int, default=1, help="generator processes, merged (default 1)")
    add("-r", "--rate", type=float, default=100.0, help="open loop: queries/s (default 100)")
    add(
        "--count",
        type=int,
        help=f"stop after this many queries (default {DEFAULT_COUNT} when --duration is "
        "not given either, else no query limit)",
    )
    add(
        "--duration",
        type=float,
        help=f"stop after this many seconds (default {DEFAULT_DURATION:g} when --count is "
        "not given either, else no time limit)",
    )
    add(
        "--association",
        choices=("reuse", "new"),
        default="reuse",
        help="reuse: a pool of associations; new: one per query (default reuse)",
    )
    add("--timeout", type=float, default=30.0, help="per query, seconds (default 30)")
    add("--drain", type=float, default=5.0, help="seconds for in-flight at end (default 5)")
    add("--max-error-rate", type=float, default=0.0, help="0..1 (default 0)")
    add("--json", metavar="FILE", help="write the report as JSON")
    add("--seed", type=int, default=None, help="query mix random seed (default random)")
    add("--no-progress", action="store_true", help="no live progress bar")
    return parser


def _check(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    positive = ("concurrency", "rate", "count", "duration", "timeout", "window", "processes")
    for name in positive:
        if getattr(ns, name) is not None and getattr(ns, name) <= 0:
            parser.error(f"--{name}: expected a positive number, got {getattr(ns, name)}")
    if not 0.0 <= ns.max_error_rate <= 1.0:
        parser.error(f"--max-error-rate: expected 0..1, got {ns.max_error_rate}")
    if not ns.config and not ns.key:
        parser.error("no queries: give --config YAML or at least one -k key")


def configure(ns: argparse.Namespace) -> tuple[Target, QueryMix, RunSettings]:
    """Merge YAML and command line (the command line wins)."""
    target = Target()
    queries: list[WeightedQuery] = []
    if ns.config:
        values, queries = load_yaml(ns.config)
        apply_target(target, values, ns.config)
    overrides = {"host": ns.host, "port": ns.port, "called_ae": ns.call, "calling_ae": ns.aetitle}
    for key, value in overrides.items():
        if value is not None:
            setattr(target, key, value)
    if ns.model:
        target.model = QueryModel.parse(ns.model)
    if ns.key:
        queries = queries_from_keys(ns.key, target.model)
    if ns.host is None and not ns.config:
        raise ConfigError(None, "host", "a host argument or target.host in --config")
    count, duration = ns.count, ns.duration
    if count is None and duration is None:
        count, duration = DEFAULT_COUNT, DEFAULT_DURATION
    settings = RunSettings(
        mode=ns.mode,
        concurrency=ns.concurrency,
        rate=ns.rate,
        count=count,
        duration=duration,
        association=ns.association,
        timeout=ns.timeout,
        drain=ns.drain,
        window=ns.window,
    )
    return target, QueryMix(queries, seed=ns.seed), settings


async def run(
    target: Target, mix: QueryMix, settings: RunSettings, *, show_progress: bool
) -> tuple[LoadStats, bool]:
    """Run the load test; Ctrl-C (SIGINT) or SIGTERM stops it and still reports."""
    stats = LoadStats()
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    _check(parser, ns)
    try:
        target, mix, settings = configure(ns)
    except ConfigError as exc:
        parser.error(str(exc))
    show = not ns.no_progress and sys.stderr.isatty()
    if ns.processes > 1:
        stats, interrupted = run_processes(target, mix, settings, ns.processes)
    else:
        stats, interrupted = run_loop(run(target, mix, settings, show_progress=show))
    report = stats.report()
    report["interrupted"] = interrupted
    report["target"] = f"{target.host}:{target.port} {target.calling_ae}->{target.called_ae}"
    report["settings"] = {
        "mode": settings.mode,
        "concurrency": settings.concurrency,
        "rate": settings.rate if settings.mode == "open" else None,
        "association": settings.association,
        "window": settings.window,
        "processes": ns.processes,
        "count": settings.count,
        "duration": settings.duration,
    }
    print(render_text(report))
    if ns.json:
        Path(ns.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if interrupted and stats.queries == 0:
        return 130
    return 1 if stats.error_rate > ns.max_error_rate else 0


if __name__ == "__main__":
    sys.exit(main())
