"""DIMSE command set codec, message assembly and P-DATA-TF fragmentation.

* Command sets are always Implicit VR Little Endian (PS3.7 6.3.1), start with Command
  Group Length (0000,0000) and hold their elements in ascending tag order (PS3.5 7.1).
  UI values are padded to even length with a trailing NUL (PS3.5 6.2).
* A message is a command set optionally followed by a data set, each split into PDV
  fragments whose message control header says command/data (bit 0) and last (bit 1)
  (PS3.8 Annex E.2). :class:`MessageAssembler` rebuilds messages from PDVs;
  :func:`fragment` splits one into P-DATA-TF PDUs bounded by the peer's Maximum Length
  (PS3.8 D.1, which covers the PDU variable field, i.e. the PDV items).
"""

from __future__ import annotations

import struct

from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
from aiodicom.proto.command_set import (
    decode_command,
    decode_command_and_flag,
    encode_command,
)
from aiodicom.proto.events import DataSetFragment
from aiodicom.proto.memo import CommandDecodeMemo, CommandEncodeMemo
from aiodicom.proto.messages import DimseCommand
from aiodicom.proto.pdus import PDV

__all__ = [
    "MessageAssembler",
    "PendingFindTemplate",
    "decode_command",
    "decode_command_and_flag",
    "decode_command_memo",
    "encode_command",
    "encode_command_memo",
    "encode_find_rsp",
    "fragment",
]

PDV_HEADER_LENGTH = 6  # PS3.8 9.3.5.1: 4-byte item length + context id + control header
DEFAULT_MAX_COMMAND_SIZE = 1 << 20
DEFAULT_MAX_DATA_SET_SIZE = 64 << 20

_PENDING = frozenset({0xFF00, 0xFF01})  # PS3.4 C.4.1.1.4 pending statuses
_COMMANDS = CommandDecodeMemo(64)
_COMMAND_BYTES = CommandEncodeMemo(64)
_PDU_HEADER = struct.Struct(">BBI")
_PDV_HEADER = struct.Struct(">IBB")
_PDU_AND_PDV_HEADERS = struct.Struct(">BBIIBB")  # a P-DATA-TF header and its first PDV's
_COMMAND_LAST, _DATA_LAST = 3, 2  # PS3.8 E.2 message control headers of last fragments


# --------------------------------------------------------------------------- assembly


def decode_command_memo(data: bytes) -> tuple[DimseCommand, bool]:
    """``decode_command_and_flag`` through templates: consecutive command sets differ only
    in Message ID (Being Responded To) and Status, see :class:`.memo.CommandDecodeMemo`."""
    return _COMMANDS.decode(data)


_decode_command = decode_command_memo  # the name earlier callers and tests use


def _out_of_order(message: str) -> ProtocolError:
    return ProtocolError(
        f"DIMSE message fragments out of order: {message}",
        reason=AbortReason.UNEXPECTED_PDU_PARAMETER,
    )


