"""DIMSE command set codec for C-ECHO, C-FIND, C-CANCEL and C-STORE (re-exported by
dimse.py); N-CREATE and N-SET are in :mod:`aiodicom.proto.command_set_n`.

Command sets are always Implicit VR Little Endian (PS3.7 6.3.1), start with Command Group
Length (0000,0000) and hold their elements in ascending tag order (PS3.5 7.1). UI values
are padded to even length with a trailing NUL (PS3.5 6.2). Field tables: PS3.7 9.3.1
(C-STORE), 9.3.2 (C-FIND, C-CANCEL), 9.3.5 (C-ECHO) and E.1-1 (command dictionary).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from aiodicom.errors import LocalProtocolError, ProtocolError
from aiodicom.proto.messages import (
    DATA_SET_PRESENT,
    NO_DATA_SET,
    VERIFICATION_SOP_CLASS,
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CommandField,
    CStoreRQ,
    CStoreRSP,
    DimseCommand,
)

# PS3.7 E.1-1: element numbers of group 0000 used by C-ECHO, C-FIND and C-CANCEL.
GROUP_LENGTH = 0x0000
AFFECTED_SOP_CLASS_UID = 0x0002
COMMAND_FIELD = 0x0100
MESSAGE_ID = 0x0110
MESSAGE_ID_BEING_RESPONDED_TO = 0x0120
PRIORITY = 0x0700
COMMAND_DATA_SET_TYPE = 0x0800
STATUS = 0x0900
OFFENDING_ELEMENT = 0x0901
ERROR_COMMENT = 0x0902
AFFECTED_SOP_INSTANCE_UID = 0x1000
MOVE_ORIGINATOR_AE_TITLE = 0x1030
MOVE_ORIGINATOR_MESSAGE_ID = 0x1031

MAX_UID_LENGTH = 64  # PS3.5 6.2, VR UI
MAX_LO_LENGTH = 64  # PS3.5 6.2, VR LO (Error Comment)
MAX_AE_LENGTH = 16  # PS3.5 6.2, VR AE

_ELEMENT_HEADER = struct.Struct("<HHI")
_US = struct.Struct("<H")
_AT = struct.Struct("<HH")

_Elements = list[tuple[int, bytes]]


# --------------------------------------------------------------------------- encoding


def _uid_value(uid: str) -> bytes:
    """PS3.5 6.2: a UI value, ASCII, at most 64 characters, NUL-padded to even length."""
    try:
        raw = uid.encode("ascii")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"UID {uid!r} is not ASCII") from None
    if len(raw) > MAX_UID_LENGTH:
        raise LocalProtocolError(f"UID {uid!r} is longer than {MAX_UID_LENGTH} characters")
    return raw + b"\x00" if len(raw) % 2 else raw


def _us_value(value: int, name: str) -> bytes:
    """PS3.5 6.2: a US value (0..65535)."""
    if not 0 <= value <= 0xFFFF:
        raise LocalProtocolError(f"{name} {value} is outside 0..65535")
    return _US.pack(value)


def _lo_value(text: str) -> bytes:
    """PS3.5 6.2, VR LO in the default repertoire: at most 64 characters, space padded.

    Characters outside printable ASCII, and the value delimiter backslash, become '?'.
    """
    cleaned = "".join(c if " " <= c <= "~" and c != "\\" else "?" for c in text)
    raw = cleaned[:MAX_LO_LENGTH].encode("ascii")
    return raw + b" " if len(raw) % 2 else raw


def _at_value(tags: tuple[int, ...]) -> bytes:
    """PS3.5 6.2, VR AT: each tag as (group, element) little endian 16-bit pairs."""
    for tag in tags:
        if not 0 <= tag <= 0xFFFFFFFF:
            raise LocalProtocolError(f"offending element {tag:#x} is not a 32-bit tag")
    return b"".join(_AT.pack(tag >> 16, tag & 0xFFFF) for tag in tags)


def _ae_value(title: str) -> bytes:
    """PS3.5 6.2, VR AE: 1-16 printable ASCII characters but backslash, space padded."""
    if not title.strip() or len(title) > MAX_AE_LENGTH:
        raise LocalProtocolError(f"AE title {title!r} is not 1-{MAX_AE_LENGTH} characters")
    if not all(" " <= c <= "~" and c != "\\" for c in title):
        raise LocalProtocolError(f"AE title {title!r} has characters outside PS3.5 6.2 AE")
    raw = title.encode("ascii")
    return raw + b" " if len(raw) % 2 else raw


def _dst_value(has_data_set: bool) -> bytes:
    """PS3.7 E.1-1: Command Data Set Type, 0x0101 = no data set."""
    return _US.pack(DATA_SET_PRESENT if has_data_set else NO_DATA_SET)


def _echo_rq_elements(cmd: CEchoRQ, has_data_set: bool) -> _Elements:
    return [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.C_ECHO_RQ)),
        (MESSAGE_ID, _us_value(cmd.message_id, "Message ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
    ]


def _echo_rsp_elements(cmd: CEchoRSP, has_data_set: bool) -> _Elements:
    return [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.C_ECHO_RSP)),
        (MESSAGE_ID_BEING_RESPONDED_TO, _us_value(cmd.message_id_being_responded_to, "ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
        (STATUS, _us_value(cmd.status, "Status")),
    ]


def _find_rq_elements(cmd: CFindRQ, has_data_set: bool) -> _Elements:
    return [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.C_FIND_RQ)),
        (MESSAGE_ID, _us_value(cmd.message_id, "Message ID")),
        (PRIORITY, _us_value(cmd.priority, "Priority")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
    ]


def _status_details(cmd: CFindRSP | CStoreRSP) -> _Elements:
    """Offending Element (0000,0901) and Error Comment (0000,0902) of a failure (PS3.7 C.4),
    when present; they sort between Status (0000,0900) and Affected SOP Instance UID."""
    details: _Elements = []
    if cmd.offending_elements:
        details.append((OFFENDING_ELEMENT, _at_value(cmd.offending_elements)))
    if cmd.error_comment is not None:
        details.append((ERROR_COMMENT, _lo_value(cmd.error_comment)))
    return details


def _find_rsp_elements(cmd: CFindRSP, has_data_set: bool) -> _Elements:
    elements = [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.C_FIND_RSP)),
        (MESSAGE_ID_BEING_RESPONDED_TO, _us_value(cmd.message_id_being_responded_to, "ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
        (STATUS, _us_value(cmd.status, "Status")),
        *_status_details(cmd),
    ]
    return elements


def _cancel_rq_elements(cmd: CCancelRQ, has_data_set: bool) -> _Elements:
    return [
        (COMMAND_FIELD, _US.pack(CommandField.C_CANCEL_RQ)),
        (MESSAGE_ID_BEING_RESPONDED_TO, _us_value(cmd.message_id_being_responded_to, "ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
    ]


def _store_rq_elements(cmd: CStoreRQ, has_data_set: bool) -> _Elements:
    """PS3.7 9.3.1.1, Table 9.3-1."""
    elements = [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.C_STORE_RQ)),
        (MESSAGE_ID, _us_value(cmd.message_id, "Message ID")),
        (PRIORITY, _us_value(cmd.priority, "Priority")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
        (AFFECTED_SOP_INSTANCE_UID, _uid_value(cmd.affected_sop_instance_uid)),
    ]
    if cmd.move_originator_ae_title is not None:
        elements.append((MOVE_ORIGINATOR_AE_TITLE, _ae_value(cmd.move_originator_ae_title)))
    if cmd.move_originator_message_id is not None:
        value = _us_value(cmd.move_originator_message_id, "Move Originator Message ID")
        elements.append((MOVE_ORIGINATOR_MESSAGE_ID, value))
    return elements


def _store_rsp_elements(cmd: CStoreRSP, has_data_set: bool) -> _Elements:
    """PS3.7 9.3.1.2, Table 9.3-2 (Error Comment, Offending Element: PS3.7 C.4)."""
    elements = [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.C_STORE_RSP)),
        (MESSAGE_ID_BEING_RESPONDED_TO, _us_value(cmd.message_id_being_responded_to, "ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
        (STATUS, _us_value(cmd.status, "Status")),
        *_status_details(cmd),
        (AFFECTED_SOP_INSTANCE_UID, _uid_value(cmd.affected_sop_instance_uid)),
    ]
    return elements


def _command_elements(cmd: DimseCommand, has_data_set: bool) -> _Elements:
    if isinstance(cmd, CStoreRQ):
        return _store_rq_elements(cmd, has_data_set)
    if isinstance(cmd, CStoreRSP):
        return _store_rsp_elements(cmd, has_data_set)
    if isinstance(cmd, CFindRSP):
        return _find_rsp_elements(cmd, has_data_set)
    if isinstance(cmd, CFindRQ):
        return _find_rq_elements(cmd, has_data_set)
    if isinstance(cmd, CEchoRQ):
        return _echo_rq_elements(cmd, has_data_set)
    if isinstance(cmd, CEchoRSP):
        return _echo_rsp_elements(cmd, has_data_set)
    if isinstance(cmd, CCancelRQ):
        return _cancel_rq_elements(cmd, has_data_set)
    return n_command_elements(cmd, has_data_set)


def _default_has_data_set(cmd: DimseCommand) -> bool:
    if isinstance(cmd, CFindRQ | CStoreRQ):
        return True
    if isinstance(cmd, CFindRSP):
        return cmd.has_data_set
    if isinstance(cmd, N_MESSAGES):
        return n_default_has_data_set(cmd)
    return False


def encode_command(cmd: DimseCommand, *, has_data_set: bool | None = None) -> bytes:
    """Encode ``cmd`` as an Implicit VR Little Endian command set (PS3.7 6.3.1, E.1).

    ``has_data_set`` overrides the Command Data Set Type; by default a C-FIND-RQ and a
    C-STORE-RQ have one, a
    C-FIND-RSP has one when ``cmd.has_data_set`` and the other commands have none.
    Raises LocalProtocolError for values that cannot be encoded.
    """
    if has_data_set is None:
        has_data_set = _default_has_data_set(cmd)
    body = b"".join(
        _ELEMENT_HEADER.pack(0, element, len(value)) + value
        for element, value in _command_elements(cmd, has_data_set)
    )
    return _ELEMENT_HEADER.pack(0, GROUP_LENGTH, 4) + struct.pack("<I", len(body)) + body


# --------------------------------------------------------------------------- decoding


def _malformed(message: str) -> ProtocolError:
    return ProtocolError(f"malformed DIMSE command set: {message}")


def _parse_elements(data: bytes) -> dict[int, bytes]:
    """Split a command set into {element number: value}, validating its structure.

    PS3.7 6.3.1 / E.1: group 0000 only, Command Group Length first and equal to the bytes
    that follow it, elements in ascending order (PS3.5 7.1), explicit lengths only.
    """
    size = len(data)
    if size < 12:
        raise _malformed(f"{size} bytes is shorter than the Command Group Length element")
    group, element, length = _ELEMENT_HEADER.unpack_from(data, 0)
    if (group, element, length) != (0, GROUP_LENGTH, 4):
        raise _malformed(
            f"first element is ({group:04X},{element:04X}) length {length}, "
            "expected Command Group Length (0000,0000) length 4"
        )
    group_length = struct.unpack_from("<I", data, 8)[0]
    if group_length != size - 12:
        raise _malformed(f"Command Group Length is {group_length} but {size - 12} bytes follow it")
    values: dict[int, bytes] = {}
    position, previous = 12, GROUP_LENGTH
    while position < size:
        if size - position < 8:
            raise _malformed(f"truncated element header at offset {position}")
        group, element, length = _ELEMENT_HEADER.unpack_from(data, position)
        position += 8
        if group != 0:
            raise _malformed(f"element ({group:04X},{element:04X}) is not in group 0000")
        if element <= previous:
            raise _malformed(f"element (0000,{element:04X}) is out of ascending tag order")
        if length > size - position:
            raise _malformed(f"element (0000,{element:04X}) length {length} overruns the set")
        values[element] = data[position : position + length]
        position += length
        previous = element
    return values


class _Fields:
    """Typed, validated access to the parsed elements of one command set."""

    def __init__(self, values: dict[int, bytes], command_name: str) -> None:
        self.values = values
        self.command_name = command_name

    def _required(self, element: int, name: str) -> bytes:
        value = self.values.get(element)
        if value is None:
            raise _malformed(f"{self.command_name} lacks required {name} (0000,{element:04X})")
        return value

    def us(self, element: int, name: str) -> int:
        """PS3.5 6.2, VR US: exactly 2 bytes."""
        value = self._required(element, name)
        if len(value) != 2:
            raise _malformed(f"{name} (0000,{element:04X}) has length {len(value)}, not 2")
        return int(_US.unpack(value)[0])

    def uid(self, element: int, name: str, default: str | None = None) -> str:
        """PS3.5 6.2, VR UI: ASCII; trailing NUL or space padding is tolerated."""
        if default is not None and element not in self.values:
            return default
        value = self._required(element, name)
        try:
            return value.decode("ascii").strip("\x00 ")
        except UnicodeDecodeError:
            raise _malformed(f"{name} (0000,{element:04X}) is not ASCII") from None

    def ae(self, element: int) -> str | None:
        """PS3.5 6.2, VR AE (optional): padding spaces are dropped."""
        value = self.values.get(element)
        return None if value is None else value.decode("latin-1").strip("\x00 ")

    def optional_us(self, element: int, name: str) -> int | None:
        return self.us(element, name) if element in self.values else None

    def has_data_set(self) -> bool:
        """PS3.7 E.1-1: any Command Data Set Type other than 0x0101 means present."""
        return self.us(COMMAND_DATA_SET_TYPE, "Command Data Set Type") != NO_DATA_SET

    def offending_elements(self) -> tuple[int, ...]:
        """Offending Element (0000,0901), PS3.7 C.4."""
        return self.tags(OFFENDING_ELEMENT, "Offending Element")

    def tags(self, element: int, name: str) -> tuple[int, ...]:
        """PS3.5 6.2, VR AT, VM 1-n: pairs of little endian 16-bit group/element."""
        value = self.values.get(element, b"")
        if len(value) % 4:
            raise _malformed(f"{name} length {len(value)} is not a multiple of 4")
        return tuple((g << 16) | e for g, e in _AT.iter_unpack(value))

    def error_comment(self) -> str | None:
        """PS3.7 C.5: Error Comment, LO; padding and surrounding spaces are dropped."""
        value = self.values.get(ERROR_COMMENT)
        if value is None:
            return None
        return value.decode("latin-1").strip("\x00 ")


def _decode_echo_rq(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = CEchoRQ(
        message_id=fields.us(MESSAGE_ID, "Message ID"),
        affected_sop_class_uid=fields.uid(AFFECTED_SOP_CLASS_UID, "Affected SOP Class UID"),
    )
    return command, fields.has_data_set()


def _decode_echo_rsp(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = CEchoRSP(
        message_id_being_responded_to=fields.us(MESSAGE_ID_BEING_RESPONDED_TO, "Message ID"),
        status=fields.us(STATUS, "Status"),
        affected_sop_class_uid=fields.uid(
            AFFECTED_SOP_CLASS_UID, "Affected SOP Class UID", default=VERIFICATION_SOP_CLASS
        ),
    )
    return command, fields.has_data_set()


def _decode_find_rq(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = CFindRQ(
        message_id=fields.us(MESSAGE_ID, "Message ID"),
        affected_sop_class_uid=fields.uid(AFFECTED_SOP_CLASS_UID, "Affected SOP Class UID"),
        priority=fields.us(PRIORITY, "Priority"),
    )
    if not fields.has_data_set():
        raise _malformed("C-FIND-RQ has Command Data Set Type 0x0101 but needs an identifier")
    return command, True


def _decode_find_rsp(fields: _Fields) -> tuple[DimseCommand, bool]:
    has_data_set = fields.has_data_set()
    command = CFindRSP(
        message_id_being_responded_to=fields.us(MESSAGE_ID_BEING_RESPONDED_TO, "Message ID"),
        affected_sop_class_uid=fields.uid(AFFECTED_SOP_CLASS_UID, "SOP Class", default=""),
        status=fields.us(STATUS, "Status"),
        has_data_set=has_data_set,
        error_comment=fields.error_comment(),
        offending_elements=fields.offending_elements(),
    )
    return command, has_data_set


def _decode_cancel_rq(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = CCancelRQ(
        message_id_being_responded_to=fields.us(MESSAGE_ID_BEING_RESPONDED_TO, "Message ID")
    )
    return command, fields.has_data_set()


def _decode_store_rq(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = CStoreRQ(
        message_id=fields.us(MESSAGE_ID, "Message ID"),
        affected_sop_class_uid=fields.uid(AFFECTED_SOP_CLASS_UID, "Affected SOP Class UID"),
        affected_sop_instance_uid=fields.uid(
            AFFECTED_SOP_INSTANCE_UID, "Affected SOP Instance UID"
        ),
        priority=fields.us(PRIORITY, "Priority"),
        move_originator_ae_title=fields.ae(MOVE_ORIGINATOR_AE_TITLE),
        move_originator_message_id=fields.optional_us(
            MOVE_ORIGINATOR_MESSAGE_ID, "Move Originator Message ID"
        ),
    )
    if not fields.has_data_set():
        raise _malformed("C-STORE-RQ has Command Data Set Type 0x0101 but needs a data set")
    return command, True


def _decode_store_rsp(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = CStoreRSP(
        message_id_being_responded_to=fields.us(MESSAGE_ID_BEING_RESPONDED_TO, "Message ID"),
        affected_sop_class_uid=fields.uid(AFFECTED_SOP_CLASS_UID, "SOP Class", default=""),
        affected_sop_instance_uid=fields.uid(AFFECTED_SOP_INSTANCE_UID, "SOP Instance", default=""),
        status=fields.us(STATUS, "Status"),
        error_comment=fields.error_comment(),
        offending_elements=fields.offending_elements(),
    )
    return command, fields.has_data_set()


_DECODERS: dict[int, Callable[[_Fields], tuple[DimseCommand, bool]]] = {
    CommandField.C_ECHO_RQ: _decode_echo_rq,
    CommandField.C_ECHO_RSP: _decode_echo_rsp,
    CommandField.C_FIND_RQ: _decode_find_rq,
    CommandField.C_FIND_RSP: _decode_find_rsp,
    CommandField.C_CANCEL_RQ: _decode_cancel_rq,
    CommandField.C_STORE_RQ: _decode_store_rq,
    CommandField.C_STORE_RSP: _decode_store_rsp,
}


def decode_command_and_flag(data: bytes) -> tuple[DimseCommand, bool]:
    """Decode a command set; return the command and whether a data set follows it.

    Raises ProtocolError (A-ABORT source 2, reason 6) for any malformed input, an unknown
    Command Field or a missing required field (PS3.7 9.3 tables, E.1-1).
    """
    values = _parse_elements(bytes(data))
    fields = _Fields(values, "command set")
    command_field = fields.us(COMMAND_FIELD, "Command Field")
    decoder = _DECODERS.get(command_field)
    if decoder is None:
        raise ProtocolError(
            f"unsupported DIMSE Command Field 0x{command_field:04X} "
            "(only C-ECHO, C-FIND, C-CANCEL, C-STORE, N-CREATE and N-SET are handled)"
        )
    fields.command_name = CommandField(command_field).name.replace("_", "-")
    return decoder(fields)


def decode_command(data: bytes) -> DimseCommand:
    """Decode an Implicit VR LE command set (PS3.7 6.3.1). ProtocolError on bad input."""
    return decode_command_and_flag(data)[0]


# DIMSE-N (PS3.7 10.3) builds on the value codecs above: imported last, on purpose.
from aiodicom.proto.command_set_n import (  # noqa: E402
    N_DECODERS,
    N_MESSAGES,
    n_command_elements,
    n_default_has_data_set,
)

_DECODERS.update(N_DECODERS)
