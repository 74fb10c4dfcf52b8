"""The server's per-association fast paths behave like the general paths.

* A repeated, byte-identical A-ASSOCIATE-RQ is answered with the A-ASSOCIATE-AC that
  ``negotiate`` + ``encode_pdu`` compute for it (PS3.8 9.3.3), also after the policy is
  replaced (``Server.policy``, as ``OpsServer.reconfigure`` does).
* ``get_logger`` reuses one assembled logger only while the structlog configuration and
  the output streams are unchanged.
* Association ids stay short, hexadecimal and distinct.
* TCP_NODELAY is set unless the transport class is known to set it itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import sys

import pytest

from aiodicom.log import configure, get_logger
from aiodicom.net.loop import set_nodelay
from aiodicom.net.protocol import new_association_id
from aiodicom.net.server import ServerConfig, serve
from aiodicom.proto import pdu_associate
from aiodicom.proto.negotiation import AcceptorPolicy, check_user_identity, negotiate
from aiodicom.proto.pdu import encode_pdu
from aiodicom.proto.pdus import AssociateRQ, PresentationContextRQ, UserInformation
from tests.net.helpers import Recorder, counting_handler

WORKLIST = "1.2.840.10008.5.1.4.31"
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
RQ = AssociateRQ(
    "ANY-SCP",
    "FASTPATH",
    (
        PresentationContextRQ(1, "1.2.840.10008.1.1", (EXPLICIT_LE, IMPLICIT_LE)),
        PresentationContextRQ(3, WORKLIST, (IMPLICIT_LE, EXPLICIT_LE)),
    ),
    UserInformation(max_length=32768, implementation_class_uid="1.2.3.4"),
)


def _expected_ac(policy: AcceptorPolicy) -> bytes:
    """The general path: negotiate, then encode without any memo."""
    ac = negotiate(RQ, policy, identity=check_user_identity(RQ, policy))
    return pdu_associate._encode_rq_ac(ac)


async def _answer(port: int) -> bytes:
    """Send RQ on a fresh connection; return the A-ASSOCIATE-AC PDU, then abort."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(encode_pdu(RQ))
        header = await reader.readexactly(6)
        body = await reader.readexactly(int.from_bytes(header[2:], "big"))
        writer.write(bytes((7, 0, 0, 0, 0, 4, 0, 0, 0, 0)))  # A-ABORT (PS3.8 9.3.8)
        await writer.drain()
        return header + body
    finally:
        writer.close()


async def test_repeated_rq_gets_the_general_path_ac_also_after_a_policy_change() -> None:
    handlers = {"worklist": counting_handler(0, Recorder())}
    async with serve(ServerConfig(), handlers) as server:
        answers = [await _answer(server.port) for _ in range(3)]
        assert answers[0][0] == 0x02  # A-ASSOCIATE-AC
        assert answers == [_expected_ac(server.policy)] * 3
        old = server.policy
        server.policy = AcceptorPolicy(
            abstract_syntaxes={WORKLIST: (EXPLICIT_LE,)}, max_pdu_length=8192
        )
        assert server.negotiation.policy is server.policy
        changed = [await _answer(server.port) for _ in range(2)]
        assert changed == [_expected_ac(server.policy)] * 2
        assert changed[0] != _expected_ac(old)


def test_get_logger_follows_reconfiguration_and_replaced_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        configure("json", "info")
        get_logger(assoc="a1").info("one")
        monkeypatch.setattr(sys, "stderr", second)
        get_logger(assoc="a2").info("two")
        configure("json", "warning")
        get_logger(assoc="a3").info("filtered")
        get_logger(assoc="a4").warning("three")
    finally:
        configure("console", "warning")
    assert [json.loads(line)["assoc"] for line in first.getvalue().splitlines()] == ["a1"]
    events = [json.loads(line)["event"] for line in second.getvalue().splitlines()]
    assert events == ["two", "three"]


def test_association_ids_are_short_distinct_hex() -> None:
    ids = {new_association_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(value) == 8 and int(value, 16) >= 0 for value in ids)


class _SocketTransport(asyncio.Transport):
    """Just enough transport for ``set_nodelay``: counts socket look-ups."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.lookups = 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        self.lookups += 1
        return self.sock if name == "socket" else default


class _OtherTransport(_SocketTransport):
    pass


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_set_nodelay_sets_it_and_trusts_only_classes_seen_setting_it() -> None:
    with socket.socket() as plain, socket.socket() as preset, socket.socket() as later:
        transport = _SocketTransport(plain)
        set_nodelay(transport)  # not set yet: we set it, the class is not trusted
        assert _nodelay(plain) == 1
        set_nodelay(_SocketTransport(later))
        assert _nodelay(later) == 1
        preset.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        set_nodelay(_OtherTransport(preset))  # already set by the "loop": trusted now
        trusted = _OtherTransport(preset)
        set_nodelay(trusted)
        assert trusted.lookups == 0
