"""C-FIND on the SCP side (PS3.4 C.4.1 / K.4.1, PS3.7 9.1.2): one operation handler.

:class:`FindOperation` is the entry for C-FIND-RQ in the operation table
(:mod:`aiodicom.net.operations`): it checks the request, hands it to the handler
registered for its SOP class and streams the handler's matches as pending C-FIND-RSPs
from a template, then sends the final response. Responses are queued in the Association
and flushed in batches: at the next loop iteration (``call_soon``), every :data:`BATCH`
responses, and whenever the handler suspends; when the transport is above its high-water
mark the stream awaits ``drain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from pydicom import Dataset

from aiodicom.dicom.identifier import check_identifier, encode_identifier
from aiodicom.errors import DataError, QueryError
from aiodicom.net.observe import (
    CANCELLED,
    FINISHED,
    INTERRUPTED,
    FindEnd,
    FindRoute,
    failure,
)
from aiodicom.net.operations import Operation, Performing
from aiodicom.net.types import FindRequest, FindResponse
from aiodicom.proto.dimse import PendingFindTemplate, encode_find_rsp
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CFindRQ, CFindRSP
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.status import CANCEL, PENDING, SOP_CLASS_NOT_SUPPORTED, UNABLE_TO_PROCESS

if TYPE_CHECKING:
    from aiodicom.net.scp import ServerProtocol
    from aiodicom.net.server import Server

BATCH = 64
"""Responses queued before the streaming task flushes and yields to the event loop."""


class FindOperation:
    """C-FIND-RQ -> the handler registered for its SOP class (``Server.route``)."""

    windowed = True

    def __init__(self, server: Server) -> None:
        self.server = server

    def start(self, operation: Operation) -> Performing | None:
        """The request checked and handed over, or refused with a final response."""
        command: CFindRQ = operation.command
        route = self.server.route(command.affected_sop_class_uid)
        checked = _checked_request(operation, route)
        if isinstance(checked, tuple):  # refused before any handler runs
            send_final(operation, *checked)
            return None
        assert route is not None  # else _checked_request refused it
        operation.on_cancel = checked.mark_cancelled
        return _run_find(operation, route, checked), route.traits.eager

    def refuse(self, operation: Operation, status: int, comment: str) -> None:
        send_final(operation, status, comment)


def send_final(operation: Operation, status: int, comment: str | None = None) -> None:
    """The final C-FIND-RSP (PS3.7 9.3.2.2): no identifier, Error Comment on failure."""
    scp = operation.scp
    association = scp.association
    if scp.transport is None or association.state is not State.STA6:
        return
    command: CFindRQ = operation.command
    uid = command.affected_sop_class_uid
    if comment is None:
        encoded = encode_find_rsp(command.message_id, uid, status, False)
        association.send_raw_message(operation.context_id, encoded, None)
    else:  # Error Comment is LO: at most 64 characters (PS3.7 C.4.x, PS3.5 6.2)
        rsp = CFindRSP(command.message_id, uid, status, error_comment=comment[:64])
        association.send_message(operation.context_id, rsp)
    if scp.dispatching:
        return  # after_association_call writes it with anything else this read queued
    if scp.operations.running:
        scp.schedule_flush()  # coalesce with other operations' responses
    else:
        scp.flush()


def _make_request(scp: ServerProtocol, command: CFindRQ, raw: bytes, ts: str) -> FindRequest:
    rq = scp.rq
    assert rq is not None
    uid = command.affected_sop_class_uid
    extended = None
    for item in rq.user_information.sop_class_extended:  # usually none (PS3.7 D.3.3.5)
        if item.sop_class_uid == uid:
            extended = item.application_info
            break
    return FindRequest(
        identifier_bytes=raw,
        transfer_syntax=ts,
        sop_class_uid=uid,
        model=QueryModel.from_uid(uid),
        message_id=command.message_id,
        priority=command.priority,
        calling_ae=rq.calling_ae,
        called_ae=rq.called_ae,
        peer=scp.peer,
        association_id=scp.association_id,
        extended_negotiation=extended,
    )


def _checked_request(
    operation: Operation, route: FindRoute | None
) -> FindRequest | tuple[int, str]:
    """The request for the handler, or the final (status, comment) refusing it."""
    if route is None:
        return SOP_CLASS_NOT_SUPPORTED, "no handler"
    scp = operation.scp
    raw = operation.data_set or b""
    transfer_syntax = scp.association.contexts[operation.context_id].transfer_syntax
    if not route.traits.checks_identifier:
        try:
            check_identifier(raw, transfer_syntax)
        except DataError as exc:
            scp.log.warning("undecodable c-find identifier", reason=exc.reason)
            return UNABLE_TO_PROCESS, exc.reason
    return _make_request(scp, operation.command, raw, transfer_syntax)


async def _run_find(operation: Operation, route: FindRoute, request: FindRequest) -> None:
    """Stream the handler's matches, then report the end and send the final response.

    Observers hear of the C-FIND once (:class:`FindEnd`), right after it is forgotten
    and before its final response is queued; a C-CANCEL (PS3.7 9.3.2.3) ends it with
    0xFE00; shutdown or connection loss ends it without one.
    """
    scp = operation.scp
    started = time.perf_counter()
    status: int | None = None
    comment: str | None = None
    outcome = INTERRUPTED
    error: Exception | None = None
    try:
        error = await _stream(operation, route, request)
        status, comment, outcome = FINISHED if error is None else failure(error)
    except asyncio.CancelledError:
        if not operation.cancel_requested:
            raise
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        status, outcome = CANCEL, CANCELLED
    finally:
        scp.operations.forget(operation)
        seconds = time.perf_counter() - started
        end = FindEnd(request, operation.sent, status, comment, outcome, error, seconds)
        for observer in route.observers:
            scp.notify(observer, end)
        scp.operation_ended(end)
    if scp.debug_enabled:  # the audit line (aiodicom.ops.audit) is the info one
        scp.log.debug(
            "c-find done",
            message_id=request.message_id,
            responses=operation.sent,
            status=f"0x{status:04X}",
        )
    send_final(operation, status, comment)


async def _stream(operation: Operation, route: FindRoute, request: FindRequest) -> Exception | None:
    """Run the handler; the exception it ended with (None: it finished), logged here
    and turned into the final status by :func:`aiodicom.net.observe.failure`.

    Counts the pending responses in ``operation.sent``.
    """
    scp = operation.scp
    template = PendingFindTemplate(request.message_id, request.sop_class_uid)
    transfer_syntax = request.transfer_syntax
    context_id = operation.context_id
    generator = route.handler(request)
    exhausted = False
    try:
        async for item in generator:
            _send_pending(scp, context_id, template, item, transfer_syntax)
            operation.sent += 1
            if operation.sent % BATCH == 0:
                await _yield_point(scp)
        exhausted = True
    except QueryError as exc:
        scp.log.debug("query refused", status=f"0x{exc.status:04X}", comment=exc.comment)
        return exc
    except DataError as exc:  # a value of the identifier cannot be converted
        scp.log.warning("undecodable c-find identifier value", reason=exc.reason)
        return exc
    except Exception as exc:
        scp.log.exception("c-find handler failed")
        return exc
    finally:
        aclose = None if exhausted else getattr(generator, "aclose", None)
        if aclose is not None:  # stopped early: let the handler run its cleanup
            with contextlib.suppress(Exception):
                await aclose()
    return None


def _send_pending(
    scp: ServerProtocol,
    context_id: int,
    template: PendingFindTemplate,
    item: Dataset | bytes | FindResponse,
    transfer_syntax: str,
) -> None:
    """One pending C-FIND-RSP with its identifier (PS3.4 C.4.1.1.4: FF00 / FF01)."""
    status = PENDING
    if isinstance(item, FindResponse):
        status = item.status
        item = item.identifier
    data = item if isinstance(item, bytes) else encode_identifier(item, transfer_syntax)
    scp.association.send_raw_message(context_id, template.encode(status), data)
    if not scp.stepping:
        scp.schedule_flush()


async def _yield_point(scp: ServerProtocol) -> None:
    """Flush the batch, let incoming PDUs (C-CANCEL) run, wait if the peer is slow."""
    scp.flush()
    if scp.write_paused:
        await scp.drain()
    else:
        await asyncio.sleep(0)
