"""``-d`` / ``-ll debug`` and ``-ll trace`` output of aiodicom-findscu.

Debug shows the association negotiation (PS3.8 9.3.2-9.3.3: proposed and accepted
presentation contexts, maximum PDU lengths, implementation class UID and version name)
and every DIMSE command set sent and received (PS3.7 9.3). Trace adds every PDU
(PS3.8 9.3.1: type, length and its bytes in hex) in both directions.
"""

from __future__ import annotations

import dataclasses
import re
import struct

from aiodicom.net import Trace
from aiodicom.proto import AssociateAC, AssociateRQ, PDUType, PresentationContextResult

from .console import ConsoleLog

HEX_LIMIT = 512
"""Bytes of each PDU shown in hex at trace level; longer PDUs end with ``...``."""


def _user_info_lines(prefix: str, info: object) -> list[str]:
    fields = ("max_length", "implementation_class_uid", "implementation_version_name")
    names = ("Max PDU length", "Implementation Class UID", "Implementation Version Name")
    lines = [
        f"{prefix}{name}: {getattr(info, field)}" for field, name in zip(fields, names, strict=True)
    ]
    window = getattr(info, "async_ops_window", None)
    if window is not None:
        lines.append(f"{prefix}Asynchronous Operations Window: {window[0]}/{window[1]}")
    return lines


def format_rq(rq: AssociateRQ) -> str:
    """The A-ASSOCIATE-RQ we send, one field a line."""
    lines = [
        "Request Parameters (A-ASSOCIATE-RQ):",
        f"  Calling AE: {rq.calling_ae}  Called AE: {rq.called_ae}",
        f"  Application Context: {rq.application_context}",
        *_user_info_lines("  Our ", rq.user_information),
        "  Proposed Presentation Contexts:",
    ]
    for context in rq.presentation_contexts:
        lines.append(f"    Context ID {context.context_id}: {context.abstract_syntax}")
        lines.extend(f"      Transfer Syntax: {ts}" for ts in context.transfer_syntaxes)
    return "\n".join(lines)


def format_ac(ac: AssociateAC) -> str:
    """The A-ASSOCIATE-AC received, one field a line."""
    lines = [
        "Association Parameters Negotiated (A-ASSOCIATE-AC):",
        f"  Calling AE: {ac.calling_ae}  Called AE: {ac.called_ae}",
        *_user_info_lines("  Peer ", ac.user_information),
        "  Presentation Context Results:",
    ]
    for context in ac.presentation_contexts:
        try:
            result = PresentationContextResult(context.result).name.lower()
        except ValueError:
            result = f"result {context.result}"
        lines.append(f"    Context ID {context.context_id}: {result}, {context.transfer_syntax}")
    return "\n".join(lines)


def format_command(direction: str, context_id: int, command: object) -> str:
    """One DIMSE command set (PS3.7 9.3), its fields one a line."""
    name = type(command).__name__
    match = re.match(r"^C([A-Z][a-z]+)(RQ|RSP)$", name)  # CFindRSP -> C-FIND-RSP
    if match:
        name = f"C-{match[1].upper()}-{match[2]}"
    lines = [f"{direction} {name} (presentation context {context_id}):"]
    if dataclasses.is_dataclass(command):
        for field in dataclasses.fields(command):
            value = getattr(command, field.name)
            if field.name == "status" and isinstance(value, int):
                value = f"0x{value:04X}"
            lines.append(f"  {field.name}: {value}")
    return "\n".join(lines)


def _pdu_name(pdu_type: int) -> str:
    try:
        return PDUType(pdu_type).name.replace("_", "-")
    except ValueError:
        return f"unknown type 0x{pdu_type:02X}"


class PduSplitter:
    """Cuts a byte stream into PDUs (PS3.8 9.3.1: type, reserved, 4-byte length)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        pdus: list[bytes] = []
        while len(self._buffer) >= 6:
            (length,) = struct.unpack_from(">I", self._buffer, 2)
            if len(self._buffer) < 6 + length:
                break
            pdus.append(bytes(self._buffer[: 6 + length]))
            del self._buffer[: 6 + length]
        return pdus


def format_pdu(direction: str, pdu: bytes) -> str:
    """``PDU sent: P-DATA-TF, 84 bytes`` and the bytes in hex, 32 a line."""
    shown = pdu[:HEX_LIMIT]
    lines = [f"PDU {direction}: {_pdu_name(pdu[0])}, {len(pdu)} bytes"]
    for offset in range(0, len(shown), 32):
        lines.append(f"  {offset:04x}: {shown[offset : offset + 32].hex(' ')}")
    if len(pdu) > HEX_LIMIT:
        lines.append("  ...")
    return "\n".join(lines)


def make_trace(log: ConsoleLog) -> Trace | None:
    """The ``trace`` hook for :func:`aiodicom.connect`, or None below debug level."""
    if not log.enabled("debug"):
        return None
    pdus = log.enabled("trace")
    splitters = {"bytes-out": PduSplitter(), "bytes-in": PduSplitter()}

    def trace(kind: str, payload: object) -> None:
        if isinstance(payload, AssociateRQ):
            log.debug(format_rq(payload))
        elif isinstance(payload, AssociateAC):
            log.debug(format_ac(payload))
        elif kind in ("dimse-out", "dimse-in") and isinstance(payload, tuple):
            direction = "Sending" if kind == "dimse-out" else "Received"
            log.debug(format_command(direction, payload[0], payload[1]))
        elif pdus and kind in splitters and isinstance(payload, bytes):
            direction = "sent" if kind == "bytes-out" else "received"
            for pdu in splitters[kind].feed(payload):
                log.log("trace", format_pdu(direction, pdu))

    return trace
