"""The SCP operation layer: each DIMSE request goes through a table keyed by Command Field.

An association hands every received request to :meth:`OperationLayer.request`, which looks
its Command Field (0000,0100, PS3.7 E.1-1) up in the server's table of
:class:`OperationHandler`\\ s. Everything the operations share is done here, once:

* C-CANCEL-RQ (PS3.7 9.3.2.3) stops the outstanding operation it names, whatever it is;
* a request reusing the Message ID of an outstanding operation breaks PS3.7 9.1.1.1.1
  (unique among outstanding messages) and cannot be answered unambiguously: A-ABORT,
  source 2;
* the asynchronous operations window (PS3.7 D.3.3.3): at most ``window`` operations run
  at once; one beyond it is refused by its handler with 0xA700 (Out of Resources; the
  standard does not say what an SCP does with it) and the association is kept;
* an operation runs in its own task, so C-CANCEL and A-ABORT are read while it streams;
  a handler may ask to be stepped eagerly instead: it runs at once inside
  ``data_received`` and gets a task only if it suspends (:mod:`aiodicom.net.eager`), so
  a keyed query that completes at once costs no task and no extra loop iteration.

Adding a DIMSE service (N-CREATE, N-SET, C-STORE...) is one entry in the table and its
handler: ``Server.register_operation(command_field, handler)``. C-ECHO
(:class:`EchoOperation`) and C-FIND (:class:`aiodicom.net.find_scp.FindOperation`) are the
two built-in entries; C-STORE (:class:`aiodicom.net.store_scp.StoreOperation`) is a
:class:`StreamingHandler`, whose data sets come fragment by fragment (:meth:`fragment`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from aiodicom.net.eager import resume
from aiodicom.proto.events import DataSetFragment, MessageReceived
from aiodicom.proto.messages import CCancelRQ, CEchoRSP, CommandField
from aiodicom.proto.status import OUT_OF_RESOURCES, SUCCESS

if TYPE_CHECKING:
    from aiodicom.net.scp import ServerProtocol

MAX_WINDOW = 0xFFFF
"""An unlimited window (0, PS3.7 D.3.3.3) is bounded by the Message ID space."""

Performing = tuple[Coroutine[Any, Any, None], bool]
"""What :meth:`OperationHandler.start` returns for an operation that goes on: the coroutine
performing it, and whether it may be stepped eagerly (see the module docstring)."""


class Operation:
    """One received DIMSE request being performed (PS3.7 9.1): where it came from, its
    task, the responses sent so far and whether a C-CANCEL-RQ asked to stop it.

    ``on_cancel`` is called when the C-CANCEL-RQ arrives, before the task is cancelled
    (C-FIND marks its request cancelled there).
    """

    __slots__ = (
        "cancel_requested",
        "command",
        "context_id",
        "data_set",
        "message_id",
        "on_cancel",
        "scp",
        "sent",
        "sink",
        "task",
    )

    def __init__(
        self, scp: ServerProtocol, context_id: int, command: Any, data_set: bytes | None
    ) -> None:
        self.scp = scp
        self.context_id = context_id
        self.command = command
        self.data_set = data_set
        self.task: asyncio.Task[None] | None = None
        self.sent = 0
        self.cancel_requested = False
        self.on_cancel: Callable[[], None] | None = None
        self.message_id: int = command.message_id  # (0000,0110) of the request
        self.sink: Any = None  # a streaming handler's state for the data set (C-STORE)


class OperationHandler(Protocol):
    """Performs the requests of one Command Field on the SCP side.

    ``windowed``: True for an operation that may outlive :meth:`start` (it counts against
    the asynchronous operations window, is cancelable by Message ID and has a unique one);
    False for one answered at once inside :meth:`start` (C-ECHO).
    """

    windowed: bool

    def start(self, operation: Operation) -> Performing | None:
        """Begin ``operation``: the coroutine that performs it, or None when it is already
        answered (an immediate operation, or a request refused before any work)."""
        ...

    def refuse(self, operation: Operation, status: int, comment: str) -> None:
        """Answer ``operation`` with one final failure response (e.g. 0xA700 beyond the
        window) without performing it."""
        ...


class StreamingHandler(OperationHandler, Protocol):
    """An operation whose request data set is handed over fragment by fragment as it
    arrives (``streams = True``; PS3.8 E.2), e.g. C-STORE: :meth:`open_stream` when it
    begins, :meth:`write` per fragment, then :meth:`OperationHandler.start` once complete;
    :meth:`abandon` if the association ends before. A data set that arrived in one PDV
    comes whole in ``Operation.data_set`` to ``start`` instead."""

    streams: bool

    def open_stream(self, operation: Operation) -> None:
        """The data set of ``operation`` begins (``operation.sink`` is the handler's)."""
        ...

    def write(self, operation: Operation, data: bytes) -> None:
        """The next fragment of the data set."""
        ...

    def abandon(self, operation: Operation) -> None:
        """The association ended in the middle of the data set."""
        ...


class EchoOperation:
    """C-ECHO (PS3.7 9.1.5): the C-ECHO-RSP with Success, at once."""

    windowed = False

    def start(self, operation: Operation) -> Performing | None:
        command = operation.command
        rsp = CEchoRSP(command.message_id, SUCCESS, command.affected_sop_class_uid)
        operation.scp.association.send_message(operation.context_id, rsp)
        return None

    def refuse(self, operation: Operation, status: int, comment: str) -> None:
        command = operation.command
        rsp = CEchoRSP(command.message_id, status, command.affected_sop_class_uid)
        operation.scp.association.send_message(operation.context_id, rsp)


class OperationLayer:
    """The operations of one association: dispatch, window, cancel (module docstring).

    It keeps no reference to its :class:`~aiodicom.net.scp.ServerProtocol` (each call
    that needs it is given it): the protocol owns the layer, and a reference back would
    make every closed association garbage that only the cycle collector frees.
    """

    __slots__ = ("running", "streaming", "table", "window")

    def __init__(self, table: Mapping[int, OperationHandler]) -> None:
        self.table = table
        self.running: dict[int, Operation] = {}
        self.window = 1  # operations the requestor may have outstanding (PS3.7 D.3.3.3)
        self.streaming: tuple[StreamingHandler, Operation] | None = None  # data set coming

    def negotiated(self, window: tuple[int, int] | None) -> None:
        """The A-ASSOCIATE-AC's window item (None: absent, synchronous, PS3.7 A.4)."""
        self.window = 1 if window is None else window[0] or MAX_WINDOW

    def request(self, scp: ServerProtocol, event: MessageReceived) -> None:
        """One DIMSE request received by ``scp``: to its handler, or the association is
        aborted."""
        command: Any = event.command  # a request: its handler knows its type
        handler = self.table.get(command.command_field)
        if handler is None:
            if type(command) is CCancelRQ:
                self.cancel(scp, command)
                return
            scp.log.warning("unexpected dimse command; aborting", command=type(command).__name__)
            scp.abort(source=2, reason=0)
            return
        operation = Operation(scp, event.context_id, command, event.data_set)
        if not handler.windowed:
            handler.start(operation)
            return
        self._begin(handler, operation)

    def fragment(self, scp: ServerProtocol, event: DataSetFragment) -> None:
        """One fragment of a streamed data set (PS3.8 E.2) received by ``scp`` to its
        operation's handler; the operation begins, as any request does, once the last
        fragment is in."""
        if event.first:
            command: Any = event.command
            entry = self.table.get(command.command_field)
            if not getattr(entry, "streams", False):  # the table changed since: no sink
                scp.log.warning("streamed data set without a streaming handler")
                scp.abort(source=2, reason=0)
                return
            handler = cast(StreamingHandler, entry)
            operation = Operation(scp, event.context_id, command, None)
            handler.open_stream(operation)
            self.streaming = (handler, operation)
        streaming = self.streaming
        if streaming is None:
            return  # its first fragment was refused: the association is being aborted
        handler, operation = streaming
        handler.write(operation, event.data)
        if event.last:
            self.streaming = None
            self._begin(handler, operation)

    def drop_stream(self) -> None:
        """The association ended in the middle of a streamed data set."""
        streaming, self.streaming = self.streaming, None
        if streaming is not None:
            streaming[0].abandon(streaming[1])

    def _begin(self, handler: OperationHandler, operation: Operation) -> None:
        """A windowed request: checks of the module docstring, then its handler."""
        command = operation.command
        message_id: int = command.message_id
        running = self.running
        scp = operation.scp
        if message_id in running:
            scp.log.warning("request reuses an outstanding message id; aborting", id=message_id)
            if operation.sink is not None:
                cast(StreamingHandler, handler).abandon(operation)
            scp.abort(source=2, reason=0)
            return
        if len(running) >= self.window:  # PS3.7 D.3.3.3: refuse it, keep the others
            why = f"asynchronous operations window ({self.window}) exceeded"
            handler.refuse(operation, OUT_OF_RESOURCES, why)
            return
        performing = handler.start(operation)
        if performing is None:
            return  # refused before any handler ran
        running[message_id] = operation
        scp.operation_started(operation)
        coro, eager = performing
        if eager:
            self._run_eagerly(coro, operation)
        else:
            self._start_task(coro, operation, handler)

    def cancel(self, scp: ServerProtocol, command: CCancelRQ) -> None:
        """PS3.7 9.3.2.3: stop the matching operation at once (C-FIND ends with 0xFE00)."""
        operation = self.running.get(command.message_id_being_responded_to)
        if operation is None or operation.task is None or operation.task.done():
            return  # the operation already ended (or never existed): nothing to cancel
        if operation.on_cancel is not None:
            operation.on_cancel()
        operation.cancel_requested = True
        scp.log.debug("c-cancel received", message_id=operation.message_id)
        operation.task.cancel()

    def forget(self, operation: Operation) -> None:
        """``operation`` is over: it no longer counts against the window."""
        message_id = operation.message_id
        if self.running.get(message_id) is operation:
            del self.running[message_id]

    def stop_all(self, scp: ServerProtocol, why: str) -> None:
        """Cancel every running operation's task (release, abort, connection lost)."""
        for operation in list(self.running.values()):
            if operation.task is not None and not operation.task.done():
                scp.log.debug("stopping handler", why=why, message_id=operation.message_id)
                operation.task.cancel()

    def _start_task(
        self,
        coro: Coroutine[Any, Any, None],
        operation: Operation,
        handler: OperationHandler | None = None,
    ) -> None:
        task = operation.scp.loop.create_task(coro)
        operation.task = task
        task.add_done_callback(lambda done: self._task_done(done, operation, handler))

    def _task_done(
        self, task: asyncio.Task[None], operation: Operation, handler: OperationHandler | None
    ) -> None:
        """Forget the operation; a streaming one cancelled before its coroutine took the
        data set over (an A-ABORT in the read that completed it) has it dropped, so no
        temporary file outlives the association."""
        self.forget(operation)
        if task.cancelled() and operation.sink is not None and getattr(handler, "streams", False):
            cast(StreamingHandler, handler).abandon(operation)

    def _run_eagerly(self, coro: Coroutine[Any, Any, None], operation: Operation) -> None:
        """Run an operation now; only if it suspends does a task take over.

        The task continues the coroutine exactly where it stopped (:func:`.eager.resume`).
        """
        scp = operation.scp
        scp.stepping = True  # responses queued now are flushed below or by the final one
        try:
            awaited = coro.send(None)
        except StopIteration:
            return  # done: the final response is queued and the operation forgotten
        except Exception:
            self.forget(operation)
            scp.log.exception("operation failed")
            return
        finally:
            scp.stepping = False
        scp.schedule_flush()  # it suspended: what it queued goes out at the next iteration
        self._start_task(resume(coro, awaited), operation)


BUILT_IN: Mapping[int, OperationHandler] = {CommandField.C_ECHO_RQ: EchoOperation()}
"""The operations every server performs; C-FIND is added by the server (it needs routes)."""
