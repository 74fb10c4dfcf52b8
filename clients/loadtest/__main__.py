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
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from aiodicom.errors import ConfigError
from aiodicom.net.loop import run as run_loop
from aiodicom.proto.negotiation import QueryModel

from .config import QueryMix, Target, WeightedQuery, apply_target, load_yaml, queries_from_keys
from .multi import run_processes
from .runner import LoadRunner, RunSettings
from .stats import LoadStats, render_text

EPILOG = """exit status: 0 = error rate <= --max-error-rate, 1 = above it,
2 = usage or config error, 130 = interrupted before any query finished.
Every run stops at --count queries or after --duration seconds, whichever comes first."""


def build_parser() -> argparse.ArgumentParser:
    """Command line parser."""
    parser = argparse.ArgumentParser(
        prog="aiodicom-loadtest",
        description="C-FIND load generator with HDR latency percentiles",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("host", nargs="?", help="SCP host (or target.host in --config)")
    parser.add_argument("port", nargs="?", type=int, help="SCP port (or target.port)")
    parser.add_argument("-c", "--config", metavar="YAML", help="target + weighted query mix")
    parser.add_argument("-k", "--key", action="append", default=[], help="findscu -k key")
    parser.add_argument("-aec", "--call", help="called AE title (default ANY-SCP)")
    parser.add_argument("-aet", "--aetitle", help="calling AE title (default LOADTEST)")
    parser.add_argument("-m", "--model", choices=[m.value for m in QueryModel])
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument(
        "-n", "--concurrency", type=int, default=10, help="queries in flight (all processes)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=1,
        help="propose an asynchronous operations window: queries per association (PS3.7 D.3.3.3)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="generator processes (reports merged)"
    )
    parser.add_argument("-r", "--rate", type=float, default=100.0, help="open loop: queries/s")
    parser.add_argument("--count", type=int, default=1000, help="maximum number of queries")
    parser.add_argument("--duration", type=float, default=60.0, help="maximum seconds")
    parser.add_argument("--association", choices=("reuse", "new"), default="reuse")
    parser.add_argument("--timeout", type=float, default=30.0, help="per query, seconds")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds for in-flight at end")
    parser.add_argument("--max-error-rate", type=float, default=0.0, help="0..1 (default 0)")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--seed", type=int, default=None, help="query mix random seed")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    return parser


def _check(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    positive = ("concurrency", "rate", "count", "duration", "timeout", "window", "processes")
    for name in positive:
        if getattr(ns, name) <= 0:
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
    settings = RunSettings(
        mode=ns.mode,
        concurrency=ns.concurrency,
        rate=ns.rate,
        count=ns.count,
        duration=ns.duration,
        association=ns.association,
        timeout=ns.timeout,
        drain=ns.drain,
        window=ns.window,
    )
    return target, QueryMix(queries, seed=ns.seed), settings


async def _progress(runner: LoadRunner, stats: LoadStats, console: Console) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[rate]:.0f} q/s"),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("C-FIND", total=runner.settings.count, rate=0.0, errors=0)
        while True:
            progress.update(
                task,
                completed=stats.queries,
                rate=stats.queries / stats.elapsed,
                errors=stats.errors,
            )
            await asyncio.sleep(0.25)


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
    progress = asyncio.create_task(_progress(runner, stats, console)) if show_progress else None
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
