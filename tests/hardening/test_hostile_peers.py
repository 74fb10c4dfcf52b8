"""Hostile and broken peers against a worklist SCP subprocess (loopback).

The SCP runs with ARTIM = 1.5 s and idle timeout = 2 s. Every test runs a steady query
stream alongside the attack and checks that it keeps succeeding, and that the server
process RSS stays within :data:`RSS_MARGIN_KB` of the baseline measured at start.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiodicom.proto.status import StatusCategory, category_of
from tests.hardening.support import (
    QueryStream,
    RawRequestor,
    ScpProcess,
    associate_rq_bytes,
    element,
    rss_kb,
    scp_process,
    wait_for_progress,
)

pytestmark = pytest.mark.slow

ARTIM = 1.5
IDLE = 2.0
RSS_MARGIN_KB = 64 * 1024
STORM_CONNECTIONS = 10_000
STORM_PARALLEL = 100


@pytest.fixture(scope="module")
def scp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScpProcess]:
    folder = tmp_path_factory.mktemp("hostile")
    with scp_process(
        folder, ["--no-audit"], artim_timeout=ARTIM, idle_timeout=IDLE, max_associations=200
    ) as process:
        yield process


@pytest.fixture(scope="module")
def baseline_rss(scp: ScpProcess) -> int:
    return rss_kb(scp.pid)


@pytest.fixture
async def stream(scp: ScpProcess, baseline_rss: int) -> AsyncIterator[QueryStream]:
    """A query stream that must keep succeeding during the test (checked at the end)."""
    queries = QueryStream(scp.port)
    queries.start()
    await wait_for_progress(queries, 1)
    yield queries
    try:
        await wait_for_progress(queries, 2)
    finally:
        await queries.stop()
    assert queries.failures == [], queries.failures[:3]
    assert queries.matches > 0
    assert scp.process.poll() is None, "server died"
    assert rss_kb(scp.pid) < baseline_rss + RSS_MARGIN_KB


async def _read_until_eof(reader: asyncio.StreamReader, limit: float) -> bytes:
    chunks: list[bytes] = []
    async with asyncio.timeout(limit):
        while chunk := await reader.read(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_slowloris_association_request(scp: ScpProcess, stream: QueryStream) -> None:
    """Expected: the A-ASSOCIATE-RQ trickles in at 1 byte/s; ARTIM (PS3.8 9.1.5, 1.5 s)
    fires in Sta2 and the server closes the connection (AA-2) long before the RQ is
    complete, without an A-ASSOCIATE-AC."""
    reader, writer = await asyncio.open_connection("127.0.0.1", scp.port)
    started = time.monotonic()
    sent = 0
    reply = b"?"
    for byte in associate_rq_bytes():
        writer.write(bytes([byte]))
        sent += 1
        try:
            reply = await asyncio.wait_for(reader.read(100), 1.0)
        except TimeoutError:
            continue
        break
    elapsed = time.monotonic() - started
    writer.close()
    assert reply == b"" or reply[:1] == b"\x07"  # closed, or A-ABORT
    assert ARTIM * 0.8 < elapsed < ARTIM + 2.5
    assert sent < 10


async def test_peer_that_never_speaks(scp: ScpProcess, stream: QueryStream) -> None:
    """Expected: a connection with no A-ASSOCIATE-RQ is closed when ARTIM expires."""
    reader, writer = await asyncio.open_connection("127.0.0.1", scp.port)
    started = time.monotonic()
    reply = await _read_until_eof(reader, ARTIM + 3)
    elapsed = time.monotonic() - started
    writer.close()
    assert reply in (b"",) or reply[:1] == b"\x07"
    assert ARTIM * 0.8 < elapsed < ARTIM + 2.5


async def test_idle_association_is_aborted(scp: ScpProcess, stream: QueryStream) -> None:
    """Expected: an association that goes quiet after A-ASSOCIATE-AC gets an A-ABORT
    (source 2) after the idle timeout (2 s) and the connection is closed."""
    raw = await RawRequestor.open(scp.port)
    assert await raw.associate()
    started = time.monotonic()
    while not raw.outcome.closed:
        await raw._pump(IDLE + 3)
    elapsed = time.monotonic() - started
    await raw.close()
    assert raw.outcome.aborted
    assert IDLE * 0.8 < elapsed < IDLE + 2.5


@pytest.mark.parametrize("when", ["mid-request", "after-accept"])
async def test_half_closed_socket(scp: ScpProcess, stream: QueryStream, when: str) -> None:
    """Expected: the peer shuts down its sending side (FIN); the server treats it as the
    end of the connection (PS3.8 Evt17) and closes at once, not after ARTIM/idle."""
    reader, writer = await asyncio.open_connection("127.0.0.1", scp.port)
    request = associate_rq_bytes()
    if when == "mid-request":
        writer.write(request[: len(request) // 2])
    else:
        writer.write(request)
        header = await reader.readexactly(6)
        assert header[0] == 0x02  # A-ASSOCIATE-AC
        await reader.readexactly(struct.unpack(">L", header[2:])[0])
    await writer.drain()
    started = time.monotonic()
    writer.write_eof()
    await _read_until_eof(reader, 3.0)
    writer.close()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("pdu_type", [0x01, 0x04])
async def test_lying_length_of_4_gb(scp: ScpProcess, stream: QueryStream, pdu_type: int) -> None:
    """Expected: a PDU header announcing 0xFFFFFFFF bytes (A-ASSOCIATE-RQ before, P-DATA-TF
    after the association) is refused from the 6-byte header (PS3.8 9.3.1): A-ABORT
    source 2 at once, nothing buffered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", scp.port)
    if pdu_type == 0x04:
        writer.write(associate_rq_bytes())
        header = await reader.readexactly(6)
        await reader.readexactly(struct.unpack(">L", header[2:])[0])
    started = time.monotonic()
    writer.write(struct.pack(">BBL", pdu_type, 0, 0xFFFFFFFF) + b"\x00" * 1024)
    await writer.drain()
    reply = await _read_until_eof(reader, 3.0)
    elapsed = time.monotonic() - started
    writer.close()
    assert reply[:1] == b"\x07" and reply[8] == 2
    assert elapsed < 0.5


