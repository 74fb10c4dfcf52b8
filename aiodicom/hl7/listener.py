"""The MLLP listener of the order feed: one ACK per message, many senders at once.

MLLP framing (``<VT> message <FS><CR>``, HL7 v2.5 Appendix C, MLLP release 1) is the
``hl7`` package's asyncio server (:func:`hl7.mllp.start_hl7_server`, ``readblock`` and
``writeblock``). Each block is answered: an accepted order with MSA-1 AA, anything
refused with AE/AR and an ERR segment (:mod:`aiodicom.hl7.ack`); a broken block or an
unexpected failure never ends the listener, only, for an oversized or idle stream, that
one connection. One info log line per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from dataclasses import dataclass

import hl7
from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server

from aiodicom.errors import Hl7Error
from aiodicom.hl7.ack import make_ack
from aiodicom.hl7.message import decode, message_type, read_header
from aiodicom.hl7.orders import OrderFeed, Outcome
from aiodicom.log import get_logger


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    """Where the listener binds and whom it serves (the ``hl7:`` config section)."""

    host: str = "127.0.0.1"
    port: int = 2575
    allowed_senders: tuple[str, ...] = ()
    max_message_kb: int = 1024
    idle_timeout: float = 300.0
    max_connections: int = 50


def _allowed(peer: str, senders: tuple[str, ...]) -> bool:
    """True when ``senders`` is empty or one of its addresses/networks holds ``peer``."""
    if not senders:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in senders)


class Hl7Listener:
    """Serves ``feed`` over MLLP on ``settings.host``:``settings.port``."""

    def __init__(self, feed: OrderFeed, settings: ListenerSettings) -> None:
        self.feed = feed
        self.settings = settings
        self._server: asyncio.Server | None = None
        self._writers: set[HL7StreamWriter] = set()
        self.log = get_logger(app="worklist", component="hl7")

    @property
    def port(self) -> int:
        """The bound port (the one the OS chose when ``settings.port`` is 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        limit = self.settings.max_message_kb << 10
        self._server = await start_hl7_server(
            self._client, self.settings.host, self.settings.port, limit=limit
        )
        self.log.info("hl7 listening", host=self.settings.host, port=self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()
        await self.feed.close()

    async def _client(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        if len(self._writers) >= self.settings.max_connections or not _allowed(
            peername[0] if peername else "", self.settings.allowed_senders
        ):
            self.log.warning("hl7 connection refused", peer=peer, connections=len(self._writers))
            writer.close()
            return
        self._writers.add(writer)
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: HL7StreamReader, writer: HL7StreamWriter, peer: str) -> None:
        while True:
            close = False
            try:
                block = await asyncio.wait_for(reader.readblock(), self.settings.idle_timeout)
            except (asyncio.IncompleteReadError, TimeoutError):
                return  # the sender closed (or went quiet): nothing to answer
            except InvalidBlockError:
                block = None  # bytes before <VT>: answered as unparseable
            except ValueError:  # larger than the limit: the stream cannot be followed
                block, close = None, True
            started = time.perf_counter()
            ack, codec = await self._answer(block, peer, started, close)
            writer.writeblock(str(ack).encode(codec, "replace"))
            try:  # a sender that stops reading its ACKs is dropped like an idle one
                await asyncio.wait_for(writer.drain(), self.settings.idle_timeout)
            except TimeoutError:
                return
            if close:
                return

    async def _answer(
        self, block: bytes | None, peer: str, started: float, oversized: bool = False
    ) -> tuple[hl7.Message, str]:
        """The ACK of one block and the codec to send it in; logs one line."""
        source, codec, outcome = None, "ascii", Outcome()
        error: Hl7Error | None = None
        try:
            if block is None:
                limit = self.settings.max_message_kb
                problem = f"larger than {limit} KiB" if oversized else "no MLLP start block <VT>"
                raise Hl7Error("MSH", 0, 100, f"unreadable message: {problem}", "AR")
            source = read_header(block)
            decoded = decode(block)
            source, codec = decoded.message, decoded.codec
            outcome = await self.feed.apply(decoded)
        except Hl7Error as exc:
            error = exc
        except Exception as exc:  # any other failure is answered, never fatal
            self.log.exception("hl7 message failed", peer=peer)
            error = Hl7Error("MSH", 0, 207, f"internal error: {type(exc).__name__}")
        ack = make_ack(source, error)
        kind = "^".join(message_type(source)[:2]) if source is not None else "?"
        self.log.info(
            "hl7 message",
            peer=peer,
            type=kind,
            control=",".join(outcome.controls) or None,
            ack=error.ack_code if error else "AA",
            items=outcome.items or None,
            error=str(error) if error else None,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return ack, codec


async def start_listener(feed: OrderFeed, settings: ListenerSettings) -> Hl7Listener:
    """A started listener (OSError when the address cannot be bound)."""
    listener = Hl7Listener(feed, settings)
    await listener.start()
    return listener
