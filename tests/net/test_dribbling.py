"""Slow peers cannot hold association slots (issue 15.2).

A peer that sends one byte every few seconds resets the idle timer forever, so the SCP
bounds the time a PDU (PS3.8 9.3.1) and a DIMSE message (PS3.7 6.3.1, PS3.8 Annex E) may
take to arrive, and limits the associations one peer address and one calling AE title
may hold (transient A-ASSOCIATE-RJ, source 3, reason 2: local-limit-exceeded, PS3.8
Table 9-21). The dribblers connect from 127.0.0.1; the legitimate peer from 127.0.0.2
(Linux routes all of 127/8 to the loopback interface).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.config import load_qr_config, load_worklist_config
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import ConfigError
from aiodicom.proto.dimse import encode_command
from aiodicom.proto.messages import CFindRQ
from aiodicom.proto.negotiation import IMPLICIT_VR_LE
from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import PDV, Abort, AssociateAC, AssociateRJ
from aiodicom.proto.status import SUCCESS
from servers.network import network_policy
from tests.hardening.support import WORKLIST_UID, RawRequestor, associate_rq, worklist_query

CONTEXT = 1  # the only context of support.associate_rq (Worklist FIND, implicit VR LE)
COMMAND = encode_command(CFindRQ(1, WORKLIST_UID))
IDENTIFIER = encode_identifier(worklist_query(), IMPLICIT_VR_LE)
FIND_PDU = encode_pdata([PDV(CONTEXT, True, True, COMMAND), PDV(CONTEXT, False, True, IDENTIFIER)])
LIMIT_RJ = AssociateRJ(result=2, source=3, reason=2)


async def _one_match(request: FindRequest) -> AsyncIterator[Dataset]:
    yield worklist_query()


class Dribbler:
    """One raw association that sends its bytes slowly, recording what came back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reply: object = None  # AssociateAC, AssociateRJ or None
        self.closed_at: float | None = None
        self.received = b""
        self.sent = 0

    @classmethod
    async def open(cls, port: int, calling_ae: str = "DRIBBLER") -> Dribbler:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self = cls(reader, writer)
        writer.write(encode_pdu(associate_rq(calling_ae=calling_ae)))
        header = await asyncio.wait_for(reader.readexactly(6), 10.0)
        body = await asyncio.wait_for(reader.readexactly(int.from_bytes(header[2:], "big")), 10)
        self.reply = PDUDecoder(0).feed(header + body)[0]
        return self

    @property
    def accepted(self) -> bool:
        return isinstance(self.reply, AssociateAC)

    async def dribble(self, chunks: list[bytes], every: float) -> None:
        """Send ``chunks`` one by one, ``every`` seconds apart, until the server closes."""
        reading = asyncio.create_task(self._read())
        try:
            for chunk in chunks:
                if reading.done() or self.writer.is_closing():
                    break
                with contextlib.suppress(ConnectionError):
                    self.writer.write(chunk)
                    self.sent += 1
                await asyncio.wait({reading}, timeout=every)
            await asyncio.wait({reading}, timeout=10.0)
        finally:
            reading.cancel()
            self.writer.close()

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionError):
            while block := await self.reader.read(65536):
                self.received += block
        self.closed_at = time.monotonic()

    def aborted(self) -> bool:
        """The server sent an A-ABORT (service provider, PS3.8 9.3.8) and closed."""
        return self.closed_at is not None and PDUDecoder(0).feed(self.received) == [Abort(2, 0)]


def _bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@contextlib.contextmanager
def _no_loop_errors() -> Iterator[list[dict[str, object]]]:
    errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_a_pdu_dribbled_byte_by_byte_is_aborted_at_the_pdu_timeout() -> None:
    """10 peers send a C-FIND one byte every 0.2 s: the idle timer (2 s) never fires, the
    PDU deadline (1 s from its first byte) does."""
    config = ServerConfig(idle_timeout=2.0, pdu_timeout=1.0)
    with _no_loop_errors():
        async with aiodicom.serve(config, {"worklist": _one_match}) as server:
            dribblers = [await Dribbler.open(server.port) for _ in range(10)]
            started = time.monotonic()
            await asyncio.gather(*(d.dribble(_bytes(FIND_PDU), 0.2) for d in dribblers))
    assert all(d.accepted and d.aborted() for d in dribblers)
    assert all(d.sent < len(FIND_PDU) for d in dribblers)  # cut off long before the end
    assert max(d.closed_at or 0 for d in dribblers) - started < 3.0


async def test_a_message_dribbled_pdu_by_pdu_is_aborted_at_the_message_timeout() -> None:
    """Each P-DATA-TF arrives whole, but the identifier comes 2 bytes per PDU every 0.2 s:
    the DIMSE message deadline (1.5 s from its first PDU) ends the association."""
    pieces = [encode_pdata([PDV(CONTEXT, True, True, COMMAND)])]
    pieces += [
        encode_pdata([PDV(CONTEXT, False, end >= len(IDENTIFIER), IDENTIFIER[end - 2 : end])])
        for end in range(2, len(IDENTIFIER) + 1, 2)
    ]
    config = ServerConfig(idle_timeout=2.0, pdu_timeout=1.0, message_timeout=1.5)
    with _no_loop_errors():
        async with aiodicom.serve(config, {"worklist": _one_match}) as server:
            dribbler = await Dribbler.open(server.port)
            started = time.monotonic()
            await dribbler.dribble(pieces, 0.2)
    assert dribbler.accepted and dribbler.aborted()
    assert dribbler.sent < len(pieces)
    assert 1.4 < (dribbler.closed_at or 0) - started < 3.0


