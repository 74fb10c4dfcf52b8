"""asyncio Protocol adapter around the sans-IO :class:`Association` (PS3.8 9.2).

One instance per TCP connection. Bytes from the transport go into the Association, its
events are dispatched to the subclass, and its queued output is written back. The
ARTIM timer (PS3.8 9.1.5) is a ``loop.call_later`` handle started and stopped whenever
``Association.artim_running`` flips; an activity timer implements the DIMSE/idle
timeout by re-arming itself for the remaining time (no polling loop, no thread).

Input deadlines: every received byte restarts the idle timer, so a peer sending one
byte at a time would hold the association forever. ``pdu_timeout`` bounds the time from
the first byte of a PDU (PS3.8 9.3.1) to its last, ``message_timeout`` the time from the
first PDV of a DIMSE message (PS3.8 Annex E) to its last; past either, A-ABORT (source
2). Reads of whole PDUs and messages, the usual case, cost two attribute tests; a
deadline timer exists only while a PDU or message is partly received.

Flow control: the transport calls :meth:`pause_writing`/:meth:`resume_writing` around
its high/low water marks and :meth:`drain` lets a producer wait, so a slow reader never
makes the sender buffer without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any, cast

from structlog.typing import FilteringBoundLogger

from aiodicom.errors import AssociationAborted
from aiodicom.log import get_logger, level_enabled
from aiodicom.net.loop import set_nodelay
from aiodicom.net.transport import Transport
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.events import DataSetFragment, Event, MessageReceived

WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024


_ids = random.Random(os.urandom(16))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(16)))  # workers differ


def new_association_id() -> str:
    """A short random id that tags every log line of one association.

    Not a secret, so no system call per association: a PRNG seeded once per process.
    """
    return f"{_ids.getrandbits(32):08x}"


class AssociationProtocol(asyncio.Protocol):
    """Feeds one sans-IO Association from an asyncio transport; subclassed per role.

    Slotted, and so is :class:`~aiodicom.net.scp.ServerProtocol`: one association sets some
    35 attributes, more than CPython 3.11 keeps in an instance's inline values (29), past
    which every instance gets a dict of its own, built per association, and attribute
    reads and method calls on it lose their specialized fast paths.
    """

    __slots__ = (
        "_activity_timeout",
        "_activity_timer",
        "_artim",
        "_artim_timeout",
        "_deadlines",
        "_drain_waiters",
        "_flush_scheduled",
        "_input_deadline",
        "_input_timer",
        "_log",
        "_log_context",
        "_message_since",
        "_message_timeout",
        "_pdu_since",
        "_pdu_timeout",
        "_read_paused",
        "_write_paused",
        "association",
        "association_id",
        "closed",
        "debug_enabled",
        "dispatching",
        "last_activity",
        "loop",
        "peer",
        "transport",
    )

    def __init__(
        self,
        mode: Mode,
        *,
        max_pdu_length: int,
        artim_timeout: float,
        activity_timeout: float | None = None,
        pdu_timeout: float | None = None,
        message_timeout: float | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.association = Association(mode, max_pdu_length=max_pdu_length)
        self.association_id = new_association_id()
        self.transport: Transport | None = None  # aiodicom.net.transport: the interface
        self.peer: tuple[str, int] = ("", 0)
        self._log: FilteringBoundLogger | None = None  # bound at the first line logged
        self._log_context: dict[str, Any] = {"assoc": self.association_id}
        self.debug_enabled = level_enabled(logging.DEBUG)  # guards hot-path debug lines
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.last_activity = self.loop.time()
        self._artim_timeout = artim_timeout
        self._artim: asyncio.TimerHandle | None = None
        self._activity_timeout = activity_timeout
        self._activity_timer: asyncio.TimerHandle | None = None
        self._pdu_timeout = pdu_timeout
        self._message_timeout = message_timeout
        self._deadlines = pdu_timeout is not None or message_timeout is not None
        self._pdu_since: float | None = None  # loop time the partial PDU began
        self._message_since: float | None = None  # loop time the partial message began
        self._input_timer: asyncio.TimerHandle | None = None
        self._input_deadline = 0.0
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._read_paused = False
        self._flush_scheduled = False
        self.dispatching = False  # events are being dispatched; a flush follows at once

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Evt2 (requestor) / Evt5 (acceptor): the transport connection is up."""
        self.transport = cast(Transport, transport)
        set_nodelay(transport)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple) and len(peername) >= 2:
            self.peer = (str(peername[0]), int(peername[1]))
        self.bind_log(peer=f"{self.peer[0]}:{self.peer[1]}")
        self.before_connection_made()
        self.association.connection_made()
        self.after_association_call([])

    def data_received(self, data: bytes) -> None:
        """Bytes from the peer: decode them into events (PS3.8 9.2 Evt3-Evt16)."""
        now = self.last_activity = self.loop.time()
        association = self.association
        events = association.receive_data(data)
        if self._deadlines and (association.input_pending or self._input_timer is not None):
            self._track_partial_input(now, len(data), events)
        self.after_association_call(events)

    def eof_received(self) -> bool | None:
        """The peer half-closed: treat as connection loss (the transport will close)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Evt17: transport closed, by either side."""
        self._cancel_timers()
        events = self.association.connection_lost()
        self.transport = None
        self._wake_drain_waiters(AssociationAborted("connection lost"))
        self.dispatch(events)
        self.connection_finished(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        """The transport buffer passed its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport buffer drained below its low-water mark."""
        self._write_paused = False
        self._wake_drain_waiters(None)

    # -- hooks for subclasses --------------------------------------------------------

    def before_connection_made(self) -> None:
        """Called right before ``Association.connection_made`` (requestor: send RQ)."""

    def dispatch(self, events: list[Event]) -> None:
        """Handle events from the Association. Subclasses override."""

    def connection_finished(self, exc: Exception | None) -> None:
        """Called once after the transport is gone and events were dispatched."""

    def activity_expired(self) -> None:
        """The activity (DIMSE/idle) timeout expired. Subclasses decide what to do."""

    def activity_timer_wanted(self) -> bool:
        """Whether the activity timeout applies right now (e.g. an operation is open)."""
        return True

    # -- output --------------------------------------------------------------------------

    def after_association_call(self, events: list[Event]) -> None:
        """Dispatch ``events``, write what the Association queued, sync the ARTIM timer.

        While :attr:`dispatching`, output queued by the handlers of these events needs no
        flush of its own: all of it goes out here in one write.
        """
        if events:
            self.dispatching = True
            try:
                self.dispatch(events)
            finally:
                self.dispatching = False
        self.flush()

    def flush(self) -> None:
        """Write all bytes queued by the Association; close the transport if it wants so."""
        self._flush_scheduled = False
        association = self.association
        data = association.data_to_send()
        transport = self.transport
        wants_close = association.wants_close
        if (data or wants_close) and transport is not None and not transport.is_closing():
            if data:
                transport.write(data)
            if wants_close:
                transport.close()
        if association.artim_running != (self._artim is not None):
            self._sync_artim()  # PS3.8 9.1.5: it started or stopped

    def schedule_flush(self) -> None:
        """Flush at the next event-loop iteration, batching what is queued meanwhile."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        if self._flush_scheduled:  # else a direct flush() already wrote the batch
            self.flush()

    async def drain(self) -> None:
        """Wait until the transport buffer is below its low-water mark."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise AssociationAborted("connection lost")
        if not self._write_paused:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    @property
    def write_paused(self) -> bool:
        """True while the transport is above its high-water mark."""
        return self._write_paused

    def _wake_drain_waiters(self, exc: BaseException | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if waiter.done():
                continue
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    # -- input flow control ----------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop reading from the socket while the consumer lags (TCP backpressure)."""
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Resume reading; the quiet period does not count against the DIMSE timeout."""
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            now = self.last_activity = self.loop.time()
            self.transport.resume_reading()
            if self._input_timer is not None:  # our pause does not count against the peer
                self._pdu_since = None if self._pdu_since is None else now
                self._message_since = None if self._message_since is None else now
                self._arm_input_deadline()

    # -- timers ----------------------------------------------------------------------

    def _sync_artim(self) -> None:
        """PS3.8 9.1.5: start/stop the ARTIM timer to follow ``artim_running``."""
        running = self.association.artim_running
        if running and self._artim is None and self.transport is not None:
            self._artim = self.loop.call_later(self._artim_timeout, self._artim_fired)
        elif not running and self._artim is not None:
            self._artim.cancel()
            self._artim = None

    def _artim_fired(self) -> None:
        """Evt18: ARTIM expired."""
        self._artim = None
        self.log.warning("artim timeout", seconds=self._artim_timeout)
        events = self.association.artim_expired()
        self.after_association_call(events)
        if self.transport is not None and self.association.wants_close:
            self.transport.close()

    def arm_activity_timer(self) -> None:
        """Start the activity timer if a timeout is configured and it is not running."""
        if self._activity_timeout is None or self._activity_timer is not None:
            return
        self.last_activity = self.loop.time()
        self._activity_timer = self.loop.call_later(self._activity_timeout, self._activity_check)

    def _activity_check(self) -> None:
        """Re-arm for the remaining time, or expire if nothing arrived for the timeout."""
        self._activity_timer = None
        timeout = self._activity_timeout
        if timeout is None or self.transport is None:
            return
        if self._read_paused or not self.activity_timer_wanted():
            self.arm_activity_timer()
            return
        remaining = self.last_activity + timeout - self.loop.time()
        if remaining > 0:
            self._activity_timer = self.loop.call_later(remaining, self._activity_check)
            return
        self.activity_expired()

    def _track_partial_input(self, now: float, size: int, events: list[Event]) -> None:
        """Note when the PDU and the DIMSE message now partly received began; arm the
        deadline. A message completed in this read means the partial one began in it."""
        partial, message_begun = self.association.partial_input()
        if not partial:
            self._pdu_since = None
        elif self._pdu_since is None or partial <= size:  # a PDU that began in this read
            self._pdu_since = now
        if not message_begun:
            self._message_since = None
        elif self._message_since is None or any(_completes_a_message(e) for e in events):
            self._message_since = now
        self._arm_input_deadline()

    def _input_deadline_due(self) -> tuple[float, str, float] | None:
        """The earliest input deadline: (loop time, what, timeout), None if none runs."""
        due: tuple[float, str, float] | None = None
        if self._pdu_since is not None and self._pdu_timeout is not None:
            due = (self._pdu_since + self._pdu_timeout, "pdu", self._pdu_timeout)
        if self._message_since is not None and self._message_timeout is not None:
            at = self._message_since + self._message_timeout
            if due is None or at < due[0]:
                due = (at, "dimse message", self._message_timeout)
        return due

    def _arm_input_deadline(self) -> None:
        due = self._input_deadline_due()
        timer = self._input_timer
        if due is None or timer is None or due[0] != self._input_deadline:
            if timer is not None:
                timer.cancel()
            self._input_timer = None
            if due is not None:
                self._input_deadline = due[0]
                self._input_timer = self.loop.call_at(due[0], self._input_deadline_passed)

    def _input_deadline_passed(self) -> None:
        """A PDU or DIMSE message did not arrive in time: A-ABORT, source 2 (PS3.8 9.3.8)."""
        self._input_timer = None
        due = self._input_deadline_due()
        if self.transport is None or self._read_paused or due is None:
            return  # closed, or our own pause (resume_reading re-arms)
        _at, what, seconds = due
        self.log.warning(f"{what} not received in time; aborting association", seconds=seconds)
        self.abort(source=2, reason=0)

    def _cancel_timers(self) -> None:
        for handle in (self._artim, self._activity_timer, self._input_timer):
            if handle is not None:
                handle.cancel()
        self._artim = None
        self._activity_timer = None
        self._input_timer = None

    # -- helpers -----------------------------------------------------------------------

    def abort(self, source: int = 0, reason: int = 0) -> None:
        """Send A-ABORT (PS3.8 9.3.8) and close the transport after flushing."""
        if self.transport is None:
            return
        try:
            self.association.abort(source, reason)
        except Exception as exc:  # a state where abort is not legal: just drop the link
            self.log.debug("abort not possible in this state", error=str(exc))
        self.flush()
        if self.transport is not None:
            self.transport.close()

    @property
    def log(self) -> FilteringBoundLogger:
        """This association's logger: every value of :meth:`bind_log` bound to it.

        Bound when the first line is logged, not per association: binding a structlog
        logger copies its context (about a microsecond per bind), and most associations
        log nothing at the usual levels. Hot-path debug lines test :attr:`debug_enabled`
        first, so they bind nothing either.
        """
        log = self._log
        if log is None:
            log = self._log = get_logger(**self._log_context)
        return log

    def bind_log(self, **values: Any) -> None:
        """Add key/values to every further log line of this association."""
        self._log_context.update(values)
        if self._log is not None:
            self._log = self._log.bind(**values)


def _completes_a_message(event: Event) -> bool:
    """A DIMSE message ended with this event: received whole, or the last fragment of a
    streamed data set (C-STORE); a message still partial after it began later."""
    kind = type(event)
    return kind is MessageReceived or (
        kind is DataSetFragment and cast(DataSetFragment, event).last
    )
