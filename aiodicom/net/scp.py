"""Acceptor-side protocol: one :class:`ServerProtocol` per accepted TCP connection.

It answers the A-ASSOCIATE-RQ under the server's association policy
(:func:`aiodicom.net.policy.decide`, PS3.8 9.3.3/9.3.4), hands every DIMSE request to its
operation layer (:mod:`aiodicom.net.operations`: a table keyed by Command Field, with
the asynchronous operations window of PS3.7 D.3.3.3 and C-CANCEL), answers the release
(PS3.8 7.2) and tells the server's observers (:mod:`aiodicom.net.observers`) what
happened. Asynchronous operations window: the acceptor answers a proposed window with
min(proposed, ``ServerConfig.async_ops_window``); without a window item it is 1
(synchronous, PS3.7 A.4).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from aiodicom.net.observe import FindEnd, FindObserver
from aiodicom.net.observers import ObserverTable
from aiodicom.net.operations import Operation, OperationLayer
from aiodicom.net.policy import Refusal, decide
from aiodicom.net.protocol import AssociationProtocol
from aiodicom.proto.events import (
    Aborted,
    AssociationRejected,
    AssociationRequested,
    ConnectionClosed,
    DataSetFragment,
    Event,
    MessageReceived,
    Mode,
    ReleaseCompleted,
    ReleaseRequested,
)
from aiodicom.proto.fsm import State
from aiodicom.proto.pdus import AssociateRQ

if TYPE_CHECKING:
    from aiodicom.net.server import Server


class ServerProtocol(AssociationProtocol):
    """One accepted TCP connection of a :class:`~aiodicom.net.server.Server`.

    ``outcome`` sums up the association so far (:mod:`aiodicom.net.observers`);
    ``operations_started`` counts the operations handed to their handlers.
    """

    __slots__ = (
        "established",
        "observers",
        "operations",
        "operations_started",
        "outcome",
        "rq",
        "server",
        "started",
        "stepping",
    )

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
        self.operations = OperationLayer(server.operations)
        if server.stream_commands:  # e.g. C-STORE: data sets handed on as they arrive
            self.association.stream_commands = server.stream_commands
        self.observers: ObserverTable = server.observer_table()
        self.outcome = "closed-before-request"
        self.operations_started = 0
        self.started = time.monotonic()
        self.stepping = False  # an operation is stepped inside data_received right now

    # -- lifecycle --------------------------------------------------------------------

    def before_connection_made(self) -> None:
        self.server.connection_opened(self)
        self.bind_log(role="scp")
        if self.debug_enabled:
            self.log.debug("connection accepted")

    def connection_finished(self, exc: Exception | None) -> None:
        self.server.connection_closed(self)
        if self.operations.streaming is not None:  # cut in the middle of a data set
            self.operations.drop_stream()
        if self.operations.running:  # none, mostly: no call
            self.operations.stop_all(self, "connection closed")
        if self.outcome == "accepted":
            self.outcome = "connection-lost"
        for heard in self.observers.association_ended:  # a failing one is logged, no more
            try:
                heard(self)
            except Exception:
                self.log.exception("server observer failed")

    def activity_timer_wanted(self) -> bool:
        return not self.operations.running

    def activity_expired(self) -> None:
        self.log.warning(
            "idle timeout; aborting association", seconds=self.server.config.idle_timeout
        )
        self.abort(source=2, reason=0)

    def abort(self, source: int = 0, reason: int = 0) -> None:
        """Our A-ABORT (PS3.8 AA-1) ends every running operation: nothing may follow it."""
        if self.operations.running:  # none, mostly: no call
            self.operations.stop_all(self, "aborted")
        super().abort(source, reason)

    # -- events -------------------------------------------------------------------------

    def dispatch(self, events: list[Event]) -> None:
        for event in events:  # event classes are final: type() tests are exact and cheap
            kind = type(event)
            if kind is MessageReceived:  # the common one
                if self.association.state is State.STA6:  # else a later PDU aborted it
                    self.operations.request(self, cast(MessageReceived, event))
            elif kind is DataSetFragment:  # streamed (C-STORE): to the operation's sink
                if self.association.state is State.STA6:
                    self.operations.fragment(self, cast(DataSetFragment, event))
            elif kind is AssociationRequested:
                self._on_request(cast(AssociationRequested, event).rq)
            elif kind is ReleaseRequested:
                self.outcome = "released"
                if self.operations.running:  # none, mostly: no call
                    self.operations.stop_all(self, "release requested")
                if self.association.awaiting_release_response:
                    self.association.release_response()
                    if self.debug_enabled:
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
                if kind is ConnectionClosed and self.outcome == "accepted":
                    self.outcome = "connection-lost"
                if self.operations.running:  # none, mostly: no call
                    self.operations.stop_all(self, "connection closed")

    def _on_aborted(self, event: Aborted) -> None:
        by = "peer" if event.by_peer else "protocol-error" if event.error else "local"
        self.outcome = f"aborted:{by}"
        if self.operations.running:  # none, mostly: no call
            self.operations.stop_all(self, "aborted")
        if event.error is not None:
            self.log.warning("bad input from peer; association aborted", reason=str(event.error))
        elif event.by_peer:
            self.log.debug("association aborted by peer", source=event.source, reason=event.reason)
        else:
            self.log.debug("association aborted")

    def _on_request(self, rq: AssociateRQ) -> None:
        """A-ASSOCIATE-RQ: apply the association policy, then accept or reject (PS3.8
        9.3.3/4)."""
        self.outcome = "requested"
        if self.association.state is not State.STA3:
            return  # a later PDU of the same read already aborted it (PS3.8 AA-8)
        self.rq = rq
        self.bind_log(calling_ae=rq.calling_ae, called_ae=rq.called_ae)
        server = self.server
        decision = decide(rq, self.peer[0], server.config, server.policy, server.counts)
        if isinstance(decision, Refusal):
            self._reject(decision)
            return
        ac = server.negotiation.negotiate(rq, decision)
        self.association.accept(ac)
        self.operations.negotiated(ac.user_information.async_ops_window)
        self.established = True
        self.outcome = "accepted"
        server.association_established(self)
        self.arm_activity_timer()
        if self.debug_enabled:
            self.log.debug("association accepted", contexts=len(self.association.contexts))
        for heard in self.observers.association_accepted:
            try:
                heard(self)
            except Exception:
                self.log.exception("server observer failed")

    def _reject(self, refusal: Refusal) -> None:
        rejection = refusal.rj
        self.log.warning(
            "association rejected",
            why=refusal.why,
            result=rejection.result,
            source=rejection.source,
            reason=rejection.reason,
        )
        self.association.reject(rejection)
        self.outcome = f"rejected:{refusal.label}"
        for heard in self.observers.association_rejected:
            try:
                heard(self, refusal)
            except Exception:
                self.log.exception("server observer failed")

    # -- operation events (called by the operation layer and the handlers) ---------------

    def operation_started(self, operation: Operation) -> None:
        """An operation passed its checks and runs (it counts for the audit line)."""
        self.operations_started += 1
        for heard in self.observers.operation_started:
            try:
                heard(self, operation)
            except Exception:
                self.log.exception("server observer failed")

    def operation_ended(self, report: object) -> None:
        """An operation ended: its report goes to every observer."""
        for heard in self.observers.operation_ended:
            try:
                heard(self, report)
            except Exception:
                self.log.exception("server observer failed")

    def notify(self, observer: FindObserver, end: FindEnd) -> None:
        """Hand ``end`` to one C-FIND observer; a failing one never changes the C-FIND."""
        try:
            observer(end)
        except Exception:
            self.log.exception("c-find observer failed")