async def _legitimate_query(port: int, source: str, calling_ae: str) -> int | None:
    """A C-FIND from ``source`` (an address of 127/8); its final status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    requestor = RawRequestor(reader, writer)
    try:
        assert await requestor.associate(5.0, calling_ae)
        return (await requestor.find_raw(IDENTIFIER, 5.0)).final_status
    finally:
        await requestor.close()


async def test_100_dribblers_leave_room_for_a_legitimate_query() -> None:
    """Issue 15.2: 100 dribblers (the default association limit) from one address.

    The per-address limit (default: 3/4 of max_associations) refuses the last quarter
    with a transient A-ASSOCIATE-RJ; a query from another address is answered at once,
    while they dribble; the PDU deadline then aborts every dribbler.
    """
    config = ServerConfig(idle_timeout=30.0, pdu_timeout=3.0)
    with _no_loop_errors():
        async with aiodicom.serve(config, {"worklist": _one_match}) as server:
            dribblers = list(
                await asyncio.gather(*(Dribbler.open(server.port) for _ in range(100)))
            )
            accepted = [d for d in dribblers if d.accepted]
            for refused in (d for d in dribblers if not d.accepted):
                refused.writer.close()
            started = time.monotonic()
            dribbling = [asyncio.create_task(d.dribble(_bytes(FIND_PDU), 0.2)) for d in accepted]
            await asyncio.sleep(0.5)  # every dribbler has a PDU in progress
            assert await _legitimate_query(server.port, "127.0.0.2", "MODALITY") == SUCCESS
            answered = time.monotonic() - started
            await asyncio.gather(*dribbling)
            assert server.established_count == 0
    assert len(accepted) == 75
    assert all(d.reply == LIMIT_RJ for d in dribblers if not d.accepted)
    assert answered < 3.0  # answered while the dribblers still held their slots
    assert all(d.aborted() and d.sent < len(FIND_PDU) for d in accepted)
    assert max(d.closed_at or 0 for d in accepted) - started < 6.0


async def test_per_calling_ae_and_per_address_limits() -> None:
    """Explicit limits: the third association of one calling AE is refused (transient,
    PS3.8 Table 9-21 source 3 reason 2) while another AE gets in, and the per-address
    limit refuses a fourth association from 127.0.0.1 while 127.0.0.2 is still served."""
    config = ServerConfig(max_associations_per_calling_ae=2, max_associations_per_address=3)
    async with aiodicom.serve(config, {"worklist": _one_match}) as server:
        same_ae = [await Dribbler.open(server.port, "GREEDY") for _ in range(3)]
        assert [d.accepted for d in same_ae] == [True, True, False]
        assert same_ae[2].reply == LIMIT_RJ
        other = await Dribbler.open(server.port, "OTHER")
        assert other.accepted
        fourth = await Dribbler.open(server.port, "FOURTH")
        assert fourth.reply == LIMIT_RJ
        assert await _legitimate_query(server.port, "127.0.0.2", "LEGIT") == SUCCESS
        for dribbler in [*same_ae, other, fourth]:
            dribbler.writer.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pdu_timeout", 0.0),
        ("message_timeout", -1.0),
        ("max_associations_per_address", 0),
        ("max_associations_per_calling_ae", 0),
    ],
)
def test_limits_are_validated(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        ServerConfig(**{field: value}).validate()  # type: ignore[arg-type]


ROOT = Path(__file__).resolve().parents[2]


def test_config_file_keys_reach_the_server_policy(tmp_path: Path) -> None:
    """The ``server:`` keys of both config files become the ServerConfig limits."""
    file = tmp_path / "worklist.yaml"
    file.write_text(
        "server: {pdu_timeout: 5, message_timeout: 20, max_associations_per_address: 4,"
        " max_associations_per_calling_ae: 2}\n"
    )
    policy = network_policy(load_worklist_config(file).server)
    assert (policy.pdu_timeout, policy.message_timeout) == (5.0, 20.0)
    assert policy.source_limits() == (4, 2)
    for shipped in (
        network_policy(load_worklist_config(ROOT / "config" / "worklist.yaml").server),
        network_policy(load_qr_config(ROOT / "config" / "qrscp.yaml").server),
    ):
        assert (shipped.pdu_timeout, shipped.message_timeout) == (60.0, 180.0)
        assert shipped.source_limits() == (75, 75)
    file.write_text("server: {pdu_timeout: 0}\n")
    with pytest.raises(ConfigError, match=r"server\.pdu_timeout"):
        load_worklist_config(file)
