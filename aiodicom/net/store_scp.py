"""C-STORE on the SCP side (PS3.4 B.2, PS3.7 9.1.1): one operation handler.

:class:`StoreOperation` is the entry for C-STORE-RQ in the operation table
(:mod:`aiodicom.net.operations`, ``Server.register_operation``). Its handler opens a
:class:`StoreSink` for each instance when the data set begins; the data set's fragments
are written to it as they arrive (the association streams C-STORE data sets,
:class:`aiodicom.proto.events.DataSetFragment`), so memory stays bounded whatever the
instance's size. A data set that came in one PDV is written in one call. Once the last
fragment is in, the operation awaits :meth:`StoreSink.commit` (make it durable and
findable) and sends the C-STORE-RSP with its status (PS3.7 9.3.1.2): Success, a warning
status, or the failure a :class:`~aiodicom.errors.StoreError` names (PS3.4 B.2.3).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiodicom.errors import StoreError
from aiodicom.net.operations import Operation, Performing
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CStoreRQ, CStoreRSP
from aiodicom.proto.status import SOP_CLASS_NOT_SUPPORTED, SUCCESS, UNABLE_TO_PROCESS

if TYPE_CHECKING:
    from aiodicom.net.scp import ServerProtocol


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """One C-STORE-RQ as a handler sees it (PS3.7 9.1.1.1): the instance's UIDs from the
    command set, the transfer syntax of its presentation context, who sent it."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    message_id: int
    priority: int
    move_originator_ae_title: str | None
    move_originator_message_id: int | None
    calling_ae: str
    called_ae: str
    peer: tuple[str, int]
    association_id: str


class StoreSink(Protocol):
    """Where one instance's data set goes while it arrives."""

    def write(self, data: bytes) -> None:
        """The next bytes of the data set, in order; blocking work kept short (a write to
        the page cache). Raise StoreError to refuse: the rest is then discarded."""

    async def commit(self) -> int:
        """The data set is complete: store it; the C-STORE-RSP status (Success or a
        warning). Raise StoreError for a failure status with its Error Comment."""

    def discard(self) -> None:
        """Drop what was written (the association ended, or the instance was refused)."""


StoreHandler = Callable[[StoreRequest], StoreSink]
"""Opens the sink of one instance; raises StoreError to refuse it before any byte."""


@dataclass(frozen=True, slots=True)
class StoreEnd:
    """One C-STORE, reported to the server's observers once it ends (before its RSP).

    ``status`` / ``comment``: the C-STORE-RSP's; ``bytes``: the data set's length.
    """

    request: StoreRequest
    status: int
    comment: str | None
    bytes: int
    seconds: float


