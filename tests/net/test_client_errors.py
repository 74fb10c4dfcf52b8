"""Client API errors and counters: connect failures (#14.9), responses after a cancel (#14.10)."""

from __future__ import annotations

import errno

import pytest

import aiodicom
from aiodicom.errors import AiodicomError, AssociationAborted, ConnectFailed
from aiodicom.proto.status import SUCCESS
from tests.clients.peers import free_port
from tests.net.deaf_scp import DEAF_AE, deaf_scp
from tests.net.helpers import query


async def test_connection_refused_raises_connect_failed_not_aborted() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(ConnectFailed) as info:
        await aiodicom.connect("127.0.0.1", port, connect_timeout=5.0)
    exc = info.value
    assert isinstance(exc, AiodicomError)
    assert isinstance(exc, ConnectionError)
    assert not isinstance(exc, AssociationAborted)
    assert exc.errno == errno.ECONNREFUSED
    assert (exc.host, exc.port) == ("127.0.0.1", port)
    assert f"127.0.0.1:{port}" in str(exc)


async def test_responses_counts_only_what_the_caller_received() -> None:
    matches = 12
    with deaf_scp(matches=matches, delay=0.02) as port:
        async with aiodicom.connect("127.0.0.1", port, called_ae=DEAF_AE) as assoc:
            received = 0
            stream = assoc.find_responses(query())
            async for result in stream:
                if result.is_final:
                    break
                received += 1
                if received == 3:
                    await stream.aclose()  # C-CANCEL-RQ; the deaf peer sends all 12
                    break
            assert stream.cancelled
            assert stream.status == SUCCESS  # it never answered Cancel
            assert stream.responses == 3
            assert stream.dropped == matches - 3
