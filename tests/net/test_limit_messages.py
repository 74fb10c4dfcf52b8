"""The two limits a load test meets say which setting to raise (#14.23).

* ``worklist.max_matches`` (``--max-matches``): the A700 refusal's Error Comment
  (0000,0902) on the wire and the server's log line name it (PS3.4 K.4.1.1.4).
* ``server.max_associations``: the A-ASSOCIATE-RJ carries the reason on the wire
  (transient, provider presentation, local-limit-exceeded; PS3.8 9.3.4), and the
  server's log line names the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import AssociationRejected
from tests.clients.bundled_worklist import AE, BundledWorklist, bundled_worklist
from tests.hardening.support import RawRequestor, scp_process


def _match_all() -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    return ds


def _wait_for(server: BundledWorklist, event: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        found = [line for line in server.json_lines() if line.get("event") == event]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} line in\n{server.log_text()}")


async def _refused_comment(port: int) -> tuple[int | None, str | None]:
    async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=["worklist"]) as assoc:
        stream = assoc.find_responses(_match_all(), "worklist")
        async for _ in stream:
            pass
        return stream.status, stream.error_comment


def test_a700_refusal_names_worklist_max_matches(tmp_path: Path) -> None:
    with bundled_worklist(tmp_path, ["--log-format", "json", "--max-matches", "5"]) as server:
        status, comment = asyncio.run(_refused_comment(server.port))
        (line,) = _wait_for(server, "worklist query refused")
    assert status == 0xA700
    assert comment is not None and len(comment) <= 64  # LO (PS3.5 6.2)
    assert "worklist.max_matches=5" in comment and "--max-matches" in comment, comment
    assert line["level"] == "warning"
    assert "worklist.max_matches" in str(line["reason"]) and "--max-matches" in str(line["reason"])


async def _one_too_many(port: int) -> AssociationRejected:
    """Fill the server's 2 slots from two other loopback addresses and calling AE titles
    (a per-source limit must not answer first), then ask for a third from 127.0.0.1."""
    held: list[RawRequestor] = []
    try:
        for index in (2, 3):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(f"127.0.0.{index}", 0)
            )
            held.append(RawRequestor(reader, writer))
            assert await held[-1].associate(calling_ae=f"HOLDER{index}")
        with pytest.raises(AssociationRejected) as info:
            async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=()):
                pass
        return info.value
    finally:
        for requestor in held:
            await requestor.close()


def test_association_limit_names_server_max_associations(tmp_path: Path) -> None:
    with scp_process(tmp_path, max_associations=2) as server:
        rejected = asyncio.run(_one_too_many(server.port))
        deadline = time.monotonic() + 10.0
        while "association rejected" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log_text()
    assert (rejected.result, rejected.source, rejected.reason) == (2, 3, 2)  # on the wire
    assert rejected.reason_name == "local-limit-exceeded"
    (line,) = [text for text in log.splitlines() if '"association rejected"' in text]
    assert "server.max_associations=2" in line, line


async def _third_from_one_address(port: int) -> AssociationRejected:
    async with contextlib.AsyncExitStack() as stack:
        for index in range(2):
            connector = aiodicom.connect(
                "127.0.0.1", port, called_ae=AE, calling_ae=f"LOAD{index}", models=()
            )
            await stack.enter_async_context(connector)
        with pytest.raises(AssociationRejected) as info:
            async with aiodicom.connect("127.0.0.1", port, called_ae=AE, models=()):
                pass
        return info.value


def test_per_address_limit_names_its_setting(tmp_path: Path) -> None:
    """A load test from one host meets this one first (3/4 of max_associations)."""
    with scp_process(tmp_path, max_associations=8, max_associations_per_address=2) as server:
        rejected = asyncio.run(_third_from_one_address(server.port))
        deadline = time.monotonic() + 10.0
        while "association rejected" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log_text()
    assert (rejected.result, rejected.source, rejected.reason) == (2, 3, 2)
    (line,) = [text for text in log.splitlines() if '"association rejected"' in text]
    assert "server.max_associations_per_address=2" in line, line
