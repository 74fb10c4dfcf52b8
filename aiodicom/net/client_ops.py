"""The SCU side of the operation layer: one object per outstanding operation.

Mirrors :mod:`aiodicom.net.operations`: the requestor's protocol routes every response
by its Message ID Being Responded To (PS3.7 9.3.2.2) to the :class:`ClientOperation`
registered under that id, and fails them all when the association dies; a
:class:`~aiodicom.net.client.ClientAssociation` starts each one through
:meth:`~aiodicom.net.client.ClientAssociation.perform`, which applies the asynchronous
operations window (PS3.7 D.3.3.3) or runs operations one at a time. C-FIND
(:class:`aiodicom.net.find.FindCall`, pending responses and C-CANCEL) is one kind; the
services one response ends (C-ECHO, C-STORE, N-CREATE, N-SET) share
:class:`SingleResponseCall`. Adding a DIMSE service as SCU is one such class and the
method that builds it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from aiodicom.proto.messages import CEchoRSP, DimseCommand

if TYPE_CHECKING:
    from aiodicom.net.client_protocol import ClientProtocol

Result = TypeVar("Result")


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


class SingleResponseCall(Generic[Result]):
    """An operation one response ends (C-ECHO PS3.7 9.1.5, C-STORE 9.1.1, N-CREATE 10.1.5,
    N-SET 10.1.3): it cannot be cancelled (PS3.7 9.3.2.3 names C-FIND, C-GET and C-MOVE
    only); a subclass names its response type and turns the response into its result."""

    response: type[DimseCommand]
    service = "dimse"

    def __init__(self, protocol: ClientProtocol, message_id: int) -> None:
        self.protocol = protocol
        self.message_id = message_id
        self.finished: asyncio.Future[Result] = protocol.loop.create_future()

    @property
    def done(self) -> bool:
        return self.finished.done()

    def on_message(self, command: DimseCommand, data_set: bytes | None) -> None:
        if self.done or not isinstance(command, self.response):
            self.protocol.log.warning("unexpected dimse message", during=self.service)
            return
        self.protocol.operation_finished(self)
        try:
            self.finished.set_result(self.result(command, data_set))
        except Exception as exc:  # the response is a failure the caller must see raised
            self.finished.set_exception(exc)

    def result(self, command: Any, data_set: bytes | None) -> Result:
        """What the caller's await returns for ``command`` (or raises)."""
        raise NotImplementedError

    def on_failure(self, exc: BaseException) -> None:
        if not self.done:
            self.finished.set_exception(exc)

    def cancel(self) -> None:
        """Nothing to stop: the next operation just waits for this one's response."""

    async def wait_done(self) -> None:
        await asyncio.wait([self.finished])


class EchoCall(SingleResponseCall[int]):
    """One C-ECHO-RQ (PS3.7 9.1.5): the C-ECHO-RSP's status."""

    response = CEchoRSP
    service = "c-echo"

    def result(self, command: CEchoRSP, data_set: bytes | None) -> int:
        return command.status