class _Stream:
    """The sink of one operation, the first error it raised and the bytes it took."""

    __slots__ = ("error", "sink", "size", "started")

    def __init__(self, sink: StoreSink | None, error: StoreError | None) -> None:
        self.sink = sink
        self.error = error
        self.size = 0
        self.started = time.monotonic()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        sink = self.sink
        if sink is None or self.error is not None:
            return
        try:
            sink.write(data)
        except StoreError as exc:
            self.fail(exc)
        except Exception as exc:  # a handler bug must not take the association down
            self.fail(StoreError(UNABLE_TO_PROCESS, comment=f"{type(exc).__name__}: {exc}"))

    def fail(self, error: StoreError) -> None:
        self.error = error
        self.discard()

    def discard(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.discard()


def _request(operation: Operation) -> StoreRequest:
    scp = operation.scp
    command: CStoreRQ = operation.command
    rq = scp.rq
    context = scp.association.contexts.get(operation.context_id)
    return StoreRequest(
        sop_class_uid=command.affected_sop_class_uid,
        sop_instance_uid=command.affected_sop_instance_uid,
        transfer_syntax=context.transfer_syntax if context is not None else "",
        message_id=command.message_id,
        priority=command.priority,
        move_originator_ae_title=command.move_originator_ae_title,
        move_originator_message_id=command.move_originator_message_id,
        calling_ae=rq.calling_ae if rq is not None else "",
        called_ae=rq.called_ae if rq is not None else "",
        peer=scp.peer,
        association_id=scp.association_id,
    )


class StoreOperation:
    """C-STORE-RQ -> ``handler``'s sink; the C-STORE-RSP once it is committed."""

    windowed = True
    streams = True  # the association hands the data set on fragment by fragment

    def __init__(self, handler: StoreHandler) -> None:
        self.handler = handler

    def open_stream(self, operation: Operation) -> None:
        """The data set begins: open the handler's sink (PS3.4 B.2.2)."""
        request = _request(operation)
        context = operation.scp.association.contexts.get(operation.context_id)
        if context is None or context.abstract_syntax != request.sop_class_uid:
            comment = "Affected SOP Class UID is not the presentation context's"
            error = StoreError(SOP_CLASS_NOT_SUPPORTED, comment=comment)
            operation.sink = _Stream(None, error)  # PS3.7 9.1.1.1.2
            return
        try:
            operation.sink = _Stream(self.handler(request), None)
        except StoreError as exc:
            operation.sink = _Stream(None, exc)
        except Exception as exc:
            comment = f"{type(exc).__name__}: {exc}"
            operation.sink = _Stream(None, StoreError(UNABLE_TO_PROCESS, comment=comment))

    def write(self, operation: Operation, data: bytes) -> None:
        """One fragment of the data set."""
        stream: _Stream = operation.sink
        stream.write(data)

    def start(self, operation: Operation) -> Performing | None:
        """The data set is complete (streamed, or whole in one PDV): commit it."""
        if operation.sink is None:
            self.open_stream(operation)
            self.write(operation, operation.data_set or b"")
        stream: _Stream = operation.sink
        return _store(operation, stream, _request(operation)), False

    def refuse(self, operation: Operation, status: int, comment: str) -> None:
        stream: _Stream | None = operation.sink
        if stream is not None:
            stream.discard()
        send_store_rsp(operation, status, comment)

    def abandon(self, operation: Operation) -> None:
        """The association ended in the middle of the data set: drop it."""
        stream: _Stream | None = operation.sink
        if stream is not None:
            stream.discard()


async def _store(operation: Operation, stream: _Stream, request: StoreRequest) -> None:
    """Commit the instance; report it; send the C-STORE-RSP (PS3.7 9.3.1.2)."""
    scp = operation.scp
    status, comment = SUCCESS, None
    try:
        if stream.error is not None:
            raise stream.error
        sink = stream.sink
        assert sink is not None  # no error: the handler opened one
        stream.sink = None  # committed or failed: never discarded afterwards
        commit = asyncio.ensure_future(sink.commit())
        try:
            status = await asyncio.shield(commit)  # cancelled: it still completes
        except asyncio.CancelledError:
            commit.add_done_callback(functools.partial(_settled, scp))
            raise
    except StoreError as exc:
        status, comment = exc.status, exc.comment
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        scp.log.exception("c-store handler failed")
        status, comment = UNABLE_TO_PROCESS, f"{type(exc).__name__}: {exc}"
    # Out of the window before the response leaves (as C-FIND and DIMSE-N do): the peer may
    # send its next request before the task's done callback runs (uvloop polls first).
    scp.operations.forget(operation)
    seconds = time.monotonic() - stream.started
    scp.operation_ended(StoreEnd(request, status, comment, stream.size, seconds))
    send_store_rsp(operation, status, comment)


def _settled(scp: ServerProtocol, commit: asyncio.Future[int]) -> None:
    """A commit that went on after its association ended (release, abort): its outcome
    has nobody to go to. A refusal (StoreError) is the peer's; anything else is a bug of
    the handler and is logged like one."""
    if commit.cancelled():
        return
    exc = commit.exception()
    if exc is not None and not isinstance(exc, StoreError):
        scp.log.error("c-store handler failed after the association ended", error=repr(exc))


def send_store_rsp(operation: Operation, status: int, comment: str | None = None) -> None:
    """The C-STORE-RSP (PS3.7 9.3.1.2), with Error Comment (at most 64 characters)."""
    scp: ServerProtocol = operation.scp
    association = scp.association
    if scp.transport is None or association.state is not State.STA6:
        return
    command: CStoreRQ = operation.command
    rsp = CStoreRSP(
        command.message_id,
        command.affected_sop_class_uid,
        command.affected_sop_instance_uid,
        status,
        None if comment is None else comment[:64],
    )
    association.send_message(operation.context_id, rsp)
    if not scp.dispatching:
        scp.flush()
