"""CI-length soak (60 s): bench/soak.py against a worklist SCP and a Q/R SCP subprocess.

Expected: mixed load (one-shot and kept associations, C-CANCEL, A-ABORT, C-ECHO, SIGHUP
reloads every 3 s) with 0 errors and the RSS of both servers within 10 % of its value
after the warm-up.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.hardening.support import ROOT

pytestmark = pytest.mark.slow


def test_soak_60_seconds() -> None:
    run = subprocess.run(
        [sys.executable, "bench/soak.py", "--seconds", "60", "--clients", "3", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0, report["error_kinds"]
    assert report["servers_alive"]
    assert report["rss"]["ok"], report["rss"]
    assert report["reloads"] >= 15
    by_operation = report["by_operation"]
    for name in ("worklist-find", "qr-find", "cancel", "abort", "echo"):
        assert by_operation.get(name, 0) > 10, by_operation
    assert run.returncode == 0
