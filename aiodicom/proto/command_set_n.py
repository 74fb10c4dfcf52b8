"""DIMSE-N command sets: N-CREATE and N-SET requests and responses (PS3.7 10.3.5, 10.3.3).

Built on the value codecs of :mod:`aiodicom.proto.command_set`, which hands these
messages over to :func:`n_command_elements` and :data:`N_DECODERS`. Fields: PS3.7
10.3.5.1-2 (N-CREATE-RQ/RSP), 10.3.3.1-2 (N-SET-RQ/RSP), E.1-1 (command dictionary);
the status-related fields of a response (Error Comment, Error ID, Attribute Identifier
List) are those of PS3.7 Annex C.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from aiodicom.proto.command_set import (
    AFFECTED_SOP_CLASS_UID,
    COMMAND_DATA_SET_TYPE,
    COMMAND_FIELD,
    ERROR_COMMENT,
    MESSAGE_ID,
    MESSAGE_ID_BEING_RESPONDED_TO,
    STATUS,
    _at_value,
    _dst_value,
    _Elements,
    _Fields,
    _lo_value,
    _malformed,
    _uid_value,
    _us_value,
)
from aiodicom.proto.messages import (
    CommandField,
    DimseCommand,
    NCreateRQ,
    NCreateRSP,
    NResponse,
    NSetRQ,
    NSetRSP,
)

# PS3.7 E.1-1: the group 0000 elements only DIMSE-N uses.
REQUESTED_SOP_CLASS_UID = 0x0003
ERROR_ID = 0x0903
AFFECTED_SOP_INSTANCE_UID = 0x1000
REQUESTED_SOP_INSTANCE_UID = 0x1001
ATTRIBUTE_IDENTIFIER_LIST = 0x1005

_US = struct.Struct("<H")

NMessage = NCreateRQ | NCreateRSP | NSetRQ | NSetRSP
N_MESSAGES = (NCreateRQ, NCreateRSP, NSetRQ, NSetRSP)


# --------------------------------------------------------------------------- encoding


def _create_rq_elements(cmd: NCreateRQ, has_data_set: bool) -> _Elements:
    elements = [
        (AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.N_CREATE_RQ)),
        (MESSAGE_ID, _us_value(cmd.message_id, "Message ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
    ]
    if cmd.affected_sop_instance_uid is not None:
        elements.append((AFFECTED_SOP_INSTANCE_UID, _uid_value(cmd.affected_sop_instance_uid)))
    return elements


def _set_rq_elements(cmd: NSetRQ, has_data_set: bool) -> _Elements:
    return [
        (REQUESTED_SOP_CLASS_UID, _uid_value(cmd.requested_sop_class_uid)),
        (COMMAND_FIELD, _US.pack(CommandField.N_SET_RQ)),
        (MESSAGE_ID, _us_value(cmd.message_id, "Message ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
        (REQUESTED_SOP_INSTANCE_UID, _uid_value(cmd.requested_sop_instance_uid)),
    ]


def _rsp_elements(cmd: NResponse, has_data_set: bool) -> _Elements:
    """N-CREATE-RSP / N-SET-RSP: the optional (U) fields only when given (PS3.7 10.3)."""
    elements: _Elements = []
    if cmd.affected_sop_class_uid is not None:
        elements.append((AFFECTED_SOP_CLASS_UID, _uid_value(cmd.affected_sop_class_uid)))
    elements += [
        (COMMAND_FIELD, _US.pack(cmd.command_field)),
        (MESSAGE_ID_BEING_RESPONDED_TO, _us_value(cmd.message_id_being_responded_to, "ID")),
        (COMMAND_DATA_SET_TYPE, _dst_value(has_data_set)),
        (STATUS, _us_value(cmd.status, "Status")),
    ]
    if cmd.error_comment is not None:
        elements.append((ERROR_COMMENT, _lo_value(cmd.error_comment)))
    if cmd.error_id is not None:
        elements.append((ERROR_ID, _us_value(cmd.error_id, "Error ID")))
    if cmd.affected_sop_instance_uid is not None:
        elements.append((AFFECTED_SOP_INSTANCE_UID, _uid_value(cmd.affected_sop_instance_uid)))
    if cmd.attribute_identifiers:
        elements.append((ATTRIBUTE_IDENTIFIER_LIST, _at_value(cmd.attribute_identifiers)))
    return elements


def n_command_elements(cmd: NMessage, has_data_set: bool) -> _Elements:
    """The elements of a DIMSE-N command set, in ascending tag order (PS3.5 7.1)."""
    if isinstance(cmd, NCreateRQ):
        return _create_rq_elements(cmd, has_data_set)
    if isinstance(cmd, NSetRQ):
        return _set_rq_elements(cmd, has_data_set)
    return _rsp_elements(cmd, has_data_set)


def n_default_has_data_set(cmd: NMessage) -> bool:
    """An N-SET-RQ always has its Modification List; the others say so themselves."""
    return True if isinstance(cmd, NSetRQ) else cmd.has_data_set


# --------------------------------------------------------------------------- decoding


def _optional_uid(fields: _Fields, element: int, name: str) -> str | None:
    return fields.uid(element, name) if element in fields.values else None


def _error_id(fields: _Fields) -> int | None:
    return fields.us(ERROR_ID, "Error ID") if ERROR_ID in fields.values else None


def _decode_create_rq(fields: _Fields) -> tuple[DimseCommand, bool]:
    has_data_set = fields.has_data_set()
    command = NCreateRQ(
        message_id=fields.us(MESSAGE_ID, "Message ID"),
        affected_sop_class_uid=fields.uid(AFFECTED_SOP_CLASS_UID, "Affected SOP Class UID"),
        affected_sop_instance_uid=_optional_uid(
            fields, AFFECTED_SOP_INSTANCE_UID, "Affected SOP Instance UID"
        ),
        has_data_set=has_data_set,
    )
    return command, has_data_set


def _decode_set_rq(fields: _Fields) -> tuple[DimseCommand, bool]:
    command = NSetRQ(
        message_id=fields.us(MESSAGE_ID, "Message ID"),
        requested_sop_class_uid=fields.uid(REQUESTED_SOP_CLASS_UID, "Requested SOP Class UID"),
        requested_sop_instance_uid=fields.uid(
            REQUESTED_SOP_INSTANCE_UID, "Requested SOP Instance UID"
        ),
    )
    if not fields.has_data_set():
        raise _malformed("N-SET-RQ has Command Data Set Type 0x0101 but needs a Modification List")
    return command, True


def _rsp_decoder(kind: type[NResponse]) -> Callable[[_Fields], tuple[DimseCommand, bool]]:
    def decode(fields: _Fields) -> tuple[DimseCommand, bool]:
        has_data_set = fields.has_data_set()
        command = kind(
            message_id_being_responded_to=fields.us(MESSAGE_ID_BEING_RESPONDED_TO, "Message ID"),
            status=fields.us(STATUS, "Status"),
            affected_sop_class_uid=_optional_uid(fields, AFFECTED_SOP_CLASS_UID, "SOP Class"),
            affected_sop_instance_uid=_optional_uid(
                fields, AFFECTED_SOP_INSTANCE_UID, "SOP Instance"
            ),
            has_data_set=has_data_set,
            error_comment=fields.error_comment(),
            error_id=_error_id(fields),
            attribute_identifiers=fields.tags(
                ATTRIBUTE_IDENTIFIER_LIST, "Attribute Identifier List"
            ),
        )
        return command, has_data_set

    return decode


N_DECODERS: dict[int, Callable[[_Fields], tuple[DimseCommand, bool]]] = {
    CommandField.N_CREATE_RQ: _decode_create_rq,
    CommandField.N_CREATE_RSP: _rsp_decoder(NCreateRSP),
    CommandField.N_SET_RQ: _decode_set_rq,
    CommandField.N_SET_RSP: _rsp_decoder(NSetRSP),
}
"""Decoders by Command Field, merged into the command set decoder's table."""
