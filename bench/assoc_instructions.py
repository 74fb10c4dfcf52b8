"""CPU instructions per association of the worklist SCP and its client, under callgrind.

    python bench/assoc_instructions.py [--tree PATH] [--associations 300] [--warmup 30]
                                       [--finds 1] [--items 10000] [--keep DIR]
                                       [--no-valgrind] [--profile FILE [--opcodes]]

Wall-clock rates are noise on a shared machine; instruction counts are not. One
association here is what a modality does to poll its worklist: TCP connect, A-ASSOCIATE
negotiation (PS3.8 9.3.2-9.3.3), one C-ECHO (PS3.7 9.1.5), one keyed C-FIND (PatientID,
pre-encoded, PS3.4 K.4), A-RELEASE (PS3.8 9.3.6) and TCP close, run back to back.

The worklist SCP of the tree under test (``--tree``, default this one; its ``.venv`` python
when it has one) runs as ``python -m servers.worklist`` (``--no-watch --no-http``, on the
``/tmp/aiodicom-wl-bench-<items>`` folder of bench_worklist.py) inside this script's
``server`` role, under ``valgrind --tool=callgrind --instr-atstart=no``. The client, the
same tree's ``aiodicom.connect``, runs in a second process (``client`` role), also under
callgrind. The client first runs ``--warmup`` associations uncounted (imports, caches,
first-call paths), then switches counting on in both processes, runs ``--associations``
associations, waits for the server to finish the last one, and switches counting off.
The switches are callgrind client requests (CALLGRIND_START/STOP_INSTRUMENTATION, a tiny
C helper compiled with gcc into /tmp at first use; without valgrind they are no-ops): the
server takes them on SIGUSR1 / SIGUSR2 and answers through a file. Each process's total
``Ir`` divided by the count is its instructions per association; their sum is the cost of
one association on one machine. Python's hash seed is fixed (PYTHONHASHSEED=0), so runs
repeat to within about 0.1 %. ``--associations 0`` measures the fixed cost of switching
(the settle pause): it is a few thousand instructions, next to millions per association.

``--finds K`` sends K keyed C-FINDs per association instead of one: the cost of one more
keyed query is (instructions at K=11 - instructions at K=1) / 10, per association.

Without valgrind (``--no-valgrind``) the client prints the CPU time (``time.process_time``)
per association of both processes instead: quick, but it moves with the machine's load.

``--no-valgrind --profile FILE`` runs the same without valgrind and writes a cProfile of
the server's counted section to FILE (and FILE.client for the client): ``ncalls`` divided
by the count tells which Python functions one association calls and how often, which is
where to look when two trees differ. ``callgrind_annotate`` on the kept output files
(``--keep DIR``) gives the C-level side (allocation, dict lookups, system calls).

Needs valgrind (Debian package ``valgrind``, which ships ``valgrind/callgrind.h``) and gcc.
A run of 300 associations takes 2-4 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import ctypes
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, cast

TraceFunction = Callable[[FrameType, str, Any], "TraceFunction | None"]
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AE = "WLMSCP"
CONFIG = """\
server: {max_associations: 1000, idle_timeout: 600}
worklist: {max_matches: 10000000, watch: false}
logging: {level: warning}
"""
HELPER_SOURCE = """\
#include <valgrind/callgrind.h>
void counting_on(void) { CALLGRIND_START_INSTRUMENTATION; }
void counting_off(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""
SETTLE = 1.5
"""Seconds (wall) the client waits after its last release before the server stops counting:
long enough under valgrind for the server to close the last connection."""


# -- counting switches ----------------------------------------------------------------------


class Counting:
    """Switches callgrind's instrumentation on and off (and a profiler, when asked).

    ``profile`` names a file for a cProfile of the counted section; with ``opcodes`` the
    file gets instead the bytecodes executed per Python function (a ``sys.settrace``
    opcode counter: exact and repeatable, unlike profile times), as ``count<TAB>function``
    lines, most first.
    """

    def __init__(self, profile: str | None, opcodes: bool = False) -> None:
        self._helper = ctypes.CDLL(str(helper_library()))
        self._path = profile
        self._profile = cProfile.Profile() if profile and not opcodes else None
        self._opcodes: Counter[str] | None = Counter() if profile and opcodes else None
        self.cpu = 0.0  # process CPU seconds of the counted section, once it is over

    def on(self) -> None:
        self.cpu = time.process_time()
        self._helper.counting_on()
        if self._profile is not None:
            self._profile.enable()
        if self._opcodes is not None:
            sys.settrace(self._trace)

    def off(self) -> None:
        if self._opcodes is not None:
            sys.settrace(None)
            lines = (f"{n}\t{name}" for name, n in self._opcodes.most_common())
            Path(str(self._path)).write_text("\n".join(lines) + "\n")
        if self._profile is not None:
            self._profile.disable()
            self._profile.dump_stats(str(self._path))
        self._helper.counting_off()
        self.cpu = time.process_time() - self.cpu

    def _trace(self, frame: FrameType, _event: str, _arg: Any) -> TraceFunction:
        frame.f_trace_opcodes = True
        code = frame.f_code
        name = f"{code.co_filename}:{code.co_firstlineno}:{code.co_qualname}"
        counts = cast("Counter[str]", self._opcodes)

        def local(_frame: FrameType, event: str, _arg: Any) -> TraceFunction:
            if event == "opcode":
                counts[name] += 1
            return local

        return local


def helper_library() -> Path:
    """The client-request helper, compiled once per source text into the temp folder."""
    digest = hashlib.sha256(HELPER_SOURCE.encode()).hexdigest()[:12]
    library = Path(tempfile.gettempdir()) / f"aiodicom-cgcount-{digest}.so"
    if not library.exists():
        source = library.with_suffix(".c")
        source.write_text(HELPER_SOURCE)
        partial = library.with_suffix(f".{os.getpid()}.so")
        subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(partial), str(source)],
                       check=True)  # fmt: skip
        partial.rename(library)
    return library


