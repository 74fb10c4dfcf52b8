"""A port that is already taken: one line on stderr naming the address and the port, exit 2.

Each test occupies a free loopback port itself (bind 127.0.0.1:0 and listen), then starts
the server on that port; the server must refuse without a traceback (#14.13).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.peers import free_port
from tests.hardening.support import ROOT

EXIT_CONFIG = 2  # the documented exit code of a refused start-up


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port this test holds open (listening) for its whole duration."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _start(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _assert_one_line(result: subprocess.CompletedProcess[str], port: int, flag: str) -> None:
    assert result.returncode == EXIT_CONFIG, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1" in lines[0] and str(port) in lines[0] and "in use" in lines[0]
    assert flag in lines[0]
    assert "Traceback" not in result.stderr


def test_worklist_dicom_port_in_use(taken_port: int) -> None:
    result = _start(
        "servers.worklist", "--port", str(taken_port), "--no-http", "--log-level", "error"
    )
    _assert_one_line(result, taken_port, "--port")


def test_worklist_http_port_in_use(taken_port: int) -> None:
    result = _start(
        "servers.worklist", "--port", str(free_port()), "--http-port", str(taken_port),
        "--log-level", "error",
    )  # fmt: skip
    _assert_one_line(result, taken_port, "--http-port")


def test_qrscp_dicom_port_in_use(taken_port: int, tmp_path: Path) -> None:
    result = _start(
        "servers.qrscp", "--port", str(taken_port), "--index", str(tmp_path / "i.sqlite"),
        "--no-watch", "--log-level", "error",
    )  # fmt: skip
    _assert_one_line(result, taken_port, "--port")
