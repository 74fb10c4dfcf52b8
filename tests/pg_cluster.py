"""A throw-away PostgreSQL cluster for the tests, and the Q/R index backend fixture.

The cluster starts once per session, and only if a test asks for it: ``initdb`` into a
temporary folder (as the ``postgres`` system user when the tests run as root: PostgreSQL
refuses root), a free loopback port, the socket in that folder, ``pg_ctl start``; at the
end ``pg_ctl stop`` (then the postmaster's PID, if it lingers). Each test gets a fresh
database (``CREATE DATABASE``, fast with fsync off). Binaries from
/usr/lib/postgresql/*/bin (Debian's ``postgresql``, installed by scripts/test.sh).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.clients.peers import free_port

USER = "aiodicom"


def pg_bin() -> Path:
    """The newest installed PostgreSQL's binary folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (scripts/test.sh installs it)")
    return Path(found[-1])


def psql(url: str, sql: str) -> list[list[str]]:
    """Run ``sql`` on the database ``url``; rows as lists of text (tab separated)."""
    done = subprocess.run(
        [str(pg_bin() / "psql"), "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
         "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines()]


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PgCluster:
    """A running cluster: its folder, port and a counter for fresh database names."""

    folder: Path
    port: int
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, database: str) -> str:
        """A URL of ``database`` (TCP on 127.0.0.1, trust authentication)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> list[list[str]]:
        """Run ``sql`` in ``database``; rows as lists of text."""
        return psql(self.url(database), sql)

    def fresh_database(self) -> str:
        """The URL of a new empty database."""
        with self._lock:
            self._count += 1
            name = f"t{os.getpid()}_{self._count}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)


def start_cluster(*, durable: bool = False) -> Iterator[PgCluster]:
    """Start a cluster in a temporary folder; stop it and remove the folder after.

    Tests run without fsync; ``durable`` (benchmarks) keeps fsync and full page writes,
    commits without waiting for the WAL flush (like SQLite's WAL with synchronous=NORMAL).
    """
    folder = Path(tempfile.mkdtemp(prefix="aiodicom-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    bin_ = pg_bin()
    subprocess.run(
        _as_owner([str(bin_ / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"]),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    options += " -c synchronous_commit=off"
    if not durable:
        options += " -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_owner([str(bin_ / "pg_ctl"), "-D", str(data), "-o", options,
                   "-l", str(folder / "server.log"), "-w", "-t", "60", "start"]),
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    try:
        yield PgCluster(folder, port)
    finally:
        _stop(bin_, data)
        shutil.rmtree(folder, ignore_errors=True)


def _stop(bin_: Path, data: Path) -> None:
    """``pg_ctl stop -m fast``; if the postmaster is still there, its PID gets SIGKILL."""
    pid_file = data / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    stopped = subprocess.run(
        _as_owner([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    if stopped.returncode != 0 and pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
