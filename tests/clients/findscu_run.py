"""Run the ``aiodicom-findscu`` console script as a subprocess (for tests whose SCP runs
in the test's own event loop or thread)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from tests.clients.peers import FINDSCU_SCRIPT


@dataclass(frozen=True)
class Run:
    """Exit status and output of one aiodicom-findscu run."""

    code: int
    stdout: str
    stderr: str


async def run_findscu(
    port: int, *args: str, env: Mapping[str, str] | None = None, limit: float = 30.0
) -> Run:
    """``aiodicom-findscu <args> 127.0.0.1 <port>``; killed (by PID) after ``limit`` s."""
    process = await asyncio.create_subprocess_exec(
        str(FINDSCU_SCRIPT), *args, "127.0.0.1", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
