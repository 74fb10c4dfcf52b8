"""HL7 v2 original-mode acknowledgements (HL7 v2.5 2.9.2): MSA-1 AA, AE or AR.

The ACK is made by the ``hl7`` package (:meth:`hl7.Message.create_ack`: MSH with sender
and receiver swapped, MSA-2 the message control id). A refused message gets MSA-3 (text)
and an ERR segment that names the place and the problem twice, for receivers of either
version: ERR-1 (v2.3.1 ELD: segment^sequence^field^code&text&HL70357) and ERR-2 to ERR-4
and ERR-8 (v2.5 ERL location, HL7 Table 0357 error code, severity E, user message).
A block too broken to answer from (no parseable MSH) gets an ACK of our own header.
"""

from __future__ import annotations

import datetime
import warnings

import hl7

from aiodicom.errors import Hl7Error
from aiodicom.hl7.message import text_at

ERROR_TEXT = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}
"""HL7 Table 0357, message error condition codes."""
APPLICATION = "AIODICOM"


def _stub(control_id: str) -> hl7.Message:
    """A message to answer from when the received one has no usable header (MSA-2 keeps
    its control id when it has one, else ``?``)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    control = "".join(c for c in control_id if c.isalnum() or c in "-_.")[:20] or "?"
    return hl7.parse(f"MSH|^~\\&|||{APPLICATION}||{now}||ACK^|{control}|P|2.5.1")


def _library_ack(message: hl7.Message, code: str) -> hl7.Message:
    """:meth:`hl7.Message.create_ack`; its ``datetime.utcnow()`` (deprecated from Python
    3.12 on) is the library's, so that one warning is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "datetime.datetime.utcnow", DeprecationWarning)
        return message.create_ack(code, application=APPLICATION)


def _create_ack(source: hl7.Message | None, code: str) -> tuple[hl7.Message, hl7.Message]:
    """(the message answered, its ACK); a header create_ack cannot read gets the stub's."""
    if source is not None:
        try:
            return source, _library_ack(source, code)
        except (IndexError, KeyError, TypeError, AttributeError, ValueError):
            pass
    stub = _stub(text_at(source.segment("MSH"), 10) if source is not None else "")
    return stub, _library_ack(stub, code)


def make_ack(
    source: hl7.Message | None, error: Hl7Error | None = None, text: str = ""
) -> hl7.Message:
    """ACK ``source`` (AA, or the error's AE/AR with MSA-3 and an ERR segment)."""
    message, ack = _create_ack(source, "AA" if error is None else error.ack_code)
    charset = text_at(message.segment("MSH"), 18)
    refused_charset = error is not None and (error.segment, error.field) == ("MSH", 18)
    if charset and not refused_charset:
        ack.segment("MSH").assign_field(charset, 18)  # the ACK is sent in the same set
    if error is None:
        if text:
            ack.segment("MSA").assign_field(message.escape(text), 3)
        return ack
    esc = message.escape
    name = ERROR_TEXT.get(error.code, "Error")
    problem = esc(error.problem[:200])
    ack.segment("MSA").assign_field(problem[:80], 3)
    field = str(error.field) if error.field else ""
    err = ack.create_segment([ack.create_field(["ERR"])])
    err.assign_field(f"{error.segment}^1^{field}^{error.code}&{name}&HL70357", 1)
    err.assign_field(f"{error.segment}^1^{field}", 2)
    err.assign_field(f"{error.code}^{name}^HL70357", 3)
    err.assign_field("E", 4)
    err.assign_field(problem, 8)
    ack.append(err)
    return ack
