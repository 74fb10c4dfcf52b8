"""Helpers shared by the benchmark scripts: lock, free port, child processes, figures.

Every benchmark holds /tmp/aiodicom-bench.lock while it runs (one benchmark at a time on
a shared machine), binds its servers to free loopback ports, stops the processes it
started by PID and may replace its own section of docs/benchmarks.md.
"""

from __future__ import annotations

import fcntl
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pydicom import Dataset

LOCK = Path("/tmp/aiodicom-bench.lock")
BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SPS_KEYS = ("Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate",
            "ScheduledProcedureStepStartTime", "ScheduledProcedureStepDescription",
            "ScheduledProcedureStepID")  # fmt: skip
TOP_KEYS = ("AccessionNumber", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
            "StudyInstanceUID", "RequestedProcedureID")  # fmt: skip


@contextmanager
def bench_lock() -> Iterator[None]:
    """Hold the exclusive benchmark lock (``flock`` on :data:`LOCK`) for the block."""
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """True once a socket listens on ``port`` (Linux /proc/net/tcp, state 0A = LISTEN).

    Probing with connect() would need an ephemeral port, and after (d) opens some 30,000
    connections in a few seconds the loopback range can be exhausted by TIME_WAIT
    sockets, which once made a server look 10-20 s slower to start than it was.
    """
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError), open(table) as rows:
            for row in rows:
                fields = row.split()
                if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] == "0A":
                    return True
    return False


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes], wait: float) -> None:
    """Terminate ``process`` (by PID); kill it when it has not exited after ``wait`` s."""
    process.terminate()
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pct(samples: list[float], p: float) -> float:
    """The ``p`` quantile (0..1) of ``samples``: nearest rank, no interpolation."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def write_section(heading: str, lines: list[str], path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section that starts with ``heading`` in ``path``.

    ``lines`` is the whole new section, its heading line first; the section that is
    replaced runs up to the next ``## `` heading or the end of the file.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end + 1 if end >= 0 else len(text) :]
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))
    print(f"wrote {path}")


def mwl_query(patient_id: str = "", modality: str = "") -> Dataset:
    """A typical MWL query: the usual return keys, optional PatientID / Modality keys."""
    step = Dataset()
    for keyword in SPS_KEYS:
        setattr(step, keyword, "")
    step.Modality = modality
    ds = Dataset()
    for keyword in TOP_KEYS:
        setattr(ds, keyword, "")
    ds.PatientID = patient_id
    ds.ScheduledProcedureStepSequence = [step]
    return ds
