"""Standalone fuzzer for the protocol core and a live server, time-bounded.

    python bench/fuzz.py --seconds 600 [--max-inputs N] [--target core|server|all]
                         [--engine random|atheris] [--service find|mpps|store]

``random`` (default): a seeded loop of structure-aware mutations of the seed corpus
(tests/fixtures/pdus, tests/fixtures/fuzz) against the PDU decoder and an acceptor
Association (``core``) and against an in-process aiodicom server on loopback
(``server``: each seed once as it is, then mutations, from several peers at once).
``atheris``: coverage-guided libFuzzer (``pip install atheris``) on the core targets, run
in a child process; its final stats are parsed for the report.

A server failure is an exception reported by the event loop (a protocol callback or task
that raised) or an exception or error the server logs (:class:`ServerLog`): a handled
peer error is a warning, never an error or a traceback. The report gives inputs tried,
crashes (inputs in flight saved to --crash-dir), hangs, outcomes and max RSS; the exit
code is 1 when anything crashed or hung. tests/hardening/test_fuzz.py runs the server
target with a bounded budget. Hold ``flock /tmp/aiodicom-bench.lock`` for long runs on
shared machines.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402
from pydicom import Dataset  # noqa: E402

import aiodicom  # noqa: E402
from aiodicom import FindHandler, FindRequest  # noqa: E402
from aiodicom.log import configure  # noqa: E402
from tests.hardening import fuzzing, service_fuzz  # noqa: E402


@dataclass
class Report:
    engine: str
    target: str
    seconds: float = 0.0
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    max_rss_mb: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    crash_kinds: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "target": self.target,
            "seconds": round(self.seconds, 1),
            "inputs": self.inputs,
            "inputs_per_second": round(self.inputs / self.seconds) if self.seconds else 0,
            "crashes": self.crashes,
            "hangs": self.hangs,
            "max_rss_mb": round(self.max_rss_mb, 1),
            "outcomes": dict(self.outcomes.most_common()),
            "crash_kinds": dict(self.crash_kinds),
        }


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save_crash(crash_dir: Path, data: bytes, kind: str) -> None:
    crash_dir.mkdir(parents=True, exist_ok=True)
    name = f"crash-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    (crash_dir / name).write_bytes(data)
    (crash_dir / (name + ".txt")).write_text(kind)


def fuzz_core(
    report: Report,
    rng: random.Random,
    corpus: list[bytes],
    seconds: float,
    crash_dir: Path,
    *,
    max_inputs: int | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    budget = report.inputs + max_inputs if max_inputs is not None else None
    while time.monotonic() < deadline and (budget is None or report.inputs < budget):
        for _ in range(100 if budget is None else min(100, budget - report.inputs)):
            data = fuzzing.mutate(rng, rng.choice(corpus), corpus)
            report.inputs += 1
            try:
                fuzzing.run_decoder(data, rng)
                report.outcomes[fuzzing.run_association(data, rng).outcome] += 1
            except Exception as exc:
                kind = f"{type(exc).__name__} at {traceback.extract_tb(exc.__traceback__)[-1].name}"
                report.crashes += 1
                report.crash_kinds[kind] += 1
                save_crash(crash_dir, data, f"{kind}: {exc}")


async def _items(request: FindRequest) -> AsyncIterator[Dataset]:
    for index in range(3):
        ds = Dataset()
        ds.PatientName = f"FUZZ^{index}"
        yield ds


class ServerLog:
    """A structlog processor that turns what the server logs into failures.

    An entry with an exception (``log.exception``, ``exc_info``) or at level error or
    above is a failure: peer errors are handled and logged as warnings without a
    traceback. The stdlib ``logging`` root gets the same check (asyncio reports there).
    Everything is dropped after the check; :meth:`installed` restores the configuration.
    """

    def __init__(self, failed: Callable[[str], None]) -> None:
        self.failed = failed

    def __call__(self, _logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        exc_info = event.get("exc_info")
        if exc_info or method in ("error", "critical", "exception"):
            self.failed(f"server logged {method}: {event.get('event')}{_describe(exc_info)}")
        raise structlog.DropEvent

    @contextmanager
    def installed(self) -> Iterator[ServerLog]:
        saved = structlog.get_config() if structlog.is_configured() else None
        structlog.configure(
            processors=[self],
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.ReturnLoggerFactory(),
            cache_logger_on_first_use=False,
        )
        stdlib = _StdlibErrors(self.failed)
        logging.getLogger().addHandler(stdlib)
        try:
            yield self
        finally:
            logging.getLogger().removeHandler(stdlib)
            if saved is None:
                structlog.reset_defaults()
            else:
                structlog.configure(**saved)


class _StdlibErrors(logging.Handler):
    def __init__(self, failed: Callable[[str], None]) -> None:
        super().__init__(logging.ERROR)
        self.failed = failed

    def emit(self, record: logging.LogRecord) -> None:
        self.failed(f"{record.name} logged: {record.getMessage()}{_describe(record.exc_info)}")


def _describe(exc_info: object) -> str:
    """``: Type: message at file:line`` for an exc_info value (True: the current one)."""
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if not isinstance(exc, BaseException):
        return ""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f": {type(exc).__name__}: {exc}{where}"


LINGER = 0.3
"""Seconds a service session waits, in one of two sessions, for the answers before its
A-RELEASE-RQ or FIN: N-CREATE and C-STORE answer after a durable write, and a release or
a close stops an outstanding operation, so without it only refusals would be seen."""


async def fuzz_server(
    report: Report,
    rng: random.Random,
    corpus: list[bytes],
    seconds: float,
    crash_dir: Path,
    *,
    max_inputs: int | None = None,
    handler: FindHandler | None = None,
    peers: int = 4,
    service: str = "find",
) -> None:
    """Mutated sessions from ``peers`` concurrent connections against a live server.

    ``service``: ``find`` (a C-FIND server), ``mpps`` (N-CREATE / N-SET of the worklist's
    MPPS SCP) or ``store`` (C-STORE of the Q/R SCP), see :mod:`tests.hardening.service_fuzz`.
    Stops after ``seconds`` or ``max_inputs`` sessions; each seed is first sent as it is.
    A loop exception, an exception or error logged by the server, a hang (no close within
    5 s), a C-ECHO left unanswered or a legitimate request of the service not answered as
    it should be once the fuzzing ends counts against the report.
    """
    loop = asyncio.get_running_loop()
    in_flight: dict[int, bytes] = {}

    def failed(kind: str) -> None:
        report.crashes += 1
        report.crash_kinds[kind[:240]] += 1
        for data in in_flight.values():
            save_crash(crash_dir, data, kind)

    def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        failed(f"server: {context.get('message')}: {context.get('exception')!r}")

    seeds = deque(dict.fromkeys(corpus))  # each distinct seed once, as it is
    deadline = time.monotonic() + seconds
    budget = report.inputs + max_inputs if max_inputs is not None else None

    def next_input(own: random.Random) -> bytes | None:
        if time.monotonic() >= deadline or (budget is not None and report.inputs >= budget):
            return None
        report.inputs += 1
        return seeds.popleft() if seeds else fuzzing.mutate(own, own.choice(corpus), corpus)

    async def peer(index: int, port: int, called_ae: str) -> None:
        own = random.Random(rng.getrandbits(64))
        checked = time.monotonic()
        while (data := next_input(own)) is not None:
            in_flight[index] = data
            linger = LINGER if service != "find" and own.random() < 0.5 else 0.0
            outcome = await fuzzing.probe_server(port, data, own, 5.0, linger=linger)
            del in_flight[index]
            report.outcomes["server:" + outcome] += 1
            if outcome == "hang":
                report.hangs += 1
                save_crash(crash_dir, data, "hang")
            if index == 0 and time.monotonic() - checked > 5:  # still answering?
                checked = time.monotonic()
                await _echo_check(report, port, called_ae)

    previous = loop.get_exception_handler()
    loop.set_exception_handler(on_error)
    try:
        with ServerLog(failed).installed(), tempfile.TemporaryDirectory() as work:
            async with _serving(service, handler, Path(work)) as target:
                server = target.server
                await asyncio.gather(
                    *(peer(index, server.port, target.called_ae) for index in range(peers))
                )
                await _echo_check(report, server.port, target.called_ae)
                try:
                    problems = await target.check()
                except Exception as exc:  # refused, aborted, timed out: not answered
                    problems = [f"{type(exc).__name__}: {exc}"]
                for problem in problems:
                    failed(f"after fuzzing, a legitimate request: {problem}")
                for _ in range(30):  # ARTIM/idle of the last probes
                    if not server.connections:
                        break
                    await asyncio.sleep(0.1)
                report.outcomes["server:open-connections-at-end"] = len(server.connections)
    finally:
        loop.set_exception_handler(previous)


@asynccontextmanager
async def _serving(
    service: str, handler: FindHandler | None, work: Path
) -> AsyncIterator[service_fuzz.Target]:
    """The server under test: a C-FIND server, or a service of ``service_fuzz``."""
    if service != "find":
        async with service_fuzz.serving(service, work) as target:
            yield target
        return
    config = service_fuzz.fuzz_config()
    async with aiodicom.serve(config, {"worklist": handler or _items}) as server:

        async def check() -> list[str]:
            query = Dataset()
            query.PatientName = ""
            async with aiodicom.connect("127.0.0.1", server.port) as assoc:
                found = [ds async for ds in assoc.find(query, "worklist")]
            wanted = 3 if handler is None else len(found)
            return [] if len(found) == wanted else [f"C-FIND found {len(found)}, not 3"]

        yield service_fuzz.Target(server, check)


async def _echo_check(report: Report, port: int, called_ae: str) -> None:
    async with aiodicom.connect("127.0.0.1", port, called_ae=called_ae, acse_timeout=5) as assoc:
        if await assoc.echo() != 0:
            report.crashes += 1
            report.crash_kinds["server stopped answering C-ECHO"] += 1


def run_random(args: argparse.Namespace) -> Report:
    report = Report("random", args.target)
    rng = random.Random(args.seed)
    corpus = service_fuzz.corpus(args.service)
    if args.corpus is not None:
        corpus += fuzzing.load_corpus(args.corpus)
    started = time.monotonic()
    budget = args.seconds
    core_share = budget if args.target == "core" else 0 if args.target == "server" else budget / 2
    if core_share:
        fuzz_core(report, rng, corpus, core_share, args.crash_dir, max_inputs=args.max_inputs)
    if budget - core_share > 0:
        asyncio.run(
            fuzz_server(
                report, rng, corpus, budget - core_share, args.crash_dir,
                max_inputs=args.max_inputs, service=args.service,
            )
        )  # fmt: skip
    report.seconds = time.monotonic() - started
    report.max_rss_mb = max_rss_mb()
    return report


# -- atheris (libFuzzer) ---------------------------------------------------------------


def atheris_child(seconds: float, corpus_dir: Path, crash_dir: Path) -> None:  # pragma: no cover
    import atheris  # type: ignore[import-untyped]

    from tests.hardening import fuzzing as target

    atheris.instrument_all()  # the modules are imported already: instrument their code
    rng = random.Random(0)

    def one_input(data: bytes) -> None:
        target.run_decoder(data, rng)
        target.run_association(data, rng)

    crash_dir.mkdir(parents=True, exist_ok=True)
    flags = [
        sys.argv[0],
        str(corpus_dir),
        f"-max_total_time={int(seconds)}",
        "-timeout=5",
        "-rss_limit_mb=1024",
        "-print_final_stats=1",
        f"-artifact_prefix={crash_dir}/",
        "-max_len=4096",
    ]
    atheris.Setup(flags, one_input)
    atheris.Fuzz()


def run_atheris(args: argparse.Namespace) -> Report:
    report = Report("atheris", "core")
    with tempfile.TemporaryDirectory(prefix="aiodicom-fuzz-") as work:
        corpus_dir = Path(work)
        for index, seed in enumerate(fuzzing.load_corpus(args.corpus)):
            (corpus_dir / f"seed{index}.bin").write_bytes(seed)
        started = time.monotonic()
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--atheris-child",
                str(corpus_dir),
                "--seconds",
                str(args.seconds),
                "--crash-dir",
                str(args.crash_dir),
            ],
            capture_output=True,
            text=True,
            timeout=args.seconds + 120,
            check=False,
        )
        report.seconds = time.monotonic() - started
    log = child.stderr
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    rss = re.search(r"stat::peak_rss_mb:\s*(\d+)", log)
    report.inputs = int(runs.group(1)) if runs else 0
    report.max_rss_mb = float(rss.group(1)) if rss else 0.0
    report.crashes = len(re.findall(r"==ERROR|Uncaught Python exception", log))
    report.hangs = log.count("ALARM: working on the last Unit")
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    if cov:
        report.outcomes["coverage_edges"] = int(cov[-1][0])
        report.outcomes["features"] = int(cov[-1][1])
    if child.returncode != 0 and not report.crashes:
        report.crash_kinds[f"exit {child.returncode}: {log[-300:]}"] += 1
        report.crashes = 1
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="time budget")
    parser.add_argument("--max-inputs", type=int, help="input budget per target")
    parser.add_argument("--target", choices=("core", "server", "all"), default="all")
    parser.add_argument("--engine", choices=("random", "atheris"), default="random")
    parser.add_argument(
        "--service", choices=service_fuzz.SERVICES, default="find",
        help="server target: C-FIND, MPPS N-CREATE/N-SET, or Q/R C-STORE",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, help="extra folder of *.bin seeds")
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--atheris-child", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.simplefilter("ignore")  # pydicom warns about every odd element it decodes
    configure("console", "critical")
    if args.atheris_child is not None:
        atheris_child(args.seconds, args.atheris_child, args.crash_dir)
        return 0
    report = run_atheris(args) if args.engine == "atheris" else run_random(args)
    data = report.as_dict()
    if args.json:
        print(json.dumps(data))
    else:
        for key, value in data.items():
            print(f"{key:>18}: {value}")
    return 1 if report.crashes or report.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
