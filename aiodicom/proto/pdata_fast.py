"""Fast path for receiving P-DATA-TF PDUs in the established state (PS3.8 9.2, Sta6, DT-2).

:func:`scan_pdata` turns the complete P-DATA-TF PDUs (PS3.8 9.3.5) at the start of a read
straight into DIMSE messages (PS3.7 6.3.1), without building ``PDataTF``/``PDV`` objects.
It only accepts the shapes of ordinary traffic: every PDV carries either a whole command
set (message control header 3, PS3.8 Annex E.2) or, right after a command announcing a
data set, the whole data set on the same presentation context (header 2).

It has no side effects besides the command decode memo (whose hits equal full decodes):
anything else (another PDU type, a bad length, an unknown or even presentation context,
a fragmented command or data set, a malformed command set) makes it return None, and the
caller hands the whole read to the general path, which reports exactly what it always did.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Container

from aiodicom.errors import ProtocolError
from aiodicom.proto.dimse import MessageAssembler, decode_command_memo
from aiodicom.proto.events import Event, MessageReceived
from aiodicom.proto.messages import DimseCommand
from aiodicom.proto.pdu import PDUDecoder

__all__ = ["FastPath", "Pending", "ScanResult", "receive_whole_pdata", "scan_pdata"]

Pending = tuple[int, DimseCommand] | None
"""A decoded command still waiting for its data set: (presentation context id, command)."""
ScanResult = tuple[list[Event], Pending, int]
"""Completed messages, the command left waiting, and the number of bytes consumed."""
FastPath = Callable[[bytes, PDUDecoder, MessageAssembler, Container[int]], "list[Event] | None"]
"""What an :class:`~aiodicom.proto.association.Association` is composed with to take
ordinary Sta6 reads (:func:`receive_whole_pdata`): events, or None for the general path."""

_PDU_HEADER = struct.Struct(">BxL")  # PS3.8 9.3.1: type, reserved, length
_PDV_HEADER = struct.Struct(">LBB")  # PS3.8 9.3.5.1: item length, context id, control
_P_DATA_TF = 0x04
_COMMAND_LAST, _DATA_LAST = 3, 2  # PS3.8 E.2: whole command set / whole data set


def scan_pdata(
    data: bytes,
    *,
    max_pdata: int,
    contexts: Container[int],
    pending: Pending,
    max_command: int,
    max_data: int,
) -> ScanResult | None:
    """Decode the complete P-DATA-TF PDUs at the start of ``data`` into messages.

    ``max_pdata`` is the decoder's limit on the PDU-length field (PS3.8 D.1), ``contexts``
    the accepted presentation context ids, ``pending`` the assembler's command awaiting
    its data set, ``max_command`` / ``max_data`` the assembler's size limits. Returns None
    when the read needs the general path. Stops before an incomplete trailing PDU.
    """
    events: list[Event] = []
    pos, end = 0, len(data)
    pdu_header, pdv_header = _PDU_HEADER.unpack_from, _PDV_HEADER.unpack_from
    while end - pos >= 6:
        pdu_type, length = pdu_header(data, pos)
        if pdu_type != _P_DATA_TF or not 6 <= length <= max_pdata:
            return None
        stop = pos + 6 + length
        if stop > end:
            break
        pos += 6
        while pos < stop:
            if stop - pos < 6:
                return None
            item_length, context_id, control = pdv_header(data, pos)
            value_end = pos + 4 + item_length
            if item_length < 2 or value_end > stop or not context_id & 1:
                return None
            if context_id not in contexts:
                return None
            value = data[pos + 6 : value_end]
            pos = value_end
            if pending is None:
                if control != _COMMAND_LAST or len(value) > max_command:
                    return None
                try:
                    command, has_data_set = decode_command_memo(value)
                except ProtocolError:
                    return None
                if has_data_set:
                    pending = (context_id, command)
                else:
                    events.append(MessageReceived(context_id, command, None))
            elif control == _DATA_LAST and context_id == pending[0] and len(value) <= max_data:
                events.append(MessageReceived(context_id, pending[1], value))
                pending = None
            else:
                return None
    return events, pending, pos


def receive_whole_pdata(
    data: bytes, decoder: PDUDecoder, assembler: MessageAssembler, contexts: Container[int]
) -> list[Event] | None:
    """DT-2 (PS3.8 9.2.2) for a read starting with whole, unfragmented P-DATA-TF PDUs.

    Decodes them with :func:`scan_pdata`, then leaves ``assembler`` and ``decoder`` (an
    incomplete trailing PDU is buffered) as the general path would. Returns None, with
    nothing changed, when the general path must run instead.
    """
    if type(data) is not bytes or not decoder.idle or not assembler.resumable:
        return None  # bytearray / memoryview reads: general path
    scanned = scan_pdata(
        data,
        max_pdata=decoder.max_pdata_length,
        contexts=contexts,
        pending=assembler.waiting(),
        max_command=assembler.max_command_size,
        max_data=assembler.max_data_set_size,
    )
    if scanned is None or not scanned[2]:
        return None
    events, waiting, used = scanned
    assembler.set_waiting(waiting)
    decoder.keep_tail(data, used)
    return events
