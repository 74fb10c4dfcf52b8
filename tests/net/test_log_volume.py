"""Default log volume of the worklist server (#14.22): at level info (the default), at most
one line per association and one per query; the per-association and per-query detail
(accepted, released, c-find done, the worklist's own query line) is at debug."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pydicom import Dataset

import aiodicom
from tests.clients.bundled_worklist import AE, BundledWorklist, bundled_worklist

QUERIES = 20
LEVELS = ("debug", "info", "warning", "error", "critical")


def _query(index: int) -> Dataset:
    ds = Dataset()
    ds.PatientName = "*" if index % 2 else "JOHNSON*"
    ds.PatientID = ""
    step = Dataset()
    step.Modality = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


async def _traffic(port: int) -> int:
    """One association with QUERIES C-FINDs, one with a C-ECHO only: responses seen."""
    seen = 0
    async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=["worklist"]) as assoc:
        for index in range(QUERIES):
            seen += len([ds async for ds in assoc.find(_query(index), "worklist")])
    async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=["worklist"]) as assoc:
        await assoc.echo()
    return seen


def _after_listening(server: BundledWorklist, associations: int) -> list[dict[str, Any]]:
    """The server's log lines after "listening", once ``associations`` have ended."""
    deadline = time.monotonic() + 10.0
    while True:
        lines = server.json_lines()
        ended = sum(1 for line in lines if line.get("event") == "audit.association")
        if ended >= associations or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    start = next(i for i, line in enumerate(lines) if line.get("event") == "listening")
    return lines[start + 1 :]


def test_info_level_logs_one_line_per_association_and_per_query(tmp_path: Path) -> None:
    with bundled_worklist(tmp_path, ["--log-format", "json"]) as server:
        assert asyncio.run(_traffic(server.port)) > 0
        lines = _after_listening(server, 3)
    shown = [line for line in lines if LEVELS.index(line["level"]) >= LEVELS.index("info")]
    events = [line["event"] for line in shown]
    # the readiness probe of bundled_worklist (connect, close) is a connection too
    connections = len({line["assoc"] for line in lines if "assoc" in line})
    assert connections == 3
    assert len(shown) <= connections + QUERIES, events
    assert events.count("audit.association") == connections
    assert events.count("audit.query") == QUERIES


def test_debug_level_keeps_the_detail(tmp_path: Path) -> None:
    extra = ["--log-format", "json", "--log-level", "debug"]
    with bundled_worklist(tmp_path, extra) as server:
        asyncio.run(_traffic(server.port))
        lines = _after_listening(server, 3)
    by_event: dict[str, set[str]] = {}
    for line in lines:
        by_event.setdefault(line["event"], set()).add(line["level"])
    for event in ("association accepted", "association released", "c-find done"):
        assert by_event.get(event) == {"debug"}, (event, by_event)
    assert by_event.get("worklist query") == {"debug"}
    assert len([line for line in lines if line["event"] == "c-find done"]) == QUERIES