# -- the two roles (child processes) ---------------------------------------------------------


def server_role(ack: Path, profile: str | None, opcodes: bool, argv: list[str]) -> int:
    """The tree's worklist SCP; SIGUSR1 starts counting, SIGUSR2 stops; each answers in ``ack``."""
    counting = Counting(profile, opcodes)

    def start(_signum: int, _frame: FrameType | None) -> None:
        ack.write_text("on")
        counting.on()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        counting.off()
        ack.write_text(f"off {counting.cpu!r}")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from servers.worklist.__main__ import main  # the tree's, through PYTHONPATH

    return main(argv)


def answered(ack: Path, text: str) -> bool:
    """Whether the server's answer to a signal, in ``ack``, begins with ``text``."""
    return ack.exists() and ack.read_text().startswith(text)


async def wait_for(ack: Path, text: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not answered(ack, text):
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not answer {text!r} within {limit} s")
        await asyncio.sleep(0.05)


async def client_role(args: argparse.Namespace) -> None:
    """Warm-up, then ``--associations`` counted associations in both processes."""
    from _common import mwl_query

    import aiodicom  # the tree's, through PYTHONPATH

    rng = random.Random(5)
    queries = []
    for _ in range(args.warmup + args.associations):
        query = aiodicom.encode_query(mwl_query(f"PID{rng.randrange(args.items):07d}"))
        queries.append(query)
    counting = Counting(args.profile + ".client" if args.profile else None, args.opcodes)

    async def associate(query: aiodicom.EncodedQuery) -> None:
        async with aiodicom.connect("127.0.0.1", args.port, called_ae=AE, models=["worklist"],
                                    acse_timeout=120, connect_timeout=120) as assoc:  # fmt: skip
            await assoc.echo()
            for _ in range(args.finds):
                async for _ in assoc.find_responses(query, "worklist"):
                    pass

    for query in queries[: args.warmup]:
        await associate(query)
    await asyncio.sleep(SETTLE)
    os.kill(args.server_pid, signal.SIGUSR1)
    await wait_for(args.ack, "on")
    counting.on()
    for query in queries[args.warmup :]:
        await associate(query)
    counting.off()
    await asyncio.sleep(SETTLE)
    os.kill(args.server_pid, signal.SIGUSR2)
    await wait_for(args.ack, "off")
    if args.cpu:  # without valgrind: CPU time, noisy on a shared machine
        server_cpu = float(args.ack.read_text().split()[1])
        per = 1e6 / max(args.associations, 1)
        print(f"CPU per association: server {server_cpu * per:.0f} us, "
              f"client {counting.cpu * per:.0f} us (time.process_time)")  # fmt: skip


# -- the driver ------------------------------------------------------------------------------


def total_instructions(out: Path) -> int:
    """Ir of a callgrind output file, as ``callgrind_annotate`` adds it up.

    Its own ``summary:`` line says 0 when counting started late (``--instr-atstart=no``).
    """
    text = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    for line in text.splitlines():
        if line.endswith("PROGRAM TOTALS"):
            return int(line.split()[0].replace(",", ""))
    raise SystemExit(f"{out}: callgrind_annotate printed no PROGRAM TOTALS")


def python_of(tree: Path) -> str:
    venv = tree / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def launcher(valgrind: bool, out: Path) -> list[str]:
    if not valgrind:
        return []
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out}", "--log-file=/dev/null"]  # fmt: skip


