"""MPPS benchmark: N-CREATE + N-SET pairs per second and their p99 with 50 emulated
modalities, against pynetdicom's MWL + MPPS SCP and (when it accepts MPPS) ours.

    python bench/bench_mpps.py [--modalities 50] [--steps 1000] [--seconds 60]
                               [--rounds 3] [--write]

Each round starts each server as a subprocess on a fresh copy of the same generated
worklist (``--steps`` items, one Scheduled Procedure Step each, today's date, stations
MOD001..MOD050) and runs ``aiodicom-modality --modalities 50 --exam-time 0 --steps N
--duration S`` against it: every modality queries its worklist, takes a step, sends
N-CREATE IN PROGRESS and N-SET COMPLETED, each on its own association, until the steps
are done. Pairs/s = completed steps / run time (the C-FIND before each pair included);
pair latency = N-CREATE + N-SET of one step (the two DIMSE exchanges, association set-up
excluded). Servers: ``bench/pynetdicom_mpps_scp.py`` and ``aiodicom-worklist`` (skipped,
and said so, when it does not accept the MPPS SOP Class). Rounds alternate the servers;
medians are reported. Every run is bounded by ``--steps`` and ``--seconds``. Holds
/tmp/aiodicom-bench.lock.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom import Dataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiodicom  # noqa: E402
from aiodicom.errors import DimseStatusError, NegotiationError  # noqa: E402
from aiodicom.worklist.sample import SampleOptions, generate, write_item  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _common import bench_lock, free_port, listening, pct, stop_process, write_section  # noqa: E402

AE = "WLMSCP"
MPPS = "1.2.840.10008.3.1.2.3.3"
WORK = Path("/tmp/aiodicom-mpps-bench")
MODALITY = Path(sys.executable).with_name("aiodicom-modality")
OURS_CONFIG = """\
server: {max_associations: 1000, idle_timeout: 600}
worklist: {max_matches: 10000000, watch: false}
logging: {level: warning}
"""
SERVERS = ("pynetdicom", "ours")
COLUMNS = ("pair_p50", "pair_p99", "create_p99", "set_p99", "find_p99", "server_cores",
           "emulator_cores")  # fmt: skip


def worklist(steps: int, modalities: int) -> Path:
    """WORK/data/WLMSCP: ``steps`` items for today, spread over the stations."""
    folder = WORK / "data" / AE
    shutil.rmtree(WORK / "data", ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()
    today = datetime.date.today().strftime("%Y%m%d")
    options = SampleOptions(max_steps=1, charsets=False)
    for index, item in enumerate(generate(steps, seed=17, options=options)):
        step = item.ScheduledProcedureStepSequence[0]
        step.ScheduledStationAETitle = f"MOD{index % modalities + 1:03d}"
        step.ScheduledProcedureStepStartDate = today
        write_item(item, folder / f"item_{index:06d}.wl", with_meta=True)
    return WORK / "data"


def command(server: str, root: Path, port: int) -> list[str]:
    if server == "ours":
        config = WORK / "ours.yaml"
        config.write_text(OURS_CONFIG)
        return [sys.executable, "-m", "servers.worklist", "--config", str(config),
                "--data", str(root), "--host", "127.0.0.1", "--port", str(port),
                "--no-watch", "--no-http"]  # fmt: skip
    script = str(ROOT / "bench" / "pynetdicom_mpps_scp.py")
    return [sys.executable, script, "--data", str(root / AE), "--port", str(port),
            "--ae-title", AE, "--max-associations", "1000"]  # fmt: skip


@contextmanager
def running(server: str, root: Path, limit: float = 60.0) -> Iterator[tuple[int, int]]:
    """(pid, port) of the server on a free port, stopped by PID afterwards."""
    port = free_port()
    log = (WORK / f"{server}.log").open("w")
    process = subprocess.Popen(command(server, root, port), cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    started = time.monotonic()
    try:
        while not listening(port):
            if process.poll() is not None:
                raise SystemExit(f"{server} exited early, see {log.name}")
            if time.monotonic() - started > limit:
                raise SystemExit(f"{server} not listening after {limit} s")
            time.sleep(0.05)
        yield process.pid, port
    finally:
        stop_process(process, 10)
        log.close()


async def _probe(port: int) -> bool:
    """True when the SCP accepts the MPPS SOP Class (an N-SET of an unknown instance is
    then answered with a failure status; without it the context is refused)."""
    change = Dataset()
    change.PerformedProcedureStepStatus = "IN PROGRESS"
    async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=(),
                                sop_classes=(MPPS,)) as assoc:  # fmt: skip
        try:
            await assoc.n_set(MPPS, "2.25.1", change)
        except NegotiationError:
            return False
        except DimseStatusError:
            return True
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emulate(
    server: tuple[int, int], modalities: int, steps: int, seconds: float, report: Path
) -> dict[str, Any]:
    """One ``aiodicom-modality`` run against (pid, port); its JSON report, plus the
    cores the emulator and the server used (CPU seconds / run time)."""
    pid, port = server
    args = [str(MODALITY), "127.0.0.1", str(port), "-aec", AE, "--modalities", str(modalities),
            "--exam-time", "0", "--steps", str(steps), "--duration", f"{seconds}s",
            "--timeout", "60s", "--report", str(report), "--no-table"]  # fmt: skip
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(pid)
    subprocess.run(args, capture_output=True, timeout=seconds + 120, check=False)
    server_cpu = cpu_seconds(pid) - server_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    result = dict(json.loads(report.read_text()))
    result["cores"] = {
        "emulator": client_cpu / result["elapsed_s"],
        "server": server_cpu / result["elapsed_s"],
    }
    return result


def figures(report: dict[str, Any]) -> dict[str, float]:
    """Pairs/s, pair p50/p99 and failures of one run."""
    done = [s for s in report["steps"] if s["outcome"] == "COMPLETED"]
    pairs = [s["latency_ms"]["N-CREATE"] + s["latency_ms"]["N-SET"] for s in done]
    ops = report["operations"]
    return {
        "pairs": len(done),
        "pairs_per_s": len(done) / report["elapsed_s"],
        "pair_p50": pct(pairs, 0.5) if pairs else 0.0,
        "pair_p99": pct(pairs, 0.99) if pairs else 0.0,
        "create_p99": ops["N-CREATE"]["latency_ms"].get("p99", 0.0),
        "set_p99": ops["N-SET"]["latency_ms"].get("p99", 0.0),
        "find_p99": ops["C-FIND"]["latency_ms"].get("p99", 0.0),
        "failures": len(report["failures"]),
        "emulator_cores": report["cores"]["emulator"],
        "server_cores": report["cores"]["server"],
    }


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def table(results: dict[str, list[dict[str, float]]], skipped: dict[str, str]) -> list[str]:
    lines = ["| server | pairs/s | pair p50 ms | pair p99 ms | N-CREATE p99 ms | N-SET p99 ms "
             "| C-FIND p99 ms | server cores | emulator cores | failures |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for server, runs in results.items():
        cells = [f"{median(runs, 'pairs_per_s'):,.0f}"]
        cells += [f"{median(runs, key):.2f}" for key in COLUMNS]
        failures = sum(int(run["failures"]) for run in runs)
        lines.append(f"| {server} | " + " | ".join(cells) + f" | {failures} |")
    for server, why in skipped.items():
        lines.append(f"| {server} | skipped: {why} |" + "  |" * 8)
    if len(results) == 2:
        ours, theirs = results["ours"], results["pynetdicom"]
        rate = median(ours, "pairs_per_s") / median(theirs, "pairs_per_s")
        p99 = median(ours, "pair_p99") / median(theirs, "pair_p99")
        lines.append("")
        lines.append(f"ours / pynetdicom: {rate:.2f}x pairs/s (higher is better), "
                     f"{p99:.2f}x pair p99 (lower is better)")  # fmt: skip
    return lines


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{model}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load {load}"


SAME_WORK = (
    "Not the same work: ours writes each instance and the worklist item it links (temporary "
    "file, fsync, rename) and reloads the worklist before it answers (operations on different "
    "instances overlap: their fsyncs and reloads are shared); the pynetdicom baseline keeps "
    "instances in memory and leaves its worklist alone."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--modalities", type=int, default=50)
    parser.add_argument("--steps", type=int, default=1000, help="pairs per run")
    parser.add_argument("--seconds", type=float, default=60.0, help="bound of each run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    with bench_lock():
        WORK.mkdir(parents=True, exist_ok=True)
        before = machine()
        source = worklist(args.steps, args.modalities)
        results: dict[str, list[dict[str, float]]] = {}
        skipped: dict[str, str] = {}
        for round_index in range(args.rounds):
            order = SERVERS if round_index % 2 == 0 else SERVERS[::-1]
            for server in order:
                if server in skipped:
                    continue
                root = WORK / f"run-{server}"
                shutil.rmtree(root, ignore_errors=True)
                shutil.copytree(source, root)
                with running(server, root) as (pid, port):
                    if not asyncio.run(_probe(port)):
                        skipped[server] = "the MPPS SOP Class is not accepted by this build"
                        continue
                    report = emulate((pid, port), args.modalities, args.steps, args.seconds,
                                     WORK / f"{server}-{round_index}.json")  # fmt: skip
                run = figures(report)
                results.setdefault(server, []).append(run)
                print(f"round {round_index + 1} {server}: {run['pairs']:.0f} pairs, "
                      f"{run['pairs_per_s']:,.0f}/s, p99 {run['pair_p99']:.2f} ms, "
                      f"failures {run['failures']:.0f}", flush=True)  # fmt: skip
        lines = table(results, skipped)
        print("\n".join(lines))
    if args.write:
        command_line = " ".join(["python bench/bench_mpps.py", *sys.argv[1:]])
        after = machine().rsplit("load ", 1)[1]
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        header = [
            "## MPPS (aiodicom-modality)",
            "",
            f"Date: {stamp}. Machine: {before} at the start, load {after} at the end.",
            f"Command: `{command_line}`. {args.modalities} emulated modalities "
            f"(`aiodicom-modality --exam-time 0`), {args.steps} steps a run, median of "
            f"{args.rounds} rounds; pairs/s counts the C-FIND before each pair; pair latency is "
            "N-CREATE + N-SET (DIMSE round trips, associations excluded); each operation "
            "opens its own association. Cores: CPU seconds of the server process and of the "
            "emulator process (its start-up included) per second of run time.",
            "",
        ]
        write_section("## MPPS (aiodicom-modality)", [*header, *lines, "", SAME_WORK, ""])


if __name__ == "__main__":
    main()
