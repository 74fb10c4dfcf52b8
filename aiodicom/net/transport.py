"""The transport interface of the asyncio edge, and an in-memory implementation.

An association protocol needs little from its transport: it is *opened* (the protocol's
``connection_made``), bytes are *read* (``data_received``) and *written* (:meth:`write`),
and it is *closed* (:meth:`close`, then ``connection_lost``); flow control pauses and
resumes reading. :class:`Transport` names exactly that. TCP and TLS transports from
``loop.create_connection`` / ``loop.create_server`` are one implementation (the default of
:func:`aiodicom.connect` and of ``Server.start``); :class:`MemoryTransport` is another:
two protocols wired in process, no socket, for tests of the network layer and for
in-process peers (:func:`memory_opener` connects a client to a
:class:`~aiodicom.net.server.Server` in process).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

P = TypeVar("P", bound=asyncio.Protocol)

Opener = Callable[[Callable[[], P]], Awaitable[P]]
"""Opens a transport to a peer for the protocol the factory makes; returns that protocol
once ``connection_made`` ran (raises OSError when the peer cannot be reached)."""


class Transport(Protocol):
    """What :class:`~aiodicom.net.protocol.AssociationProtocol` uses of its transport."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_closing(self) -> bool: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...


class MemoryTransport(asyncio.Transport):
    """One end of an in-process connection: what is written here is read by ``peer``.

    Delivery is asynchronous (``call_soon``), as from a socket; while the peer pauses
    reading, written bytes wait. With no peer the bytes are only kept in :attr:`written`
    (then a test reads them itself). ``peername`` is what ``get_extra_info`` reports.
    """

    def __init__(self, protocol: asyncio.Protocol, peername: tuple[str, int]) -> None:
        super().__init__()
        self.loop = asyncio.get_running_loop()
        self.protocol = protocol
        self.peername = peername
        self.peer: MemoryTransport | None = None
        self.written: list[bytes] = []
        self.keep = True  # keep writes in ``written`` (no peer: always)
        self._closing = False
        self._paused = False
        self._inbox: list[bytes] = []

    # -- write side -----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        chunk = bytes(data)
        if self.keep or self.peer is None:
            self.written.append(chunk)
        if self.peer is not None:
            self.peer.deliver(chunk)

    def close(self) -> None:
        """Close both ends: each protocol hears ``connection_lost`` once."""
        if self._closing:
            return
        self._closing = True
        self.loop.call_soon(self._lost)
        if self.peer is not None:
            self.peer.close()

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peername if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Writes never buffer here: the peer's inbox takes everything."""

    def get_write_buffer_size(self) -> int:
        return 0

    # -- read side ------------------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        """Bytes from the peer: read at the next loop iteration (unless paused)."""
        self._inbox.append(data)
        if len(self._inbox) == 1:
            self.loop.call_soon(self._read)

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._inbox:
                self.loop.call_soon(self._read)

    def is_reading(self) -> bool:
        return not self._paused

    def _read(self, closing: bool = False) -> None:
        while self._inbox and not self._paused and (closing or not self._closing):
            self.protocol.data_received(self._inbox.pop(0))

    def _lost(self) -> None:
        self._read(closing=True)  # what arrived before the close is still read
        self._inbox.clear()
        self.protocol.connection_lost(None)


def memory_pair(
    client: asyncio.Protocol, server: asyncio.Protocol
) -> tuple[MemoryTransport, MemoryTransport]:
    """Connect two protocols in process; ``connection_made`` runs on both (server first).

    Writes are delivered, not kept (set ``keep`` to keep them in ``written``)."""
    client_end = MemoryTransport(client, ("127.0.0.1", 11112))
    server_end = MemoryTransport(server, ("127.0.0.1", 50000))
    client_end.peer, server_end.peer = server_end, client_end
    client_end.keep = server_end.keep = False
    server.connection_made(server_end)
    client.connection_made(client_end)
    return client_end, server_end


def memory_opener(accept: Callable[[], asyncio.Protocol]) -> Opener[Any]:
    """Open in-process connections to the protocols ``accept`` makes, e.g. to a server
    that need not listen on a port: ``memory_opener(server.protocol_factory)``."""

    async def open_memory(factory: Callable[[], P]) -> P:
        protocol = factory()
        memory_pair(protocol, accept())
        return protocol

    return open_memory
