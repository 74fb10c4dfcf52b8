"""The command line of ``aiodicom-loadtest``: options, checks, and the run they describe."""

from __future__ import annotations

import argparse
import datetime
import math
import time

from aiodicom.errors import ConfigError
from aiodicom.proto import QueryModel

from .config import (
    QueryMix,
    Target,
    WeightedQuery,
    apply_target,
    load_thresholds,
    load_yaml,
    queries_from_keys,
)
from .runner import RunSettings
from .stages import parse_duration, parse_stage
from .thresholds import Threshold, check_scopes, parse_threshold
from .values import load_values

DEFAULT_COUNT = 1000
DEFAULT_DURATION = 60.0

EPILOG = f"""run bounds: the run stops at --count queries or after --duration seconds,
whichever comes first. Give one and only that one applies; give neither and the run
stops at {DEFAULT_COUNT} queries or after {DEFAULT_DURATION:g} s (with --stage: after the
stages). Warm-up queries (--warmup) are not counted.

placeholders in key values ({{column}} of --values, {{date:LO..HI}}, {{choice:A|B}},
{{int:LO..HI}}, {{counter:START}}): see docs/clients.md.

merge: aiodicom-loadtest merge A.json B.json ... [--json OUT] [--report-html OUT]
[--threshold ...] adds up reports of generator hosts run together.

exit status: 0 = error rate <= --max-error-rate and every --threshold passed, 1 = not,
2 = usage or config error, 130 = interrupted before any query finished."""


def _duration(text: str) -> float:
    try:
        return parse_duration(text, "duration")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"expected {exc.expected}, got {text!r}") from exc


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
    add("--values", metavar="CSV", help="rows for {column} placeholders (header line first)")
    add(
        "--values-order",
        choices=("sequential", "random"),
        default="sequential",
        help="draw rows in file order or at random (default sequential)",
    )
    add("--values-once", action="store_true", help="use each row once; the run ends after")
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
        "--stage",
        action="append",
        default=[],
        metavar="DURATION:LEVEL",
        help="ramp to LEVEL (closed: concurrency, open: rate) over DURATION, e.g. 30s:10; "
        "repeat for several stages",
    )
    add("--warmup", type=_duration, default=0.0, help="uncounted seconds first (default 0)")
    add(
        "--count",
        type=int,
        help=f"stop after this many queries (default {DEFAULT_COUNT} when --duration is "
        "not given either, else no query limit)",
    )
    add(
        "--duration",
        type=_duration,
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
    add(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="fail the run unless EXPR holds: p99<50ms, error_rate<0.1%%, rate>500, "
        "NAME:p95<20ms (repeatable)",
    )
    add("--interval", type=float, default=1.0, help="time series interval, s (default 1)")
    add("--json", metavar="FILE", help="write the report as JSON")
    add("--report-html", metavar="FILE", help="write a self-contained HTML report")
    add("--start-at", metavar="TIME", help="start at a wall-clock time: HH:MM:SS, ISO or epoch")
    add("--seed", type=int, default=None, help="query mix random seed (default random)")
    add("--no-progress", action="store_true", help="no live progress bar")
    return parser


def check(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    """Usage errors that argparse cannot see (exit 2)."""
    positive = ("concurrency", "rate", "count", "duration", "timeout", "window", "processes")
    for name in (*positive, "interval"):
        if getattr(ns, name) is not None and getattr(ns, name) <= 0:
            parser.error(f"--{name}: expected a positive number, got {getattr(ns, name)}")
    if not 0.0 <= ns.max_error_rate <= 1.0:
        parser.error(f"--max-error-rate: expected 0..1, got {ns.max_error_rate}")
    if not ns.config and not ns.key:
        parser.error("no queries: give --config YAML or at least one -k key")


def start_time(text: str, now: float | None = None) -> float:
    """Epoch seconds of ``--start-at``: HH:MM[:SS] (today, local time), an ISO 8601
    date and time, or epoch seconds. A time already past is an error."""
    now = time.time() if now is None else now
    try:
        when = float(text)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            try:
                clock = datetime.time.fromisoformat(text)
            except ValueError as exc:
                raise ConfigError(None, "--start-at", "HH:MM:SS, ISO 8601 or epoch", text) from exc
            today = datetime.datetime.fromtimestamp(now).date()
            moment = datetime.datetime.combine(today, clock)
        when = moment.timestamp()
    if when < now - 1.0:
        raise ConfigError(None, "--start-at", "a time not yet past", text)
    return when


def _bounds(ns: argparse.Namespace, stages_total: float | None) -> tuple[int | None, float | None]:
    count, duration = ns.count, ns.duration
    if stages_total is not None:
        duration = stages_total if duration is None else min(duration, stages_total)
    elif count is None and duration is None:
        count, duration = DEFAULT_COUNT, DEFAULT_DURATION
    return count, duration


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
    stages = tuple(parse_stage(text) for text in ns.stage)
    total = sum(stage.duration for stage in stages) if stages else None
    if total is not None and total <= 0:
        raise ConfigError(None, "--stage", "stages lasting more than 0 s in all")
    count, duration = _bounds(ns, total)
    peak = max((stage.level for stage in stages), default=None)
    closed = ns.mode == "closed"
    settings = RunSettings(
        mode=ns.mode,
        concurrency=math.ceil(peak) if closed and peak else ns.concurrency,
        rate=peak if not closed and peak else ns.rate,
        count=count,
        duration=duration,
        association=ns.association,
        timeout=ns.timeout,
        drain=ns.drain,
        window=ns.window,
        stages=stages,
        warmup=ns.warmup,
        interval=ns.interval,
    )
    table = load_values(ns.values, ns.values_order, not ns.values_once) if ns.values else None
    mix = QueryMix(queries, seed=ns.seed, values=table)
    mix.check_values()
    return target, mix, settings


def thresholds(ns: argparse.Namespace, mix: QueryMix) -> list[Threshold]:
    """The command line's, the YAML file's and each query's thresholds."""
    found = [parse_threshold(text) for text in ns.threshold]
    if ns.config:
        found.extend(load_thresholds(ns.config))
    for query in mix.queries:
        found.extend(query.thresholds)
    check_scopes(found, (query.name for query in mix.queries))
    return found
