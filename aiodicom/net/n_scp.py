"""N-CREATE and N-SET on the SCP side (PS3.7 10.1.5, 10.1.3): two operation-layer entries.

:class:`NCreateOperation` and :class:`NSetOperation` are entries of the operation table
(:mod:`aiodicom.net.operations`), registered with ``Server.register_operation``; each
routes a request by its SOP class to an :data:`~aiodicom.net.n_types.NHandler` and
sends the one response the handler's :class:`~aiodicom.net.n_types.NOutcome` describes.
:func:`register_n_service` adds a SOP class's handlers (and its presentation contexts)
to a server. The operations are windowed (PS3.7 D.3.3.3) like C-FIND, each in its own
task; a C-CANCEL-RQ naming one is ignored (it applies to C-FIND, C-GET, C-MOVE only).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from pydicom import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.uid import valid_uid
from aiodicom.errors import DataError, DimseStatusError
from aiodicom.net.n_types import NEnd, NHandler, NKind, NObserver, NOutcome, NRequest
from aiodicom.net.operations import Operation, Performing
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CommandField, NCreateRQ, NCreateRSP, NSetRQ, NSetRSP
from aiodicom.proto.status import (
    INVALID_OBJECT_INSTANCE,
    NO_SUCH_SOP_CLASS,
    PROCESSING_FAILURE,
    SOP_CLASS_NOT_SUPPORTED,
)

if TYPE_CHECKING:
    from aiodicom.net.server import Server


class _NOperation:
    """The shared body of N-CREATE and N-SET: route, decode, run the handler, respond."""

    windowed = True
    kind: NKind
    response: type[NCreateRSP] | type[NSetRSP]

    def __init__(self) -> None:
        self.handlers: dict[str, NHandler] = {}
        self.observers: dict[str, list[NObserver]] = {}

    def start(self, operation: Operation) -> Performing | None:
        command: NCreateRQ | NSetRQ = operation.command
        uid, instance = _target(command)
        handler = self.handlers.get(uid)
        if handler is None:
            self.refuse(operation, NO_SUCH_SOP_CLASS, f"no {self.kind} handler for {uid[:32]}")
            return None
        refusal = _refusal(operation, uid, instance)
        if refusal is not None:
            self.refuse(operation, *refusal)
            return None
        request = self._request(operation, uid, instance)
        if isinstance(request, NOutcome):
            self._respond(operation, request)
            return None
        return self._run(operation, handler, request), False

    def refuse(self, operation: Operation, status: int, comment: str) -> None:
        self._respond(operation, NOutcome(status, error_comment=comment))

    def _request(self, operation: Operation, uid: str, instance: str | None) -> NRequest | NOutcome:
        """The handler's request, or the outcome refusing an undecodable data set."""
        scp = operation.scp
        syntax = scp.association.contexts[operation.context_id].transfer_syntax
        raw = operation.data_set
        try:
            data_set = Dataset() if raw is None else decode_identifier(raw, syntax)
        except DataError as exc:
            scp.log.warning("undecodable dimse-n data set", kind=self.kind, reason=exc.reason)
            return NOutcome(PROCESSING_FAILURE, error_comment=exc.reason)
        rq = scp.rq
        return NRequest(
            kind=self.kind,
            sop_class_uid=uid,
            sop_instance_uid=instance,
            data_set=data_set,
            transfer_syntax=syntax,
            message_id=operation.message_id,
            calling_ae=rq.calling_ae if rq else "",
            called_ae=rq.called_ae if rq else "",
            peer=scp.peer,
            association_id=scp.association_id,
        )

    async def _run(self, operation: Operation, handler: NHandler, request: NRequest) -> None:
        """Run the handler; report the end to the observers, then send the response."""
        scp = operation.scp
        started = time.perf_counter()
        try:
            outcome = await _uncancellable(operation, handler(request))
        except DimseStatusError as exc:
            outcome = NOutcome(exc.status, error_comment=exc.comment, error_id=exc.error_id)
        except Exception as exc:
            scp.log.exception("dimse-n handler failed", kind=self.kind)
            outcome = NOutcome(PROCESSING_FAILURE, error_comment=f"{type(exc).__name__}: {exc}")
        finally:
            scp.operations.forget(operation)
        end = NEnd(request, outcome, time.perf_counter() - started)
        for observer in self.observers.get(request.sop_class_uid, ()):
            try:
                observer(end)
            except Exception:  # a failing observer never changes the response
                scp.log.exception("dimse-n observer failed", kind=self.kind)
        scp.operation_ended(end)
        self._respond(operation, outcome)

    def _respond(self, operation: Operation, outcome: NOutcome) -> None:
        """The N-CREATE-RSP / N-SET-RSP (PS3.7 10.3.5.2, 10.3.3.2), flushed like C-FIND's."""
        scp = operation.scp
        association = scp.association
        if scp.transport is None or association.state is not State.STA6:
            return
        command: NCreateRQ | NSetRQ = operation.command
        uid, instance = _target(command)
        instance = outcome.sop_instance_uid or instance
        data = None
        if outcome.attributes is not None:
            syntax = association.contexts[operation.context_id].transfer_syntax
            data = encode_identifier(outcome.attributes, syntax)
        comment = outcome.error_comment
        rsp = self.response(
            message_id_being_responded_to=command.message_id,
            status=outcome.status,
            affected_sop_class_uid=uid if valid_uid(uid) else None,
            affected_sop_instance_uid=instance if instance and valid_uid(instance) else None,
            has_data_set=data is not None,
            error_comment=None if comment is None else comment[:64],  # LO (PS3.5 6.2)
            error_id=outcome.error_id,
            attribute_identifiers=outcome.attribute_identifiers,
        )
        association.send_message(operation.context_id, rsp, data)
        if scp.dispatching:
            return  # written with anything else this read queued
        if scp.operations.running:
            scp.schedule_flush()
        else:
            scp.flush()


