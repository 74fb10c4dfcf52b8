"""Acceptor-side protocol: association policy, C-ECHO, C-FIND streaming and C-CANCEL.

One :class:`ServerProtocol` per TCP connection, plus one task per running C-FIND handler,
so incoming PDUs (C-CANCEL-RQ, A-ABORT) are processed while responses stream. A handler
declared ``eager`` (:class:`~aiodicom.net.types.HandlerTraits`) is first run at once
inside ``data_received``; it gets a task only if it suspends (:mod:`aiodicom.net.eager`).

Asynchronous operations window (PS3.7 D.3.3.3): the acceptor answers a proposed window
with min(proposed, ``ServerConfig.async_ops_window``) and then runs up to that many
handlers at once on the association, each cancelable by its Message ID (PS3.7 9.3.2.3).
Without a window item the default is 1 (synchronous, PS3.7 A.4). The standard does not
say what an SCP does with an operation beyond the negotiated window; we refuse it with a
final C-FIND-RSP 0xA700 (Refused: Out of Resources, PS3.4 C.4.1.1.4 / K.4.1.1.4) and keep
the association. A C-FIND-RQ reusing the Message ID of an outstanding operation breaks
PS3.7 9.1.1.1.1 (unique among outstanding messages) and cannot be answered unambiguously:
the association is aborted (A-ABORT, source 2).
Responses are queued in the Association and flushed in batches: at the next loop
iteration (``call_soon``), every :data:`BATCH` responses, and whenever the handler
suspends; when the transport is above its high-water mark the task awaits ``drain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pydicom import Dataset

from aiodicom.dicom.identifier import check_identifier, encode_identifier
from aiodicom.errors import DataError, QueryError
from aiodicom.log import enabled
from aiodicom.net.eager import resume
from aiodicom.net.observe import (
    CANCELLED,
    FINISHED,
    INTERRUPTED,
    FindEnd,
    FindObserver,
    FindRoute,
    failure,
)
from aiodicom.net.protocol import AssociationProtocol
from aiodicom.net.types import FindRequest, FindResponse
from aiodicom.proto.dimse import PendingFindTemplate, encode_find_rsp
from aiodicom.proto.events import (
    Aborted,
    AssociationRejected,
    AssociationRequested,
    ConnectionClosed,
    Event,
    MessageReceived,
    Mode,
    ReleaseCompleted,
    ReleaseRequested,
)
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CCancelRQ, CEchoRQ, CEchoRSP, CFindRQ, CFindRSP
from aiodicom.proto.negotiation import (
    IdentityOutcome,
    QueryModel,
    check_user_identity,
)
from aiodicom.proto.pdus import APPLICATION_CONTEXT_NAME, AssociateRJ, AssociateRQ
from aiodicom.proto.status import (
    CANCEL,
    OUT_OF_RESOURCES,
    PENDING,
    SOP_CLASS_NOT_SUPPORTED,
    SUCCESS,
    UNABLE_TO_PROCESS,
)

if TYPE_CHECKING:
    from aiodicom.net.server import Server

MAX_WINDOW = 0xFFFF
"""An unlimited window (0, PS3.7 D.3.3.3) is bounded by the Message ID space."""

BATCH = 64
"""Responses queued before the streaming task flushes and yields to the event loop."""

# PS3.8 9.3.4, Table 9-21: (result, source, reason) of each refusal
RJ_LIMIT = AssociateRJ(result=2, source=3, reason=2)  # transient, provider-presentation, limit
RJ_CALLED_AE = AssociateRJ(result=1, source=1, reason=7)  # called-AE-title-not-recognized
RJ_CALLING_AE = AssociateRJ(result=1, source=1, reason=3)  # calling-AE-title-not-recognized
RJ_NO_REASON = AssociateRJ(result=1, source=1, reason=1)  # user identity refused
RJ_APP_CONTEXT = AssociateRJ(result=1, source=1, reason=2)  # application-context-name-not-supported


@dataclass(slots=True)
class RunningFind:
    """One C-FIND being performed: its handler task, request and pending count."""

    message_id: int
    task: asyncio.Task[None] | None = None
    request: FindRequest | None = None
    sent: int = 0
    cancel_requested: bool = False


class ServerProtocol(AssociationProtocol):
    """One accepted TCP connection of a :class:`~aiodicom.net.server.Server`."""

    def __init__(self, server: Server) -> None:
        config = server.config
        super().__init__(
            Mode.ACCEPTOR,
            max_pdu_length=config.max_pdu_length,
            artim_timeout=config.artim_timeout,
            activity_timeout=config.idle_timeout,
            pdu_timeout=config.pdu_timeout,
            message_timeout=config.message_timeout,
        )
        self.server = server
        self.rq: AssociateRQ | None = None
        self.established = False
        self.running: dict[int, RunningFind] = {}
        self.window = 1  # operations the requestor may have outstanding (PS3.7 D.3.3.3)
        self._stepping = False  # an eager C-FIND runs inside data_received right now
        self._debug_enabled = enabled(self.log, logging.DEBUG)  # binding keeps the level

    # -- lifecycle --------------------------------------------------------------------

    def before_connection_made(self) -> None:
        self.server.connection_opened(self)
        self.bind_log(role="scp")
        self.log.debug("connection accepted")

    def connection_finished(self, exc: Exception | None) -> None:
        self.server.connection_closed(self)
        self._stop_task("connection closed")

    def activity_timer_wanted(self) -> bool:
        return not self.running

    def activity_expired(self) -> None:
        self.log.warning(
            "idle timeout; aborting association", seconds=self.server.config.idle_timeout
        )
        self.abort(source=2, reason=0)

    def abort(self, source: int = 0, reason: int = 0) -> None:
        """Our A-ABORT (PS3.8 AA-1) ends every running operation: nothing may follow it."""
        self._stop_task("aborted")
        super().abort(source, reason)

    # -- events -------------------------------------------------------------------------

    def dispatch(self, events: list[Event]) -> None:
        for event in events:  # event classes are final: type() tests are exact and cheap
            kind = type(event)
            if isinstance(event, MessageReceived):  # the common one: no typing.cast call
                self._on_message(event)
            elif kind is AssociationRequested:
                self._on_request(cast(AssociationRequested, event).rq)
            elif kind is ReleaseRequested:
                self._stop_task("release requested")
                if self.association.awaiting_release_response:
                    self.association.release_response()
                    self.log.debug("association released")
                # else a later PDU of the same read aborted it (PS3.8 Table 9-10, Sta8)
            elif kind is Aborted:
                self._on_aborted(cast(Aborted, event))
            elif kind is AssociationRejected:
                rj = cast(AssociationRejected, event).rj
                self.log.warning(
                    "association rejected by provider",
                    result=rj.result,
                    source=rj.source,
                    reason=rj.reason,
                )
            elif kind is ReleaseCompleted or kind is ConnectionClosed:
                self._stop_task("connection closed")

    def _on_aborted(self, event: Aborted) -> None:
        self._stop_task("aborted")
        if event.error is not None:
            self.log.warning("bad input from peer; association aborted", reason=str(event.error))
        elif event.by_peer:
            self.log.debug("association aborted by peer", source=event.source, reason=event.reason)
        else:
            self.log.debug("association aborted")

    def _on_request(self, rq: AssociateRQ) -> None:
        """A-ASSOCIATE-RQ: apply the server policy, then accept or reject (PS3.8 9.3.3/4)."""
        if self.association.state is not State.STA3:
            return  # a later PDU of the same read already aborted it (PS3.8 AA-8)
        self.rq = rq
        self.bind_log(calling_ae=rq.calling_ae, called_ae=rq.called_ae)
        rejection, why, identity = self._refusal(rq)
        if rejection is not None or identity is None:
            rejection = rejection or RJ_NO_REASON
            self.log.warning(
                "association rejected",
                why=why,
                result=rejection.result,
                source=rejection.source,
                reason=rejection.reason,
            )
            self.association.reject(rejection)
            return
        ac = self.server.negotiation.negotiate(rq, identity)
        self.association.accept(ac)
        window = ac.user_information.async_ops_window
        self.window = 1 if window is None else window[0] or MAX_WINDOW
        self.established = True
        self.server.association_established(self)
        self.arm_activity_timer()
        self.log.debug("association accepted", contexts=len(self.association.contexts))

    def _refusal(self, rq: AssociateRQ) -> tuple[AssociateRJ | None, str, IdentityOutcome | None]:
        """The rejection (PS3.8 9.3.4) and why; else the identity outcome (checked once)."""
        config = self.server.config
        if rq.application_context != APPLICATION_CONTEXT_NAME:  # PS3.7 A.2.1
            return RJ_APP_CONTEXT, "application context name not supported", None
        if self.server.established_count >= config.max_associations:
            limit = config.max_associations
            return RJ_LIMIT, f"server.max_associations={limit} reached (raise it for more)", None
        source_limit = self.server.source_limit_reached(self.peer[0], rq.calling_ae)
        if source_limit:
            return RJ_LIMIT, source_limit, None
        if not config.called_ae_ok(rq.called_ae):
            return RJ_CALLED_AE, f"called AE {rq.called_ae!r} not recognized", None
        allowed = config.allowed_calling_aes
        if allowed is not None and rq.calling_ae not in allowed:
            return RJ_CALLING_AE, f"calling AE {rq.calling_ae!r} not in the allow-list", None
        identity = check_user_identity(rq, self.server.policy)  # validators may be slow
        if not identity.accepted:
            return RJ_NO_REASON, "user identity refused", None
        return None, "", identity

    def _on_message(self, event: MessageReceived) -> None:
        command = event.command
        if self.association.state is not State.STA6:
            return  # aborted by a later PDU of the same read: nothing may be sent
        if isinstance(command, CFindRQ):
            self._on_find(event.context_id, command, event.data_set)
        elif isinstance(command, CCancelRQ):
            self._on_cancel(command)
        elif isinstance(command, CEchoRQ):
            rsp = CEchoRSP(command.message_id, SUCCESS, command.affected_sop_class_uid)
            self.association.send_message(event.context_id, rsp)
        else:
            self.log.warning("unexpected dimse command; aborting", command=type(command).__name__)
            self.abort(source=2, reason=0)

    def _on_cancel(self, command: CCancelRQ) -> None:
        """PS3.7 9.3.2.3: stop the matching operation at once; it ends with 0xFE00."""
        running = self.running.get(command.message_id_being_responded_to)
        if running is None or running.task is None or running.task.done():
            return  # the operation already ended (or never existed): nothing to cancel
        if running.request is not None:
            running.request.mark_cancelled()
        running.cancel_requested = True
        self.log.debug("c-cancel received", message_id=running.message_id)
        running.task.cancel()

    def _on_find(self, context_id: int, command: CFindRQ, data_set: bytes | None) -> None:
        message_id = command.message_id
        if message_id in self.running:
            self.log.warning("c-find reuses an outstanding message id; aborting", id=message_id)
            self.abort(source=2, reason=0)
            return
        if len(self.running) >= self.window:
            # PS3.7 D.3.3.3: beyond the negotiated window; refuse this one, keep the others
            why = f"asynchronous operations window ({self.window}) exceeded"
            self._send_final(context_id, command, OUT_OF_RESOURCES, why)
            return
        route = self.server.route(command.affected_sop_class_uid)
        checked = self._checked_request(context_id, command, data_set or b"", route)
        if isinstance(checked, tuple):  # refused before any handler runs
            self._send_final(context_id, command, *checked)
            return
        running = RunningFind(message_id, request=checked)
        self.running[message_id] = running
        assert route is not None  # else _checked_request refused it
        coro = self._run_find(context_id, command, route, running)
        if route.eager:
            self._run_eagerly(coro, running)
        else:
            self._start_task(coro, running)

    def _start_task(self, coro: Coroutine[Any, Any, None], running: RunningFind) -> None:
        task = self.loop.create_task(coro)
        running.task = task
        task.add_done_callback(lambda _: self._forget(running))

    def _run_eagerly(self, coro: Coroutine[Any, Any, None], running: RunningFind) -> None:
        """Run an eager handler's C-FIND now; only if it suspends does a task take over.

        A keyed query usually completes here, saving a task and two loop callbacks. The
        task continues the coroutine exactly where it stopped (:func:`.eager.resume`).
        """
        self._stepping = True  # responses queued now are flushed below or by _send_final
        try:
            awaited = coro.send(None)
        except StopIteration:
            return  # done: the final response is queued and ``running`` forgotten
        except Exception:
            self._forget(running)
            self.log.exception("c-find failed")
            return
        finally:
            self._stepping = False
        self.schedule_flush()  # it suspended: what it queued goes out at the next iteration
        self._start_task(resume(coro, awaited), running)

    def _forget(self, running: RunningFind) -> None:
        if self.running.get(running.message_id) is running:
            del self.running[running.message_id]

    def _stop_task(self, why: str) -> None:
        for running in list(self.running.values()):
            if running.task is not None and not running.task.done():
                self.log.debug("stopping handler", why=why, message_id=running.message_id)
                running.task.cancel()

    # -- C-FIND -------------------------------------------------------------------------

    def _send_final(
        self, context_id: int, command: CFindRQ, status: int, comment: str | None = None
    ) -> None:
        """The final C-FIND-RSP (PS3.7 9.3.2.2): no identifier, Error Comment on failure."""
        if self.transport is None or self.association.state is not State.STA6:
            return
        uid = command.affected_sop_class_uid
        if comment is None:
            encoded = encode_find_rsp(command.message_id, uid, status, False)
            self.association.send_raw_message(context_id, encoded, None)
        else:  # Error Comment is LO: at most 64 characters (PS3.7 C.4.x, PS3.5 6.2)
            rsp = CFindRSP(command.message_id, uid, status, error_comment=comment[:64])
            self.association.send_message(context_id, rsp)
        if self.dispatching:
            return  # after_association_call writes it with anything else this read queued
        if self.running:
            self.schedule_flush()  # coalesce with other operations' responses
        else:
            self.flush()

    def _make_request(self, command: CFindRQ, raw: bytes, ts: str) -> FindRequest:
        rq = self.rq
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
            peer=self.peer,
            association_id=self.association_id,
            extended_negotiation=extended,
        )

    def _checked_request(
        self, context_id: int, command: CFindRQ, raw: bytes, route: FindRoute | None
    ) -> FindRequest | tuple[int, str]:
        """The request for the handler, or the final (status, comment) refusing it."""
        if route is None:
            return SOP_CLASS_NOT_SUPPORTED, "no handler"
        transfer_syntax = self.association.contexts[context_id].transfer_syntax
        try:
            check_identifier(raw, transfer_syntax)
        except DataError as exc:
            self.log.warning("undecodable c-find identifier", reason=exc.reason)
            return UNABLE_TO_PROCESS, exc.reason
        return self._make_request(command, raw, transfer_syntax)

    async def _run_find(
        self, context_id: int, command: CFindRQ, route: FindRoute, running: RunningFind
    ) -> None:
        """Stream the handler's matches, then report the end and send the final response.

        Observers hear of the C-FIND once (:class:`FindEnd`), right after it is forgotten
        and before its final response is queued; a C-CANCEL (PS3.7 9.3.2.3) ends it with
        0xFE00; shutdown or connection loss ends it without one.
        """
        request = running.request
        assert request is not None
        self.find_started(request)
        started = time.perf_counter()
        status: int | None = None
        comment: str | None = None
        outcome = INTERRUPTED
        error: Exception | None = None
        try:
            error = await self._stream(context_id, command, route, running)
            status, comment, outcome = FINISHED if error is None else failure(error)
        except asyncio.CancelledError:
            if not running.cancel_requested:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            status, outcome = CANCEL, CANCELLED
        finally:
            self._forget(running)
            seconds = time.perf_counter() - started
            end = FindEnd(request, running.sent, status, comment, outcome, error, seconds)
            for observer in route.observers:
                self._notify(observer, end)
            self._notify(self.find_ended, end)
        if self._debug_enabled:  # the audit line (aiodicom.ops.audit) is the info one
            self.log.debug(
                "c-find done",
                message_id=command.message_id,
                responses=running.sent,
                status=f"0x{status:04X}",
            )
        self._send_final(context_id, command, status, comment)

    def _notify(self, observer: FindObserver, end: FindEnd) -> None:
        """Hand ``end`` to one observer; a failing observer never changes the C-FIND."""
        try:
            observer(end)
        except Exception:
            self.log.exception("c-find observer failed")

    async def _stream(
        self, context_id: int, command: CFindRQ, route: FindRoute, running: RunningFind
    ) -> Exception | None:
        """Run the handler; the exception it ended with (None: it finished), logged here
        and turned into the final status by :func:`aiodicom.net.observe.failure`.

        Counts the pending responses in ``running.sent``.
        """
        template = PendingFindTemplate(command.message_id, command.affected_sop_class_uid)
        request = running.request
        assert request is not None
        transfer_syntax = request.transfer_syntax
        generator = route.handler(request)
        exhausted = False
        try:
            async for item in generator:
                self._send_pending(context_id, template, item, transfer_syntax)
                running.sent += 1
                if running.sent % BATCH == 0:
                    await self._yield_point()
            exhausted = True
        except QueryError as exc:
            self.log.debug("query refused", status=f"0x{exc.status:04X}", comment=exc.comment)
            return exc
        except DataError as exc:  # a value of the identifier cannot be converted
            self.log.warning("undecodable c-find identifier value", reason=exc.reason)
            return exc
        except Exception as exc:
            self.log.exception("c-find handler failed")
            return exc
        finally:
            aclose = None if exhausted else getattr(generator, "aclose", None)
            if aclose is not None:  # stopped early: let the handler run its cleanup
                with contextlib.suppress(Exception):
                    await aclose()
        return None

    # -- hooks for subclasses -----------------------------------------------------------

    def find_started(self, request: FindRequest) -> None:
        """A C-FIND is handed to its handler (after the identifier passed its check)."""

    def find_ended(self, end: FindEnd) -> None:
        """That C-FIND ended (called once, after the handler's observers)."""

    def _send_pending(
        self,
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
        self.association.send_raw_message(context_id, template.encode(status), data)
        if not self._stepping:
            self.schedule_flush()

    async def _yield_point(self) -> None:
        """Flush the batch, let incoming PDUs (C-CANCEL) run, wait if the peer is slow."""
        self.flush()
        if self.write_paused:
            await self.drain()
        else:
            await asyncio.sleep(0)
