"""Event loop helpers: uvloop when importable, stock asyncio otherwise."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def uvloop_available() -> bool:
    """True when uvloop can be imported on this platform."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def install() -> bool:
    """Make new event loops uvloop loops when uvloop is importable; return True if it is."""
    if not uvloop_available():
        return False
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def run(coro: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """Run ``coro`` to completion on a fresh loop (uvloop if available and wanted)."""
    if use_uvloop and uvloop_available():
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


_NODELAY_BUILT_IN: set[type] = set()
"""Transport classes seen with TCP_NODELAY already set: they disable Nagle themselves."""


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Disable Nagle (TCP_NODELAY) on the transport's socket, plain or TLS.

    DIMSE is request/response with small PDUs; Nagle plus delayed ACK would add ~40 ms
    to many round trips. asyncio's and uvloop's TCP transports already set it in their
    constructor: once a transport class is seen with it set, its later instances are
    trusted and cost no system call (two per connection otherwise).
    """
    kind = type(transport)
    if kind in _NODELAY_BUILT_IN:
        return
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
            _NODELAY_BUILT_IN.add(kind)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        return
