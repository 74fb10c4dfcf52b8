"""The SCU side of the operation layer: one object per outstanding operation.

Mirrors :mod:`aiodicom.net.operations`: the requestor's protocol routes every response
by its Message ID Being Responded To (PS3.7 9.3.2.2) to the :class:`ClientOperation`
registered under that id, and fails them all when the association dies; a
:class:`~aiodicom.net.client.ClientAssociation` starts each one through
:meth:`~aiodicom.net.client.ClientAssociation.perform`, which applies the asynchronous
operations window (PS3.7 D.3.3.3) or runs operations one at a time. C-ECHO
(:class:`EchoCall`) and C-FIND (:class:`aiodicom.net.find.FindCall`) are the two kinds;
adding a DIMSE service as SCU is one such class and the method that builds it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from aiodicom.proto.messages import CEchoRSP, DimseCommand

if TYPE_CHECKING:
    from aiodicom.net.client_protocol import ClientProtocol


class ClientOperation(Protocol):
    """One outstanding operation as the requestor's protocol sees it."""

    message_id: int
    finished: asyncio.Future[Any]

    @property
    def done(self) -> bool:
        """True once the final response arrived or the association failed."""
        ...

    def on_message(self, command: DimseCommand, data_set: bytes | None) -> None:
        """A response naming this operation's Message ID (PS3.7 9.3.2.2)."""
        ...

    def on_failure(self, exc: BaseException) -> None:
        """The association died (abort, timeout, lost connection)."""
        ...

    def cancel(self) -> None:
        """Stop it (C-CANCEL-RQ, PS3.7 9.3.2.3), if the service can be cancelled."""
        ...

    async def wait_done(self) -> None:
        """Wait for the final response (or failure)."""
        ...


class EchoCall:
    """Internal state of one C-ECHO-RQ (PS3.7 9.1.5)."""

    def __init__(self, protocol: ClientProtocol, message_id: int) -> None:
        self.protocol = protocol
        self.message_id = message_id
        self.finished: asyncio.Future[int] = protocol.loop.create_future()

    @property
    def done(self) -> bool:
        return self.finished.done()

    def on_message(self, command: DimseCommand, data_set: bytes | None) -> None:
        if isinstance(command, CEchoRSP) and not self.done:
            self.finished.set_result(command.status)
            self.protocol.operation_finished(self)
        else:
            self.protocol.log.warning("unexpected dimse message during c-echo")

    def on_failure(self, exc: BaseException) -> None:
        if not self.done:
            self.finished.set_exception(exc)

    def cancel(self) -> None:
        """A C-ECHO cannot be cancelled; the next operation just waits for it."""

    async def wait_done(self) -> None:
        await asyncio.wait([self.finished])
