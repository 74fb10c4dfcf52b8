"""Server association policy (PS3.8 9.3.4, Table 9-21), release and abort (PS3.8 7.2-7.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import AssociationAborted, AssociationRejected, ServerConfig
from aiodicom.proto.pdus import UserIdentityRQ
from aiodicom.proto.status import SUCCESS


async def _all_closed(server: aiodicom.Server, limit: float = 5.0) -> None:
    """Wait until every connection of ``server`` is closed."""
    closing = [protocol.closed for protocol in server.connections]
    if closing:
        await asyncio.wait(closing, timeout=limit)
    assert not server.connections


async def test_one_over_the_association_limit_is_rejected_transient_local_limit() -> None:
    async with aiodicom.serve(ServerConfig(max_associations=2), {}) as server:
        port = server.port
        async with (
            aiodicom.connect("127.0.0.1", port, models=()) as first,
            aiodicom.connect("127.0.0.1", port, models=()) as second,
        ):
            with pytest.raises(AssociationRejected) as info:
                async with aiodicom.connect("127.0.0.1", port, models=()):
                    pass
            assert (info.value.result, info.value.source, info.value.reason) == (2, 3, 2)
            assert info.value.reason_name == "local-limit-exceeded"
            assert await first.echo() == SUCCESS
            assert await second.echo() == SUCCESS
        # once they are released, a new association is accepted again
        await _all_closed(server)
        assert server.established_count == 0
        async with aiodicom.connect("127.0.0.1", port, models=()) as third:
            assert await third.echo() == SUCCESS


async def test_calling_ae_not_in_allow_list_is_rejected_permanent_reason_3() -> None:
    config = ServerConfig(allowed_calling_aes={"GOOD"})
    async with aiodicom.serve(config, {}) as server:
        with pytest.raises(AssociationRejected) as info:
            async with aiodicom.connect("127.0.0.1", server.port, calling_ae="EVIL", models=()):
                pass
        assert (info.value.result, info.value.source, info.value.reason) == (1, 1, 3)
        async with aiodicom.connect(
            "127.0.0.1", server.port, calling_ae="GOOD", models=()
        ) as assoc:
            assert await assoc.echo() == SUCCESS


async def test_unknown_called_ae_is_rejected_permanent_reason_7() -> None:
    config = ServerConfig(ae_title="ORTHO", strict_called_ae=True)
    async with aiodicom.serve(config, {}) as server:
        with pytest.raises(AssociationRejected) as info:
            async with aiodicom.connect("127.0.0.1", server.port, called_ae="OTHER", models=()):
                pass
        assert (info.value.result, info.value.source, info.value.reason) == (1, 1, 7)
        assert "called-AE-title-not-recognized" in str(info.value)
        async with aiodicom.connect(
            "127.0.0.1", server.port, called_ae="ORTHO", models=()
        ) as assoc:
            assert await assoc.echo() == SUCCESS


async def test_user_identity_hook_accepts_and_refuses() -> None:
    def check(identity: UserIdentityRQ) -> bytes | None:
        return b"" if identity.secondary_field == b"secret" else None

    async with aiodicom.serve(ServerConfig(user_identity=check), {}) as server:
        with pytest.raises(AssociationRejected) as info:
            async with aiodicom.connect(
                "127.0.0.1", server.port, models=(), user_identity=("bob", "wrong")
            ):
                pass
        assert info.value.result == 1
        async with aiodicom.connect(
            "127.0.0.1", server.port, models=(), user_identity=("bob", "secret")
        ) as assoc:
            assert await assoc.echo() == SUCCESS


async def test_release_then_operations_fail_and_server_forgets_it() -> None:
    async with aiodicom.serve(ServerConfig(), {}) as server:
        assoc = await aiodicom.connect("127.0.0.1", server.port, models=())
        assert server.established_count == 1
        await assoc.release()
        assert not assoc.is_alive
        with pytest.raises(AssociationAborted):
            await assoc.echo()
        await _all_closed(server)


async def test_abort_drops_the_association_on_both_sides() -> None:
    async with aiodicom.serve(ServerConfig(), {}) as server:
        assoc = await aiodicom.connect("127.0.0.1", server.port, models=())
        assert await assoc.echo() == SUCCESS
        await assoc.abort()
        assert not assoc.is_alive
        with pytest.raises(AssociationAborted):
            await assoc.echo()
        await _all_closed(server)


async def test_server_abort_is_seen_by_the_client() -> None:
    async with aiodicom.serve(ServerConfig(), {}) as server:
        assoc = await aiodicom.connect("127.0.0.1", server.port, models=())
        for protocol in list(server.connections):
            protocol.abort(source=2, reason=0)
        with pytest.raises(AssociationAborted):
            async with asyncio.timeout(5):
                await assoc.echo()


async def test_graceful_shutdown_aborts_stragglers_after_deadline() -> None:
    server = aiodicom.Server(ServerConfig(), {})
    await server.start()
    assoc = await aiodicom.connect("127.0.0.1", server.port, models=())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await server.shutdown(deadline=0.3)
    assert 0.25 < loop.time() - started < 3.0
    assert not server.connections
    assert not server.is_serving
    with pytest.raises(AssociationAborted):
        await assoc.echo()


async def test_extended_negotiation_is_answered_with_only_the_bytes_we_support() -> None:
    """PS3.7 D.3.3.5: the reply ANDs the request with ServerConfig.extended_negotiation."""
    study = aiodicom.QueryModel.STUDY
    config = ServerConfig(extended_negotiation={"study": b"\x01\x00\x01"})
    async with (
        aiodicom.serve(config, {"study": _no_matches, "worklist": _no_matches}) as server,
        aiodicom.connect(
            "127.0.0.1",
            server.port,
            extended_negotiation={"study": b"\x01\x01\x01", "worklist": b"\x01"},
        ) as assoc,
    ):
        replies = {
            item.sop_class_uid: item.application_info
            for item in assoc.accepted.user_information.sop_class_extended
        }
    assert replies == {study.sop_class_uid: b"\x01\x00\x01"}


async def _no_matches(request: aiodicom.FindRequest) -> AsyncIterator[Dataset]:
    if request.cancelled:
        yield Dataset()