class MessageAssembler:
    """Rebuild DIMSE messages from PDVs (PS3.8 Annex E.2, PS3.7 6.3.1).

    Command fragments come first, up to the one flagged last; then, if the command's Data
    Set Type says so, data set fragments on the same presentation context up to the last.
    Messages are not interleaved. Sizes are bounded so a peer cannot exhaust memory.
    """

    def __init__(
        self,
        *,
        max_command_size: int = DEFAULT_MAX_COMMAND_SIZE,
        max_data_set_size: int = DEFAULT_MAX_DATA_SET_SIZE,
    ) -> None:
        self.max_command_size = max_command_size
        self.max_data_set_size = max_data_set_size
        self._context_id: int | None = None
        self._command: DimseCommand | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._streaming = False  # fragments of this data set were handed on already
        self.stream_commands: frozenset[int] = frozenset()
        """Command Fields whose multi-PDV data sets are streamed (:class:`DataSetFragment`)."""

    @property
    def in_progress(self) -> bool:
        """True while a message has been started but not completed."""
        return self._context_id is not None

    def reset(self) -> None:
        """Drop any partial message."""
        self._context_id = None
        self._command = None
        self._parts = []
        self._size = 0
        self._streaming = False

    @property
    def resumable(self) -> bool:
        """True when idle or awaiting a data set of which nothing arrived yet: the states
        :meth:`waiting` / :meth:`set_waiting` capture for the P-DATA-TF fast path."""
        if self._context_id is None:
            return True
        return self._command is not None and not self._parts and not self._streaming

    def waiting(self) -> tuple[int, DimseCommand] | None:
        """(context id, command) of a command awaiting its data set, None when idle."""
        if self._context_id is None or self._command is None:
            return None
        return self._context_id, self._command

    def set_waiting(self, waiting: tuple[int, DimseCommand] | None) -> None:
        """Enter the state :meth:`add` leaves after ``waiting``'s command (None: idle)."""
        self.reset()
        if waiting is not None:
            self._context_id, self._command = waiting

    def add(self, pdv: PDV) -> tuple[int, DimseCommand, bytes | None] | DataSetFragment | None:
        """Add one PDV; return (context id, command, data set or None) once complete, or
        for a command in :attr:`stream_commands` each fragment of a multi-PDV data set."""
        if self._context_id is None:
            if pdv.is_command and pdv.is_last and len(pdv.data) <= self.max_command_size:
                return self._whole_command(pdv)
            self._context_id = pdv.context_id
        elif pdv.context_id != self._context_id:
            raise _out_of_order(
                f"presentation context changed from {self._context_id} to {pdv.context_id} "
                "in the middle of a message"
            )
        if self._command is None:
            return self._add_command(pdv)
        return self._add_data(pdv, self._command)

    def _append(self, data: bytes, limit: int, what: str) -> None:
        self._size += len(data)
        if self._size > limit:
            size = self._size
            self.reset()
            raise ProtocolError(f"{what} of {size}+ bytes exceeds the limit of {limit} bytes")
        self._parts.append(data)

    def _take(self) -> bytes:
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = []
        self._size = 0
        return data

    def _whole_command(self, pdv: PDV) -> tuple[int, DimseCommand, bytes | None] | None:
        """A command set in a single PDV (the usual case, PS3.8 E.2): decoded unbuffered."""
        command, has_data_set = decode_command_memo(pdv.data)
        if has_data_set:
            self._context_id = pdv.context_id
            self._command = command
            return None
        return pdv.context_id, command, None

    def _add_command(self, pdv: PDV) -> tuple[int, DimseCommand, bytes | None] | None:
        if not pdv.is_command:
            self.reset()
            raise _out_of_order("data set fragment received before the command set ended")
        self._append(pdv.data, self.max_command_size, "command set")
        if not pdv.is_last:
            return None
        command, has_data_set = decode_command_memo(self._take())
        if has_data_set:
            self._command = command
            return None
        context_id = pdv.context_id
        self.reset()
        return context_id, command, None

    def _add_data(
        self, pdv: PDV, command: DimseCommand
    ) -> tuple[int, DimseCommand, bytes | None] | DataSetFragment | None:
        if pdv.is_command:
            self.reset()
            raise _out_of_order("command fragment received while a data set was expected")
        streaming = self._streaming
        whole = pdv.is_last and not self._parts and not streaming
        if whole and len(pdv.data) <= self.max_data_set_size:
            self.reset()  # a data set in a single PDV: no copy, no join
            return pdv.context_id, command, pdv.data
        if streaming or command.command_field in self.stream_commands:
            return self._stream(pdv, command, not streaming)
        self._append(pdv.data, self.max_data_set_size, "data set")
        if not pdv.is_last:
            return None
        data_set = self._take()
        context_id = pdv.context_id
        self.reset()
        return context_id, command, data_set

    def _stream(self, pdv: PDV, command: DimseCommand, first: bool) -> DataSetFragment:
        """Hand one fragment on (no size limit: the receiver bounds what it keeps)."""
        if pdv.is_last:
            self.reset()
        else:
            self._streaming = True
        return DataSetFragment(pdv.context_id, command, pdv.data, first, pdv.is_last)


# --------------------------------------------------------------------------- fragmentation


def encode_command_memo(cmd: DimseCommand, has_data_set: bool) -> bytes:
    """``encode_command`` through templates: only Message ID (Being Responded To) and
    Status change between messages, see :class:`.memo.CommandEncodeMemo`."""
    return _COMMAND_BYTES.encode(cmd, has_data_set)


def encode_find_rsp(message_id: int, sop_class_uid: str, status: int, has_data_set: bool) -> bytes:
    """The C-FIND-RSP command set (PS3.7 9.3.2.2) without Error Comment or Offending
    Element, equal to ``encode_command(CFindRSP(...), has_data_set=has_data_set)``."""
    return _COMMAND_BYTES.find_rsp(message_id, sop_class_uid, status, has_data_set)


def _control_header(is_command: bool, is_last: bool) -> int:
    """PS3.8 E.2: bit 0 set = command, bit 1 set = last fragment."""
    return (1 if is_command else 0) | (2 if is_last else 0)


