"""Connect, ARTIM (PS3.8 9.1.5), DIMSE and idle timeouts over loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import AssociationAborted, DicomTimeoutError, FindRequest, ServerConfig
from aiodicom.errors import AssociationError, ConnectFailed
from tests.net.helpers import Serve, query, read_until_closed


@pytest.fixture
def saturated_port() -> Iterator[int]:
    """A listening port whose backlog is full: a further connect never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connect_timeout(saturated_port: int) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DicomTimeoutError) as info:
        await aiodicom.connect("127.0.0.1", saturated_port, connect_timeout=0.3)
    assert info.value.what == "connect"
    assert loop.time() - started < 3.0


async def test_connection_refused_is_an_association_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with pytest.raises(AssociationError, match=f"127.0.0.1:{port}") as info:
        await aiodicom.connect("127.0.0.1", port, connect_timeout=2)
    assert isinstance(info.value, ConnectFailed)  # not AssociationAborted (#14.9)


async def test_artim_closes_a_silent_connection(serve: Serve) -> None:
    async with serve(ServerConfig(artim_timeout=0.3), {}) as server:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        data = await read_until_closed(reader, 5.0)
        elapsed = loop.time() - started
        writer.close()
        assert data == b""  # closed without a word (Sta2 + ARTIM, PS3.8 9.2 AA-2)
        assert 0.25 < elapsed < 3.0
        assert not server.connections


async def test_dimse_timeout_aborts_when_the_scp_stays_silent(serve: Serve) -> None:
    async def slow(request: FindRequest) -> AsyncIterator[Dataset]:
        await asyncio.sleep(30)
        yield Dataset()

    async with serve(ServerConfig(), {"worklist": slow}) as server:
        assoc = await aiodicom.connect("127.0.0.1", server.port, dimse_timeout=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DicomTimeoutError) as info:
            async for _ in assoc.find(query()):
                pass
        assert info.value.what == "DIMSE response"
        assert 0.25 < loop.time() - started < 3.0
        assert not assoc.is_alive
        closing = [protocol.closed for protocol in server.connections]
        if closing:
            await asyncio.wait(closing, timeout=5)
        assert not server.connections


async def test_idle_timeout_aborts_a_silent_association(serve: Serve) -> None:
    async with serve(ServerConfig(idle_timeout=0.3), {}) as server:
        assoc = await aiodicom.connect("127.0.0.1", server.port, models=())
        await asyncio.sleep(0.8)
        assert not server.connections
        with pytest.raises(AssociationAborted):
            await assoc.echo()