async def _uncancellable(operation: Operation, work: Awaitable[NOutcome]) -> NOutcome:
    """``await work``, through any C-CANCEL-RQ naming this operation: C-CANCEL applies to
    C-FIND, C-GET and C-MOVE only (PS3.7 9.3.2.3), so an N-CREATE / N-SET finishes and is
    answered. Shutdown and connection loss still stop it (no cancel was requested)."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not operation.cancel_requested or current is None:
                task.cancel()
                raise
            operation.cancel_requested = False
            current.uncancel()


class NCreateOperation(_NOperation):
    """N-CREATE-RQ (PS3.7 10.1.5) -> the handler registered for its Affected SOP Class."""

    kind: NKind = "N-CREATE"
    response = NCreateRSP


class NSetOperation(_NOperation):
    """N-SET-RQ (PS3.7 10.1.3) -> the handler registered for its Requested SOP Class."""

    kind: NKind = "N-SET"
    response = NSetRSP


def _refusal(operation: Operation, uid: str, instance: str | None) -> tuple[int, str] | None:
    """The status refusing a request before its handler runs, None when it may run.

    The SOP class must be the abstract syntax of the presentation context the request
    came on (PS3.7 10.1.5.1.1 / 10.1.3.1.1, PS3.8 7.1.1.13): 0x0122 otherwise, as for
    C-STORE. A SOP Instance UID that breaks PS3.5 9.1 (a handler may use it as a file
    name, and no response could echo it) is 0x0117, Invalid Object Instance (PS3.7 C.4).
    An empty Affected SOP Instance UID of an N-CREATE asks the SCP for one.
    """
    context = operation.scp.association.contexts.get(operation.context_id)
    if context is None or context.abstract_syntax != uid:
        return SOP_CLASS_NOT_SUPPORTED, "SOP Class UID is not the presentation context's"
    if instance is not None and instance != "" and not valid_uid(instance):
        return INVALID_OBJECT_INSTANCE, f"SOP Instance UID {instance[:24]!r} breaks PS3.5 9.1"
    return None


def _target(command: NCreateRQ | NSetRQ) -> tuple[str, str | None]:
    """(SOP class UID, SOP instance UID) a request is about."""
    if isinstance(command, NCreateRQ):
        return command.affected_sop_class_uid, command.affected_sop_instance_uid
    return command.requested_sop_class_uid, command.requested_sop_instance_uid


def register_n_service(
    server: Server,
    sop_class_uid: str,
    *,
    n_create: NHandler | None = None,
    n_set: NHandler | None = None,
    observe: NObserver | None = None,
) -> None:
    """Serve N-CREATE and/or N-SET for ``sop_class_uid`` on ``server`` (new associations
    accept its presentation contexts). Several SOP classes share the two table entries.
    ``observe`` hears of each of these operations as it ends (before its response), like
    a C-FIND handler's observers, without a server-wide observer."""
    entries: list[tuple[int, NHandler | None, type[_NOperation]]] = [
        (CommandField.N_CREATE_RQ, n_create, NCreateOperation),
        (CommandField.N_SET_RQ, n_set, NSetOperation),
    ]
    for command_field, handler, kind in entries:
        if handler is None:
            continue
        entry = server.operations.get(command_field)
        operation = entry if isinstance(entry, kind) else kind()
        operation.handlers[sop_class_uid] = handler
        operation.observers[sop_class_uid] = [] if observe is None else [observe]
        server.register_operation(command_field, operation, sop_classes=[sop_class_uid])