def _pdata_tf(context_id: int, pdvs: list[tuple[bool, bool, bytes]]) -> bytes:
    """PS3.8 9.3.5: one P-DATA-TF PDU holding the given (command, last, data) PDVs."""
    items = [
        _PDV_HEADER.pack(len(data) + 2, context_id, _control_header(is_command, is_last)) + data
        for is_command, is_last, data in pdvs
    ]
    body = b"".join(items)
    return _PDU_HEADER.pack(0x04, 0, len(body)) + body


def _single_pdu(
    context_id: int, command: bytes, data_set: bytes | None, max_pdu_length: int
) -> bytes | None:
    """The message as one P-DATA-TF with one PDV per stream, if the peer takes it whole.

    The common case (every C-FIND-RQ/RSP of a keyed query): both headers packed at once,
    the bytes :func:`_pdata_tf` would build.
    """
    if data_set is None:
        total = PDV_HEADER_LENGTH + len(command)
        if max_pdu_length and total > max_pdu_length:
            return None
        return (
            _PDU_AND_PDV_HEADERS.pack(4, 0, total, total - 4, context_id, _COMMAND_LAST) + command
        )
    total = 2 * PDV_HEADER_LENGTH + len(command) + len(data_set)
    if max_pdu_length and total > max_pdu_length:
        return None
    size = len(command) + 2
    header = _PDU_AND_PDV_HEADERS.pack(4, 0, total, size, context_id, _COMMAND_LAST)
    data_header = _PDV_HEADER.pack(len(data_set) + 2, context_id, _DATA_LAST)
    return b"".join((header, command, data_header, data_set))


def fragment(
    context_id: int, command: bytes, data_set: bytes | None, max_pdu_length: int
) -> list[bytes]:
    """Split a message into encoded P-DATA-TF PDUs for a peer with ``max_pdu_length``.

    PS3.8 D.1: the peer's Maximum Length bounds each PDU's length field, i.e. the PDV items
    (6-byte PDV header + fragment each). 0 means unlimited. PDUs are filled greedily, so a
    small command and data set share one PDU. Raises LocalProtocolError when the maximum
    cannot hold even one byte of fragment.
    """
    if not 1 <= context_id <= 255:
        raise LocalProtocolError(f"presentation context id {context_id} is outside 1..255")
    single = _single_pdu(context_id, command, data_set, max_pdu_length)
    if single is not None:
        return [single]
    streams = [(True, command)] if data_set is None else [(True, command), (False, data_set)]
    if max_pdu_length <= PDV_HEADER_LENGTH:
        raise LocalProtocolError(
            f"peer Maximum Length {max_pdu_length} cannot carry a PDV (needs more than "
            f"{PDV_HEADER_LENGTH} bytes)"
        )
    pdus: list[bytes] = []
    current: list[tuple[bool, bool, bytes]] = []
    used = 0
    for is_command, data in streams:
        position = 0
        while True:
            room = max_pdu_length - used - PDV_HEADER_LENGTH
            remaining = len(data) - position
            if room < min(remaining, 1):
                pdus.append(_pdata_tf(context_id, current))
                current, used = [], 0
                continue
            take = min(room, remaining)
            is_last = take == remaining
            current.append((is_command, is_last, data[position : position + take]))
            used += PDV_HEADER_LENGTH + take
            position += take
            if is_last:
                break
    pdus.append(_pdata_tf(context_id, current))
    return pdus


class PendingFindTemplate:
    """Pre-encoded C-FIND-RSP pending command set for one (message id, SOP class).

    PS3.4 C.4.1.3 / K.4.1.3: every match is sent as a C-FIND-RSP with status 0xFF00 or
    0xFF01 and an identifier; only the Status differs, so each variant is built once, on
    first use (an operation with no match never builds one).
    """

    __slots__ = ("_encoded", "message_id", "sop_class_uid")

    def __init__(self, message_id: int, sop_class_uid: str) -> None:
        self.message_id = message_id
        self.sop_class_uid = sop_class_uid
        self._encoded: dict[int, bytes] = {}

    def encode(self, status: int = 0xFF00) -> bytes:
        """Return the command set for a pending ``status`` (0xFF00 or 0xFF01)."""
        encoded = self._encoded.get(status)
        if encoded is None:
            if status not in _PENDING:
                raise LocalProtocolError(
                    f"status 0x{status:04X} is not a pending C-FIND status (0xFF00/0xFF01)"
                )
            encoded = encode_find_rsp(self.message_id, self.sop_class_uid, status, True)
            self._encoded[status] = encoded
        return encoded