async def _open_and_close(port: int, gate: asyncio.Semaphore) -> bool:
    async with gate:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        return True


async def test_connection_storm(scp: ScpProcess, stream: QueryStream) -> None:
    """Expected: 10,000 connections that open and close at once (RST, 100 in parallel)
    are all accepted and dropped within 60 s (about 8 s here); queries on other
    associations keep succeeding, RSS stays bounded."""
    gate = asyncio.Semaphore(STORM_PARALLEL)
    started = time.monotonic()
    results = await asyncio.gather(
        *(_open_and_close(scp.port, gate) for _ in range(STORM_CONNECTIONS))
    )
    elapsed = time.monotonic() - started
    assert sum(results) >= STORM_CONNECTIONS * 0.99
    assert elapsed < 60


def _nested_sequence(depth: int) -> bytes:
    """(0040,0100) sequences nested ``depth`` deep, undefined lengths (PS3.5 7.5)."""
    open_sq = struct.pack("<HHL", 0x0040, 0x0100, 0xFFFFFFFF)
    open_item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close_item = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
    close_sq = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    return (open_sq + open_item) * depth + (close_item + close_sq) * depth


def _many_keys(count: int) -> bytes:
    head = element(0x0010, 0x0010, b"DOE*")
    return head + b"".join(element(0x0011, 0x1000 + i, b"") for i in range(count))


BAD_DATA_SETS = {
    # declared length 1000, 8 bytes present
    "bad-vr-length": struct.pack("<HHL", 0x0010, 0x0010, 1000) + b"DOE^JOHN",
    # undefined length is only allowed for SQ/items in implicit VR (PS3.5 7.1.3)
    "undefined-length-non-sq": struct.pack("<HHL", 0x0010, 0x0010, 0xFFFFFFFF) + b"DOE^",
    "nested-1000-deep": _nested_sequence(1000),
    "unknown-charset": element(0x0008, 0x0005, b"ISO_IR 999")
    + element(0x0010, 0x0010, b"\xff\xfe\x80X"),
    "odd-length-garbage": b"\x10\x00\x10",
}


@pytest.mark.parametrize("name", sorted(BAD_DATA_SETS))
async def test_valid_pdus_carrying_bad_data_sets(
    scp: ScpProcess, stream: QueryStream, name: str
) -> None:
    """Expected: a well-formed C-FIND-RQ whose identifier is broken ends in a failure
    status (PS3.4 K.4.1.1.4: 0xA900 / 0xC000 range) or an A-ABORT, within seconds."""
    raw = await RawRequestor.open(scp.port)
    assert await raw.associate()
    outcome = await raw.find_raw(BAD_DATA_SETS[name], limit=10)
    await raw.close()
    final = outcome.final_status
    assert outcome.aborted or (
        final is not None and category_of(final) is StatusCategory.FAILURE
    ), outcome


async def test_invalid_bytes_in_a_known_charset(scp: ScpProcess, stream: QueryStream) -> None:
    """Expected: ISO_IR 192 with an invalid UTF-8 sequence in Patient's Name is decoded
    with replacement characters (PS3.5 6.1.2.5: no exception), so the query completes
    with a final status and matches nothing."""
    raw = await RawRequestor.open(scp.port)
    assert await raw.associate()
    data = element(0x0008, 0x0005, b"ISO_IR 192") + element(0x0010, 0x0010, b"\xc3(")
    outcome = await raw.find_raw(data, limit=10)
    await raw.close()
    assert (
        outcome.aborted
        or outcome.statuses in ([0x0000], [0xC000])
        or (
            outcome.final_status is not None
            and category_of(outcome.final_status) is StatusCategory.FAILURE
        )
    ), outcome


async def test_query_with_10000_keys(scp: ScpProcess, stream: QueryStream) -> None:
    """Expected: 10,000 (unsupported, private) keys in one identifier are answered within
    10 s with a final status (Success after Pending-with-warning 0xFF01 for the
    unsupported keys, PS3.4 K.4.1.1.4, or a failure) - never a hang."""
    raw = await RawRequestor.open(scp.port)
    assert await raw.associate()
    started = time.monotonic()
    outcome = await raw.find_raw(_many_keys(10_000), limit=10)
    elapsed = time.monotonic() - started
    await raw.close()
    assert outcome.final_status is not None or outcome.aborted, outcome
    assert elapsed < 10


def test_log_names_the_limits(scp: ScpProcess, tmp_path: Path) -> None:
    """Expected: the server log names each fired limit (ARTIM, idle timeout, bad input)."""
    text = scp.log_text()
    for needle in ("artim timeout", "idle timeout"):
        if needle not in text:
            pytest.skip(f"{needle!r} not exercised in this selection")
    assert "bad input from peer" in text or "undecodable" in text
