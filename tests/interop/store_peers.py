"""``aiodicom-qrscp`` as a separate process for the C-STORE crash and memory tests.

The console script of this venv is started on a free loopback port with its own data
folder and index, waited for, and stopped by PID (SIGTERM, or SIGKILL when a test wants
a crash). DCMTK tools run with TCP_NODELAY=1 in their environment.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.clients.peers import DCMTK_ENV, free_port, stop_process, wait_listening

QRSCP_SCRIPT = Path(sys.executable).with_name("aiodicom-qrscp")
STORESCU = "/usr/bin/storescu"
SUCCESS_LINE = "I: Received Store Response (Success)"
SENDING_LINE = "I: Sending file: "


@dataclass
class QRSCPProcess:
    """A running ``aiodicom-qrscp``: its port, process and log file."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def rss_kib(self) -> int:
        """Resident set size of the server process (VmRSS, KiB), 0 once it has gone."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


@contextlib.contextmanager
def qrscp_process(data: Path, index: str | Path, *extra: str) -> Iterator[QRSCPProcess]:
    """Start ``aiodicom-qrscp --data data --index index`` and stop it afterwards."""
    port = free_port()
    log_path = data.parent / f"qrscp-{port}.log"
    cmd = [str(QRSCP_SCRIPT), "--data", str(data), "--index", str(index), "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*cmd, *extra], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, proc, 30.0)
            yield QRSCPProcess(port, proc, log_path)
        finally:
            stop_process(proc, 10)


def storescu_command(port: int, options: Sequence[str], files: Sequence[Path]) -> list[str]:
    """``storescu -v`` with ``options`` to the Q/R SCP's AE title, sending ``files``."""
    return [STORESCU, "-v", "-aec", "QRSCP", *options, "127.0.0.1", str(port), *map(str, files)]


def stored_files(output: str) -> list[str]:
    """Files ``storescu -v`` reported a Success C-STORE-RSP for (PS3.7 9.3.1.2)."""
    done: list[str] = []
    current = ""
    for line in output.splitlines():  # progress dots ("XMIT: ....") may lead a line
        if SENDING_LINE in line:
            current = line.split(SENDING_LINE, 1)[1].strip()
        elif SUCCESS_LINE in line and current:
            done.append(current)
            current = ""
    return done


def run_storescu(
    port: int, options: Sequence[str], files: Sequence[Path], seconds: float = 600.0
) -> subprocess.CompletedProcess[str]:
    """Run storescu to the end (bounded); its output (stdout and stderr) and exit code."""
    return subprocess.run(
        storescu_command(port, options, files),
        env=DCMTK_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the log lines and the progress dots, in order
        text=True,
        timeout=seconds,
        check=False,
    )
