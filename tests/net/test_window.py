"""Asynchronous operations window (PS3.7 D.3.3.3): our SCU against our SCP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import FindHandler, FindRequest, ServerConfig
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import ConfigError
from aiodicom.net.pool import AssociationPool, PeerSpec, find_many
from aiodicom.proto.status import CANCEL, OUT_OF_RESOURCES, SUCCESS
from tests.net.helpers import Serve

MATCHES = 6


@dataclass
class Concurrency:
    """How many handlers ran at once on the SCP, and which message ids they saw."""

    now: int = 0
    peak: int = 0
    message_ids: list[int] = field(default_factory=list)


def tagged_handler(seen: Concurrency, *, delay: float = 0.002, count: int = MATCHES) -> FindHandler:
    """Each match carries the query's PatientID and the request's message id."""

    async def handler(request: FindRequest) -> AsyncIterator[bytes]:
        seen.now += 1
        seen.peak = max(seen.peak, seen.now)
        seen.message_ids.append(request.message_id)
        tag = str(request.identifier.PatientID)
        try:
            for index in range(count):
                ds = Dataset()
                ds.PatientID = tag
                ds.PatientName = f"M{request.message_id}^{index}"
                yield encode_identifier(ds, request.transfer_syntax)
                await asyncio.sleep(delay)
        finally:
            seen.now -= 1

    return handler


def by_id(patient_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id
    ds.PatientName = ""
    return ds


async def collect(assoc: aiodicom.ClientAssociation, patient_id: str) -> tuple[int, list[str]]:
    """(final status, [PatientName of each match]) after checking every match's PatientID."""
    names: list[str] = []
    status = -1
    async for result in assoc.find_responses(by_id(patient_id)):
        if result.is_final:
            status = result.status
            continue
        identifier = result.identifier
        assert identifier is not None
        assert identifier.PatientID == patient_id
        assert str(identifier.PatientName).startswith(f"M{result.message_id}^")
        names.append(str(identifier.PatientName))
    return status, names


async def test_eight_finds_share_a_window_of_four(serve: Serve) -> None:
    seen = Concurrency()
    config = ServerConfig(async_ops_window=4)
    async with (
        serve(config, {"worklist": tagged_handler(seen)}) as server,
        aiodicom.connect("127.0.0.1", server.port, async_ops_window=(8, 8)) as assoc,
    ):
        assert assoc.accepted.user_information.async_ops_window == (4, 4)
        assert assoc.window == 4
        results = await asyncio.gather(*(collect(assoc, f"Q{i}") for i in range(8)))
    assert seen.peak == 4  # really concurrent, and never above the window
    assert sorted(seen.message_ids) == list(range(1, 9))
    for status, names in results:
        assert status == SUCCESS
        assert len(names) == MATCHES
        message_id = names[0].split("^")[0]
        assert names == [f"{message_id}^{i}" for i in range(MATCHES)]
    assert len({names[0] for _, names in results}) == 8


async def test_cancel_one_stream_only_ends_that_one(serve: Serve) -> None:
    seen = Concurrency()
    handler = tagged_handler(seen, delay=0.01, count=40)
    async with (
        serve(ServerConfig(async_ops_window=4), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port, async_ops_window=(4, 4)) as assoc,
    ):

        async def cancel_after_two() -> tuple[int | None, int]:
            got = 0
            async with assoc.find(by_id("VICTIM")) as stream:
                async for _ in stream:
                    got += 1
                    if got == 2:
                        break
            return stream.status, got

        others = [asyncio.create_task(collect(assoc, f"KEEP{i}")) for i in range(3)]
        victim_status, victim_got = await cancel_after_two()
        results = await asyncio.gather(*others)
    assert (victim_status, victim_got) == (CANCEL, 2)
    assert all(status == SUCCESS and len(names) == 40 for status, names in results)
    assert seen.peak == 4


async def test_window_one_server_serializes_concurrent_finds(serve: Serve) -> None:
    seen = Concurrency()
    async with (
        serve(ServerConfig(), {"worklist": tagged_handler(seen)}) as server,
        aiodicom.connect("127.0.0.1", server.port, async_ops_window=(4, 4)) as assoc,
    ):
        assert assoc.accepted.user_information.async_ops_window == (1, 1)
        assert assoc.window == 1
        results = await asyncio.gather(*(collect(assoc, f"S{i}") for i in range(8)))
    assert seen.peak == 1
    assert all(status == SUCCESS and len(names) == MATCHES for status, names in results)


async def test_no_window_proposed_stays_synchronous(serve: Serve) -> None:
    seen = Concurrency()
    async with (
        serve(ServerConfig(async_ops_window=4), {"worklist": tagged_handler(seen)}) as srv,
        aiodicom.connect("127.0.0.1", srv.port) as assoc,
    ):
        assert assoc.accepted.user_information.async_ops_window is None
        assert assoc.window == 1
        results = await asyncio.gather(*(collect(assoc, f"N{i}") for i in range(4)))
    assert seen.peak == 1
    assert all(status == SUCCESS for status, _ in results)


async def test_server_refuses_operations_beyond_the_window(serve: Serve) -> None:
    """A peer ignoring the negotiated window gets 0xA700 for the extra C-FIND."""
    seen = Concurrency()
    handler = tagged_handler(seen, delay=0.02, count=20)
    async with (
        serve(ServerConfig(async_ops_window=2), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port, async_ops_window=(2, 2)) as assoc,
    ):
        assoc.window = 3  # misbehave: the SCU believes it may have three outstanding
        assoc._slots = asyncio.Semaphore(3)
        results = await asyncio.gather(*(collect(assoc, f"W{i}") for i in range(3)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [SUCCESS, SUCCESS, OUT_OF_RESOURCES]
        assert await assoc.echo() == SUCCESS  # the association survived
    assert seen.peak == 2


async def test_pool_runs_several_queries_per_association(serve: Serve) -> None:
    seen = Concurrency()
    async with serve(
        ServerConfig(async_ops_window=4), {"worklist": tagged_handler(seen)}
    ) as server:
        peer = PeerSpec("127.0.0.1", server.port)
        async with AssociationPool(max_per_peer=2, async_ops_window=(4, 4)) as pool:
            queries = [by_id(f"P{i}") for i in range(16)]
            outcomes = [o async for o in find_many(queries, peer=peer, concurrency=8, pool=pool)]
            assert pool.opened <= 2
    assert seen.peak > 2  # more queries at once than associations: the window is used
    assert all(o.ok and len(o.responses) == MATCHES for o in outcomes)
    for outcome in outcomes:
        identifiers = outcome.identifiers
        assert {str(ds.PatientID) for ds in identifiers} == {outcome.query.identifier.PatientID}


def test_server_config_rejects_a_bad_window() -> None:
    with pytest.raises(ConfigError, match="async_ops_window"):
        aiodicom.Server(ServerConfig(async_ops_window=0), {})