def profiling(args: argparse.Namespace) -> list[str]:
    """The role flags that carry ``--profile`` / ``--opcodes`` to both processes."""
    if not args.profile:
        return []
    return ["--profile", args.profile, *(["--opcodes"] if args.opcodes else [])]


def measure(args: argparse.Namespace, work: Path) -> dict[str, int]:
    """Run the server and the client once; instructions of each (empty without valgrind)."""
    sys.path.insert(0, str(HERE))
    from _common import free_port, listening, stop_process
    from bench_worklist import data_folder

    data = data_folder(args.items, 300.0)
    tree = args.tree.resolve()
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{HERE}", "PYTHONHASHSEED": "0"}
    config, ack = work / "worklist.yaml", work / "ack"
    config.write_text(CONFIG)
    port = free_port()
    python, script = python_of(tree), str(Path(__file__).resolve())
    outs = {"server": work / "callgrind.server", "client": work / "callgrind.client"}
    server_cmd = [*launcher(args.valgrind, outs["server"]), python, script, "--role", "server",
                  "--ack", str(ack), *profiling(args),
                  "--", "--config", str(config), "--data", str(data), "--host", "127.0.0.1",
                  "--port", str(port), "--no-watch", "--no-http"]  # fmt: skip
    server = subprocess.Popen(server_cmd, cwd=tree, env=env)
    try:
        deadline = time.monotonic() + 600
        while not listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the worklist SCP did not start listening")
            time.sleep(0.1)
        client_cmd = [*launcher(args.valgrind, outs["client"]), python, script, "--role",
                      "client", "--port", str(port), "--server-pid", str(server.pid),
                      "--ack", str(ack), "--items", str(args.items),
                      "--warmup", str(args.warmup), "--associations", str(args.associations),
                      "--finds", str(args.finds), *([] if args.valgrind else ["--cpu"]),
                      *profiling(args)]  # fmt: skip
        subprocess.run(client_cmd, cwd=tree, env=env, check=True, timeout=3600)
    finally:
        stop_process(server, 60)
    if not args.valgrind:
        return {}
    return {side: total_instructions(out) for side, out in outs.items()}


def report(args: argparse.Namespace, counts: dict[str, int]) -> None:
    if not counts:
        print(f"{args.tree.resolve()}: {args.associations} associations run without valgrind")
        return
    per = max(args.associations, 1)
    figures = {side: count / per for side, count in counts.items()}
    figures["total"] = sum(figures.values())
    line = ", ".join(f"{side} {value:,.0f}" for side, value in figures.items())
    what = f"{args.associations} associations, {args.finds} C-FIND each"
    print(f"{args.tree.resolve()}: instructions per association ({what}): {line}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree under test")
    parser.add_argument("--associations", type=int, default=300, help="counted associations")
    parser.add_argument("--warmup", type=int, default=30, help="uncounted associations first")
    parser.add_argument("--finds", type=int, default=1, help="keyed C-FINDs per association")
    parser.add_argument("--items", type=int, default=10000, help="worklist items served")
    parser.add_argument("--no-valgrind", dest="valgrind", action="store_false")
    parser.add_argument("--profile", help="cProfile of the counted section to this file")
    parser.add_argument(
        "--opcodes",
        action="store_true",
        help="with --profile: bytecodes per function instead of cProfile",
    )
    parser.add_argument("--keep", type=Path, help="keep the callgrind output files here")
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--ack", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    argv = sys.argv[1:]
    passed = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parse_args(argv[: len(argv) - len(passed) - (1 if passed else 0)])
    if args.role == "server":
        return server_role(args.ack, args.profile, args.opcodes, passed)
    if args.role == "client":
        from aiodicom.net.loop import run  # uvloop when installed, as the SCP uses

        run(client_role(args))
        return 0
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report(args, measure(args, args.keep))
        return 0
    with tempfile.TemporaryDirectory(prefix="aiodicom-assoc-") as work:
        report(args, measure(args, Path(work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
