"""The README's own server for the load-test tests: ``aiodicom-worklist`` as the README
starts it (bundled config and sample worklist, AE WLMSCP), on a free loopback port and
without its web page (port 8080 is never bound in a test). Its working copy of the sample
(``$XDG_DATA_HOME/aiodicom``) goes into the test's folder, not the user's home. Stopped
by PID."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.clients.peers import free_port, stop_process, wait_listening

REPO = Path(__file__).resolve().parents[2]
AE = "WLMSCP"


@dataclass
class BundledWorklist:
    """A running ``python -m servers.worklist`` and the file its output goes to."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """The log lines so far (the server must run with ``--log-format json``)."""
        lines = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


@contextlib.contextmanager
def bundled_worklist(folder: Path, extra: Sequence[str] = ()) -> Iterator[BundledWorklist]:
    """Start the server with the bundled defaults plus ``--port``, ``--no-http``, ``extra``."""
    port = free_port()
    log_path = folder / f"worklist-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "servers.worklist", "--port", str(port), "--no-http", *extra],
            cwd=REPO,
            env={**os.environ, "XDG_DATA_HOME": str(folder / "xdg-data")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, process, 20.0)
        yield BundledWorklist(port, process, log_path)
    finally:
        stop_process(process, 15.0)
