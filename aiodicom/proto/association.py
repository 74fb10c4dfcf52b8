"""The sans-IO DICOM association: bytes in -> events out, primitives in -> bytes out.

Every input is a PS3.8 9.2 event through :func:`aiodicom.proto.fsm.transition`: Table 9-10
decides, this module performs the actions (9.2.2). No socket, no clock: the IO layer feeds
bytes to :meth:`~Association.receive_data`, sends :meth:`~Association.data_to_send`, runs
ARTIM while :attr:`~Association.artim_running` (:meth:`~Association.artim_expired`, 9.1.5),
closes the transport once :attr:`~Association.wants_close` and the bytes are flushed, and
reports it with :meth:`~Association.connection_lost`.

Peer protocol errors never raise: the association sends an A-ABORT (source 2, the reason),
returns :class:`Aborted` with the error and asks for the transport to be closed. Local misuse
raises :class:`~aiodicom.errors.LocalProtocolError`.
"""

from __future__ import annotations

from collections.abc import Callable

from aiodicom.errors import AbortReason, AbortSource, LocalProtocolError, ProtocolError
from aiodicom.proto.dimse import MessageAssembler, encode_command_memo, fragment
from aiodicom.proto.events import (
    Aborted,
    AcceptedContext,
    AssociationAccepted,
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
from aiodicom.proto.fsm import ALTERNATE_NEXT_STATE, EVENT_OF_PDU, Action, State, transition
from aiodicom.proto.fsm import Event as Evt
from aiodicom.proto.messages import DimseCommand
from aiodicom.proto.negotiation import accepted_contexts
from aiodicom.proto.pdata_fast import FastPath, receive_whole_pdata
from aiodicom.proto.pdu import PDUDecoder, encode_pdu
from aiodicom.proto.pdus import (
    PDU,
    PDU_NAMES,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    ReleaseRP,
    ReleaseRQ,
)

__all__ = ["AcceptedContext", "Association", "Mode"]

_INLINE_ACTIONS = frozenset({Action.DT_1, Action.AR_7})
_RELEASE_RESPONSE_STATES = frozenset({State.STA8, State.STA9, State.STA10, State.STA12})
_PEER_ERROR_ACTIONS = frozenset({Action.AA_1, Action.AA_7, Action.AA_8})

PROTOCOL_VERSION_RJ = AssociateRJ(result=1, source=2, reason=2)
"""PS3.8 9.3.4: permanent rejection, ACSE service provider, protocol-version-not-supported."""

_Handler = Callable[["Association", PDU | None, ProtocolError | None], list[Event]]


class Association:
    """One DICOM association, either end, without IO (PS3.8 9.2).

    Public attributes: ``mode``; ``state`` (PS3.8 9.2.1); ``max_pdu_length`` (our maximum
    length received, enforced by the decoder); ``peer_max_pdu_length`` (the peer's Maximum
    Length sub-item, 0 = unlimited or absent; bounds the P-DATA-TF PDUs we send, PS3.8
    D.1); ``contexts`` (accepted presentation contexts by id, set on AE-3 / AE-7);
    ``rq`` / ``ac`` (the A-ASSOCIATE-RQ and -AC of this association once known);
    ``artim_running`` and ``wants_close`` (instructions to the IO layer, module docstring).
    ``fast_path`` decodes ordinary Sta6 reads (:mod:`.pdata_fast`); None = general path.
    """

    def __init__(
        self,
        mode: Mode,
        *,
        max_pdu_length: int = 16384,
        max_associate_length: int = 1 << 20,
        fast_path: FastPath | None = receive_whole_pdata,
    ) -> None:
        self.mode = mode
        self._fast_path = fast_path
        self.state = State.STA1
        self.max_pdu_length = max_pdu_length
        self.peer_max_pdu_length = 0
        self.contexts: dict[int, AcceptedContext] = {}
        self.artim_running = False
        self.wants_close = False
        self.rq: AssociateRQ | None = None
        self.ac: AssociateAC | None = None
        self._decoder = PDUDecoder(max_pdu_length, max_associate_length)
        self._assembler = MessageAssembler()
        self._out: list[bytes] = []
        self._connected = False
        self._input_closed = False
        self._release_response_pending = False
        self._previous_state = State.STA1

    @property
    def awaiting_release_response(self) -> bool:
        """An A-RELEASE response (Evt14) is owed now (PS3.8 Table 9-10: Sta8, 9, 12; Sta10
        defers it to AR-10); not after a later PDU of the same read aborted (AA-3, AA-8)."""
        return self.state in _RELEASE_RESPONSE_STATES

    @property
    def stream_commands(self) -> frozenset[int]:
        """Command Fields whose multi-PDV data sets arrive as :class:`DataSetFragment`
        events, one per PDV, instead of one assembled :class:`MessageReceived`."""
        return self._assembler.stream_commands

    @stream_commands.setter
    def stream_commands(self, fields: frozenset[int]) -> None:
        self._assembler.stream_commands = fields

    @property
    def input_pending(self) -> bool:
        """Part of a PDU or DIMSE message is in, the rest is not (checked once per read)."""
        return bool(self._decoder._buffer) or self._assembler._context_id is not None

    def partial_input(self) -> tuple[int, bool]:
        """(bytes in of the incomplete PDU, 0 between PDUs (PS3.8 9.3.1); whether a DIMSE
        message has begun and is not complete (Annex E))."""
        return len(self._decoder._buffer), self._assembler._context_id is not None

    # ------------------------------------------------------------------ IO layer inputs

    def connection_made(self) -> None:
        """Transport connected: Evt5 on an acceptor (AE-5, ARTIM starts); Evt2 on a requestor.

        A requestor may connect before calling :meth:`request`: Evt2 is then fired by
        ``request()`` right after Evt1 (AE-1 then AE-2), since the connection is already up.
        """
        if self.mode is Mode.ACCEPTOR:
            self._fire(Evt.EVT5)
            self._connected = True
            return
        if self._connected:
            raise LocalProtocolError("connection_made() called twice")
        self._connected = True
        if self.state is State.STA4:
            self._fire(Evt.EVT2)

    def receive_data(self, data: bytes) -> list[Event]:
        """Decode received bytes and run each PDU through the state machine."""
        fast_path = self._fast_path
        if self.state is State.STA6 and fast_path is not None and not self._input_closed:
            fast = fast_path(data, self._decoder, self._assembler, self.contexts)
            if fast is not None:  # DT-2 for whole PDUs: Sta6 -> Sta6 (PS3.8 9.2)
                self._previous_state = State.STA6
                return fast
        if self._input_closed or self.state in (State.STA1, State.STA4):
            return []
        try:
            pdus = self._decoder.feed(data)
        except ProtocolError as error:
            self._input_closed = True  # the byte stream can no longer be framed
            return self._peer_error(error)
        events: list[Event] = []
        for pdu in pdus:
            if self._input_stopped():
                break
            events.extend(self._on_pdu(pdu))
        return events

    def connection_lost(self) -> list[Event]:
        """Evt17: the transport connection closed (either side)."""
        self._input_closed = True
        self._connected = False
        events: list[Event] = []
        if self.state is not State.STA1:  # Sta1: we closed it ourselves, nothing left to do
            events = self._fire(Evt.EVT17)
        events.append(ConnectionClosed())
        return events

    def artim_expired(self) -> list[Event]:
        """Evt18: the ARTIM timer fired. Ignored if it was stopped meanwhile (stale timer)."""
        if not self.artim_running:
            return []
        return self._fire(Evt.EVT18)

    def data_to_send(self) -> bytes:
        """Drain the queued outgoing bytes (b"" if none)."""
        if not self._out:
            return b""
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        return data

    # ------------------------------------------------------------------ local primitives

    def request(self, rq: AssociateRQ) -> None:
        """Evt1, A-ASSOCIATE request: the RQ is sent as soon as the transport is connected."""
        if self.mode is not Mode.REQUESTOR:
            raise LocalProtocolError("only an association-requestor sends an A-ASSOCIATE-RQ")
        self._fire(Evt.EVT1, rq)
        if self._connected:
            self._fire(Evt.EVT2)

    def accept(self, ac: AssociateAC) -> None:
        """Evt7, A-ASSOCIATE response (accept): AE-7 sends the AC."""
        transition(self.state, Evt.EVT7)  # LocalProtocolError before any check below
        assert self.rq is not None  # Sta3 is only reached through AE-6
        try:
            self.contexts = accepted_contexts(self.rq, ac)
        except ProtocolError as error:
            raise LocalProtocolError(f"A-ASSOCIATE-AC does not answer the RQ: {error}") from None
        self._fire(Evt.EVT7, ac)

    def reject(self, rj: AssociateRJ) -> None:
        """Evt8, A-ASSOCIATE response (reject): AE-8 sends the RJ and starts ARTIM."""
        self._fire(Evt.EVT8, rj)

    def send_message(
        self, context_id: int, command: DimseCommand, data_set: bytes | None = None
    ) -> None:
        """Evt9, P-DATA request: encode and fragment one DIMSE message (DT-1 / AR-7)."""
        next_state = self._check_send(context_id)
        command_bytes = encode_command_memo(command, data_set is not None)
        self._out.extend(fragment(context_id, command_bytes, data_set, self.peer_max_pdu_length))
        self.state = next_state

    def send_raw_message(
        self, context_id: int, command_bytes: bytes, data_set: bytes | None
    ) -> None:
        """Evt9 with a pre-encoded command set (e.g. a PendingFindTemplate)."""
        next_state = self._check_send(context_id)
        self._out.extend(fragment(context_id, command_bytes, data_set, self.peer_max_pdu_length))
        self.state = next_state

    def release(self) -> None:
        """Evt11, A-RELEASE request: AR-1 sends the A-RELEASE-RQ."""
        self._fire(Evt.EVT11)

    def release_response(self) -> None:
        """Evt14, A-RELEASE response: sends the A-RELEASE-RP (AR-4 / AR-9).

        In Sta10 (acceptor side of a release collision) the standard first waits for the
        peer's A-RELEASE-RP (AR-10, Sta12); the response is remembered and sent then.
        """
        if self.state is State.STA10:
            self._release_response_pending = True
            return
        self._fire(Evt.EVT14)

    def abort(self, source: int = AbortSource.SERVICE_USER, reason: int = 0) -> None:
        """Evt15, A-ABORT request: AA-1 sends an A-ABORT (AA-2 in Sta4: just close).

        Table 9-10 has no Evt15 cell for Sta1, Sta2 and Sta13 (no association to abort):
        LocalProtocolError there; the IO layer simply closes the transport.
        """
        self._fire(Evt.EVT15, Abort(source, reason))

    # ------------------------------------------------------------------ machinery

    def _input_stopped(self) -> bool:
        """No more PDUs are processed: transport closed by us (Sta1) or stream unframeable."""
        return self._input_closed or self.state is State.STA1

    def _fire(
        self, event: Evt, pdu: PDU | None = None, error: ProtocolError | None = None
    ) -> list[Event]:
        """Look up Table 9-10, enter the next state, perform the action."""
        action, next_state = transition(self.state, event)
        return self._perform(action, next_state, pdu, error)

    def _perform(
        self, action: Action, next_state: State, pdu: PDU | None, error: ProtocolError | None
    ) -> list[Event]:
        self._previous_state = self.state
        self.state = next_state
        return _HANDLERS[action](self, pdu, error)

    def _check_send(self, context_id: int) -> State:
        """Evt9: DT-1 in Sta6, AR-7 in Sta8; both keep the state (Table 9-10)."""
        next_state = transition(self.state, Evt.EVT9)[1]
        if context_id not in self.contexts:
            raise LocalProtocolError(
                f"presentation context {context_id} was not accepted "
                f"(accepted: {sorted(self.contexts)})"
            )
        return next_state

    def _on_pdu(self, pdu: PDU) -> list[Event]:
        action, next_state = transition(self.state, EVENT_OF_PDU[type(pdu)])
        if action is Action.DT_2 and isinstance(pdu, PDataTF):  # the common case, inlined
            self._previous_state = self.state
            self.state = next_state
            return self._on_pdata(pdu)
        error = None
        if action is Action.AE_3:
            assert isinstance(pdu, AssociateAC) and self.rq is not None
            try:
                self.contexts = accepted_contexts(self.rq, pdu)
            except ProtocolError as invalid:
                return self._peer_error(invalid)
        elif action in _PEER_ERROR_ACTIONS:
            error = ProtocolError(
                f"{PDU_NAMES[type(pdu)]} PDU unexpected in {self.state.value}",
                reason=AbortReason.UNEXPECTED_PDU,
            )
        return self._perform(action, next_state, pdu, error)

    def _on_pdata(self, pdu: PDataTF) -> list[Event]:
        """DT-2 / AR-6: P-DATA indication, one event per completed DIMSE message."""
        events: list[Event] = []
        contexts = self.contexts
        for pdv in pdu.pdvs:
            if pdv.context_id not in contexts:
                return [*events, *self._peer_error(_unknown_context(pdv.context_id))]
            try:
                message = self._assembler.add(pdv)
            except ProtocolError as error:
                return [*events, *self._peer_error(error)]
            if message is not None:
                if isinstance(message, DataSetFragment):
                    events.append(message)
                else:
                    events.append(MessageReceived(*message))
        return events

    def _peer_error(self, error: ProtocolError) -> list[Event]:
        """Evt19, unrecognized or invalid PDU: AA-1 (Sta2), AA-8, or AA-7 (Sta13)."""
        return self._fire(Evt.EVT19, None, error)

    def _queue(self, pdu: PDU) -> None:
        self._out.append(encode_pdu(pdu))

    def _send_provider_abort(self, error: ProtocolError | None) -> list[Event]:
        reason = error.reason if error is not None else AbortReason.NOT_SPECIFIED
        self._queue(Abort(AbortSource.SERVICE_PROVIDER, reason))
        self.artim_running = True
        self.wants_close = True
        return [Aborted(AbortSource.SERVICE_PROVIDER, reason, by_peer=False, error=error)]

    # ------------------------------------------------------------------ actions (PS3.8 9.2.2)

    def _do_ae_1(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, AssociateRQ)
        self.rq = pdu  # the IO layer opens the transport: connection_made() -> Evt2
        return []

    def _do_ae_2(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert self.rq is not None
        self._queue(self.rq)
        return []

    def _do_ae_3(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, AssociateAC)
        self.ac = pdu
        self.peer_max_pdu_length = pdu.user_information.max_length or 0
        return [AssociationAccepted(pdu)]

    def _do_ae_4(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, AssociateRJ)
        self.wants_close = True
        return [AssociationRejected(pdu)]

    def _do_ae_5(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self.artim_running = True
        return []

    def _do_ae_6(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, AssociateRQ)
        self.artim_running = False
        self.rq = pdu
        self.peer_max_pdu_length = pdu.user_information.max_length or 0
        if pdu.protocol_version & 1:  # PS3.8 9.3.2: only bit 0 (version 1) is tested
            return [AssociationRequested(pdu)]
        self.state = ALTERNATE_NEXT_STATE[Action.AE_6]
        self._queue(PROTOCOL_VERSION_RJ)
        self.artim_running = True
        return [AssociationRejected(PROTOCOL_VERSION_RJ)]

    def _do_ae_7(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, AssociateAC)
        self.ac = pdu
        self._queue(pdu)
        return []

    def _do_ae_8(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, AssociateRJ)
        self._queue(pdu)
        self.artim_running = True
        return []

    def _do_dt_2(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, PDataTF)
        return self._on_pdata(pdu)

    def _do_ar_1(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self._queue(ReleaseRQ())
        return []

    def _do_ar_2(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        return [ReleaseRequested()]

    def _do_ar_3(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self.wants_close = True
        return [ReleaseCompleted()]

    def _do_ar_4(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self._queue(ReleaseRP())
        self.artim_running = True  # the requestor closes the transport (AR-3)
        return []

    def _do_ar_5(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self.artim_running = False
        return []

    _do_ar_6 = _do_dt_2  # P-DATA indication while awaiting the A-RELEASE-RP

    def _do_ar_8(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        if self.mode is Mode.ACCEPTOR:
            self.state = ALTERNATE_NEXT_STATE[Action.AR_8]
        return [ReleaseRequested()]

    def _do_ar_9(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self._queue(ReleaseRP())
        return []

    def _do_ar_10(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        events: list[Event] = [ReleaseCompleted()]
        if self._release_response_pending:
            self._release_response_pending = False
            events.extend(self._fire(Evt.EVT14))
        return events

    def _do_aa_1(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        if isinstance(pdu, Abort) and error is None:  # Evt15: the local user aborts
            self._queue(pdu)
            self.artim_running = True
            self.wants_close = True
            return []
        # Sta2, peer error: AA-1 names the service-user as source, but no user exists yet;
        # like AA-8 we report the provider as source with the reason of the error.
        return self._send_provider_abort(error)

    def _do_aa_2(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self.artim_running = False
        self.wants_close = True
        if self._previous_state is not State.STA2:
            return []  # Sta4: local abort before connecting; Sta13: association already over
        if isinstance(pdu, Abort):  # A-ABORT received instead of an A-ASSOCIATE-RQ
            return [Aborted(pdu.source, pdu.reason, by_peer=True, error=None)]
        # ARTIM expired before the A-ASSOCIATE-RQ arrived: an A-P-ABORT
        return [Aborted(AbortSource.SERVICE_PROVIDER, 0, by_peer=False, error=None)]

    def _do_aa_3(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        assert isinstance(pdu, Abort)
        self.artim_running = False
        self.wants_close = True
        return [Aborted(pdu.source, pdu.reason, by_peer=True, error=None)]

    def _do_aa_4(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        self.artim_running = False
        return [Aborted(AbortSource.SERVICE_PROVIDER, 0, by_peer=False, error=None)]

    _do_aa_5 = _do_ar_5  # stop ARTIM, nothing else (PS3.8 9.2.2)

    def _do_aa_6(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        return []

    def _do_aa_7(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        reason = error.reason if error is not None else AbortReason.UNEXPECTED_PDU
        self._queue(Abort(AbortSource.SERVICE_PROVIDER, reason))
        self.wants_close = True
        return []

    def _do_aa_8(self, pdu: PDU | None, error: ProtocolError | None) -> list[Event]:
        return self._send_provider_abort(error)


# Built once for the class, not per association. DT-1 / AR-7 (send a P-DATA-TF) are
# performed inline by _check_send's callers.
_HANDLERS: dict[Action, _Handler] = {
    action: getattr(Association, f"_do_{action.name.lower()}")
    for action in Action
    if action not in _INLINE_ACTIONS
}


def _unknown_context(context_id: int) -> ProtocolError:
    """PS3.8 9.3.5.1: a PDV must use a presentation context accepted for the association."""
    return ProtocolError(
        f"P-DATA-TF PDV on presentation context {context_id}, which was not accepted",
        reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
    )
