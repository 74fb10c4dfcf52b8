"""PDU codec of the DICOM upper layer (PS3.8 9.3): ``encode_pdu`` and an incremental decoder.

The decoder accepts the byte stream split anywhere. It checks the 6-byte PDU header
(PS3.8 9.3.1) before buffering the body, so a lying length never makes it allocate.
Peer violations raise :class:`~aiodicom.errors.ProtocolError` (A-ABORT source 2 with the
PS3.8 Table 9-26 reason); illegal local values raise
:class:`~aiodicom.errors.LocalProtocolError`.

Leniency, per PS3.8 9.3.1: reserved fields are written as zero and never tested; items
of unrecognized types inside an A-ASSOCIATE-RQ/AC or a presentation context item are
skipped; unknown user information sub-items are preserved.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import TypeVar

from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
from aiodicom.proto.pdu_userinfo import (
    Reader,
    decode_ae_title,
    decode_uid,
    decode_user_information,
    encode_ae_title,
    encode_uid,
    encode_user_information,
    item,
    peer_error,
)
from aiodicom.proto.pdus import (
    PDU,
    PDV,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    ItemType,
    PDataTF,
    PDUType,
    PresentationContextAC,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    UserInformation,
)

__all__ = ["HARD_PDU_CEILING", "HEADER_LENGTH", "PDUDecoder", "encode_pdata", "encode_pdu"]

HEADER_LENGTH = 6
"""PS3.8 9.3.1: PDU-type (1), reserved (1), PDU-length (4, big endian)."""
HARD_PDU_CEILING = 16 * 1024 * 1024
"""Limit on a P-DATA-TF PDU length when ``max_pdu_length`` is 0 ("no limit", PS3.8 D.1).

16 MiB is far above anything a C-FIND exchange needs and bounds per-connection memory.
"""
ASSOCIATE_FIXED_LENGTH = 68
"""PS3.8 9.3.2/9.3.3: version, reserved, called/calling AE, 32 reserved bytes."""

_HEADER = struct.Struct(">BBL")
_PDV_HEADER = struct.Struct(">LBB")
_PDV_LENGTH = struct.Struct(">L")
_ASSOCIATE_FIXED = struct.Struct(">HH16s16s32x")
_FOUR_BYTES = struct.Struct(">BBBB")
_U32_MAX = 0xFFFFFFFF
_FIXED_FOUR = (PDUType.A_ASSOCIATE_RJ, PDUType.A_RELEASE_RQ, PDUType.A_RELEASE_RP, PDUType.A_ABORT)
_KNOWN_ITEM_TYPES = frozenset(ItemType)
_UNEXPECTED = AbortReason.UNEXPECTED_PDU_PARAMETER
_RELEASE_RQ = _HEADER.pack(PDUType.A_RELEASE_RQ, 0, 4) + bytes(4)
_RELEASE_RP = _HEADER.pack(PDUType.A_RELEASE_RP, 0, 4) + bytes(4)


# ================================================================================ encode


def encode_pdata(pdvs: Iterable[PDV]) -> bytes:
    """Encode a P-DATA-TF PDU (PS3.8 9.3.5, Annex E.2): the hot path, kept lean.

    Message control header: bit 0 set = command, bit 1 set = last fragment.
    """
    parts = [b""]
    total = 0
    pack = _PDV_HEADER.pack
    try:
        for pdv in pdvs:
            if not pdv.context_id & 1:
                raise LocalProtocolError(f"PDV context id {pdv.context_id} is not odd 1-255")
            size = len(pdv.data)
            parts.append(pack(size + 2, pdv.context_id, pdv.is_command | (pdv.is_last << 1)))
            parts.append(pdv.data)
            total += size + 6
        if not total:
            raise LocalProtocolError("P-DATA-TF must carry at least one PDV (PS3.8 9.3.5)")
        parts[0] = _HEADER.pack(PDUType.P_DATA_TF, 0, total)
    except struct.error as exc:
        raise LocalProtocolError(f"P-DATA-TF field out of range: {exc}") from exc
    return b"".join(parts)


def _check_context_id(context_id: int, what: str) -> None:
    """PS3.8 9.3.2.2: presentation context IDs are odd integers 1-255."""
    if not (1 <= context_id <= 255 and context_id & 1):
        raise LocalProtocolError(f"{what}: presentation context id {context_id} is not odd 1-255")


def _check_unique_ids(ids: list[int], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise LocalProtocolError(f"{what}: duplicate presentation context ids {ids}")


def _encode_context_rq(context: PresentationContextRQ) -> bytes:
    """PS3.8 9.3.2.2: id, 3 reserved, abstract syntax sub-item, transfer syntax sub-items."""
    _check_context_id(context.context_id, "A-ASSOCIATE-RQ")
    if not context.transfer_syntaxes:
        raise LocalProtocolError(
            f"presentation context {context.context_id}: no transfer syntax proposed"
        )
    abstract = encode_uid(context.abstract_syntax, "abstract syntax")
    parts = [bytes((context.context_id, 0, 0, 0)), item(ItemType.ABSTRACT_SYNTAX, abstract)]
    parts.extend(
        item(ItemType.TRANSFER_SYNTAX, encode_uid(uid, "transfer syntax"))
        for uid in context.transfer_syntaxes
    )
    return item(ItemType.PRESENTATION_CONTEXT_RQ, b"".join(parts))


def _encode_context_ac(context: PresentationContextAC) -> bytes:
    """PS3.8 9.3.3.2: id, reserved, result/reason, reserved, one transfer syntax sub-item.

    For a rejected context the transfer syntax value is not significant; an empty
    ``transfer_syntax`` is written as a zero-length sub-item.
    """
    _check_context_id(context.context_id, "A-ASSOCIATE-AC")
    if not 0 <= context.result <= 4:
        raise LocalProtocolError(f"presentation context result {context.result} is not 0-4")
    if context.result == 0 or context.transfer_syntax:
        syntax = encode_uid(context.transfer_syntax, "accepted transfer syntax")
    else:
        syntax = b""
    head = bytes((context.context_id, 0, context.result, 0))
    return item(ItemType.PRESENTATION_CONTEXT_AC, head + item(ItemType.TRANSFER_SYNTAX, syntax))


def _encode_associate(
    pdu_type: int, pdu: AssociateRQ | AssociateAC, contexts: list[bytes], ids: list[int]
) -> bytes:
    """PS3.8 9.3.2 / 9.3.3: fixed fields, application context, contexts, user info."""
    name = "A-ASSOCIATE-RQ" if pdu_type == PDUType.A_ASSOCIATE_RQ else "A-ASSOCIATE-AC"
    if not contexts:
        raise LocalProtocolError(f"{name}: at least one presentation context is required")
    _check_unique_ids(ids, name)
    if not 0 <= pdu.protocol_version <= 0xFFFF:
        raise LocalProtocolError(f"{name}: protocol version {pdu.protocol_version} not 0-65535")
    fixed = _ASSOCIATE_FIXED.pack(
        pdu.protocol_version,
        0,
        encode_ae_title(pdu.called_ae, f"{name} called AE title"),
        encode_ae_title(pdu.calling_ae, f"{name} calling AE title"),
    )
    context_name = encode_uid(pdu.application_context, "application context name")
    body = b"".join(
        (
            fixed,
            item(ItemType.APPLICATION_CONTEXT, context_name),
            *contexts,
            encode_user_information(pdu.user_information),
        )
    )
    return _HEADER.pack(pdu_type, 0, len(body)) + body


def _encode_four(pdu_type: int, fields: tuple[int, int, int, int], what: str) -> bytes:
    try:
        return _HEADER.pack(pdu_type, 0, 4) + _FOUR_BYTES.pack(*fields)
    except struct.error as exc:
        raise LocalProtocolError(f"{what}: field out of range 0-255: {fields}") from exc


def _encode_rj(pdu: AssociateRJ) -> bytes:
    """PS3.8 9.3.4, Table 9-21: result 1/2, source 1-3, reason/diag."""
    if pdu.result not in (1, 2) or pdu.source not in (1, 2, 3):
        raise LocalProtocolError(
            f"A-ASSOCIATE-RJ: result {pdu.result} must be 1-2 and source {pdu.source} 1-3"
        )
    return _encode_four(PDUType.A_ASSOCIATE_RJ, (0, pdu.result, pdu.source, pdu.reason), "RJ")


def _encode_abort(pdu: Abort) -> bytes:
    """PS3.8 9.3.8, Table 9-26: source 0-2, reason 0-6."""
    if not 0 <= pdu.source <= 2 or not 0 <= pdu.reason <= 6:
        raise LocalProtocolError(
            f"A-ABORT: source {pdu.source} must be 0-2 and reason {pdu.reason} 0-6"
        )
    return _encode_four(PDUType.A_ABORT, (0, 0, pdu.source, pdu.reason), "A-ABORT")


def encode_pdu(pdu: PDU) -> bytes:
    """Encode any of the seven PDUs of PS3.8 9.3 to bytes."""
    match pdu:
        case PDataTF():
            return encode_pdata(pdu.pdvs)
        case AssociateRQ():
            contexts = [_encode_context_rq(pc) for pc in pdu.presentation_contexts]
            ids = [pc.context_id for pc in pdu.presentation_contexts]
            return _encode_associate(PDUType.A_ASSOCIATE_RQ, pdu, contexts, ids)
        case AssociateAC():
            contexts = [_encode_context_ac(pc) for pc in pdu.presentation_contexts]
            ids = [pc.context_id for pc in pdu.presentation_contexts]
            return _encode_associate(PDUType.A_ASSOCIATE_AC, pdu, contexts, ids)
        case AssociateRJ():
            return _encode_rj(pdu)
        case ReleaseRQ():
            return _RELEASE_RQ
        case ReleaseRP():
            return _RELEASE_RP
        case Abort():
            return _encode_abort(pdu)
    raise LocalProtocolError(f"not a PDU: {pdu!r}")


# ================================================================================ decode


def _decode_pdata(body: memoryview) -> PDataTF:
    """PS3.8 9.3.5 / Annex E.2: one or more PDV items, each at least id + control byte."""
    pdvs: list[PDV] = []
    pos = 0
    end = len(body)
    unpack_length = _PDV_LENGTH.unpack_from
    while pos < end:
        if end - pos < 4:
            raise peer_error(f"P-DATA-TF: {end - pos} stray bytes after PDV {len(pdvs) + 1}")
        (length,) = unpack_length(body, pos)
        if length < 2:
            raise peer_error(f"P-DATA-TF: PDV {len(pdvs) + 1} item length {length} < 2")
        stop = pos + 4 + length
        if stop > end:
            raise peer_error(f"P-DATA-TF: PDV {len(pdvs) + 1} item length {length} runs past PDU")
        context_id = body[pos + 4]
        if not context_id & 1:
            raise peer_error(f"P-DATA-TF: PDV presentation context id {context_id} is not odd")
        control = body[pos + 5]
        pdvs.append(
            PDV(context_id, bool(control & 1), bool(control & 2), bytes(body[pos + 6 : stop]))
        )
        pos = stop
    if not pdvs:
        raise peer_error("P-DATA-TF: no PDV item (PS3.8 9.3.5 requires one or more)")
    return PDataTF(tuple(pdvs))


def _context_id(reader: Reader, seen: set[int]) -> int:
    """PS3.8 9.3.2.2: odd 1-255, unique within the PDU."""
    context_id = reader.u8("presentation context id")
    if not context_id & 1:
        raise peer_error(f"{reader.where}: presentation context id {context_id} is not odd 1-255")
    if context_id in seen:
        raise peer_error(f"{reader.where}: presentation context id {context_id} repeated")
    seen.add(context_id)
    return context_id


def _unexpected(where: str, item_type: int) -> ProtocolError:
    return peer_error(f"{where}: unexpected item 0x{item_type:02X}", _UNEXPECTED)


def _decode_context_rq(value: bytes, seen: set[int]) -> PresentationContextRQ:
    """PS3.8 9.3.2.2: exactly one abstract syntax, one or more transfer syntaxes."""
    reader = Reader(value, "presentation context RQ item")
    context_id = _context_id(reader, seen)
    reader.take(3, "reserved bytes")
    where = f"presentation context {context_id}"
    abstract: list[str] = []
    syntaxes: list[str] = []
    for sub_type, sub_value in reader.items():
        if sub_type == ItemType.ABSTRACT_SYNTAX:
            abstract.append(decode_uid(sub_value, f"{where} abstract syntax"))
        elif sub_type == ItemType.TRANSFER_SYNTAX:
            syntaxes.append(decode_uid(sub_value, f"{where} transfer syntax"))
        elif sub_type in _KNOWN_ITEM_TYPES:
            raise _unexpected(where, sub_type)
    if len(abstract) != 1:
        raise peer_error(f"{where}: {len(abstract)} abstract syntax sub-items, expected 1")
    if not syntaxes:
        raise peer_error(f"{where}: no transfer syntax sub-item")
    return PresentationContextRQ(context_id, abstract[0], tuple(syntaxes))


def _decode_context_ac(value: bytes, seen: set[int]) -> PresentationContextAC:
    """PS3.8 9.3.3.2: result 0-4; the transfer syntax counts only when accepted (0)."""
    reader = Reader(value, "presentation context AC item")
    context_id = _context_id(reader, seen)
    reader.u8("reserved byte")
    result = reader.u8("result/reason")
    reader.u8("reserved byte")
    where = f"presentation context {context_id}"
    if result > 4:
        raise peer_error(f"{where}: result/reason {result} is not 0-4 (PS3.8 Table 9-18)")
    syntaxes: list[bytes] = []
    for sub_type, sub_value in reader.items():
        if sub_type == ItemType.TRANSFER_SYNTAX:
            syntaxes.append(sub_value)
        elif sub_type in _KNOWN_ITEM_TYPES:
            raise _unexpected(where, sub_type)
    if len(syntaxes) > 1:
        raise peer_error(f"{where}: {len(syntaxes)} transfer syntax sub-items, expected 1")
    if result != 0:
        return PresentationContextAC(context_id, result, "")
    if not syntaxes:
        raise peer_error(f"{where}: accepted without a transfer syntax sub-item")
    return PresentationContextAC(context_id, result, decode_uid(syntaxes[0], f"{where} TS"))


_Context = TypeVar("_Context", PresentationContextRQ, PresentationContextAC)


def _scan_items(
    body: bytes, name: str, context_type: int, decode: Callable[[bytes, set[int]], _Context]
) -> tuple[str, tuple[_Context, ...], UserInformation]:
    """Variable items of an A-ASSOCIATE-RQ/AC (PS3.8 9.3.2/9.3.3), checked for count."""
    names: list[str] = []
    contexts: list[_Context] = []
    infos: list[UserInformation] = []
    seen: set[int] = set()
    for item_type, value in Reader(body, name).items():
        if item_type == ItemType.APPLICATION_CONTEXT:
            names.append(decode_uid(value, f"{name} application context name"))
        elif item_type == context_type:
            contexts.append(decode(value, seen))
        elif item_type == ItemType.USER_INFORMATION:
            infos.append(decode_user_information(value))
        elif item_type in _KNOWN_ITEM_TYPES:
            raise _unexpected(name, item_type)
    if len(names) != 1:
        raise peer_error(f"{name}: {len(names)} application context items, expected 1")
    if not contexts:
        raise peer_error(f"{name}: no presentation context item")
    if len(infos) > 1:
        raise peer_error(f"{name}: {len(infos)} user information items", _UNEXPECTED)
    return names[0], tuple(contexts), infos[0] if infos else UserInformation()


def _decode_associate(pdu_type: int, body: bytes) -> AssociateRQ | AssociateAC:
    """PS3.8 9.3.2 (RQ) / 9.3.3 (AC). AE titles are only tested in the request."""
    rq = pdu_type == PDUType.A_ASSOCIATE_RQ
    name = "A-ASSOCIATE-RQ" if rq else "A-ASSOCIATE-AC"
    version, _, called_raw, calling_raw = _ASSOCIATE_FIXED.unpack_from(body)
    called = decode_ae_title(called_raw, f"{name} called AE title", strict=rq)
    calling = decode_ae_title(calling_raw, f"{name} calling AE title", strict=rq)
    items = body[ASSOCIATE_FIXED_LENGTH:]
    if rq:
        app, requested, info = _scan_items(
            items, name, ItemType.PRESENTATION_CONTEXT_RQ, _decode_context_rq
        )
        return AssociateRQ(called, calling, requested, info, app, version)
    app, answered, info = _scan_items(
        items, name, ItemType.PRESENTATION_CONTEXT_AC, _decode_context_ac
    )
    return AssociateAC(called, calling, answered, info, app, version)


def _decode_rj(body: bytes) -> AssociateRJ:
    """PS3.8 9.3.4, Table 9-21: result 1/2 and source 1-3 are tested; reason is kept."""
    _, result, source, reason = _FOUR_BYTES.unpack(body)
    if result not in (1, 2):
        raise peer_error(f"A-ASSOCIATE-RJ: result {result} is not 1 or 2")
    if source not in (1, 2, 3):
        raise peer_error(f"A-ASSOCIATE-RJ: source {source} is not 1-3")
    return AssociateRJ(result, source, reason)


def _decode_abort(body: bytes) -> Abort:
    """PS3.8 9.3.8: source and reason are reported as received (an abort is final)."""
    _, _, source, reason = _FOUR_BYTES.unpack(body)
    return Abort(source, reason)


def _decode_body(pdu_type: int, body: memoryview) -> PDU:
    """Decode a complete PDU body whose length the header check already vetted."""
    if pdu_type == PDUType.P_DATA_TF:
        return _decode_pdata(body)
    if pdu_type in (PDUType.A_ASSOCIATE_RQ, PDUType.A_ASSOCIATE_AC):
        return _decode_associate(pdu_type, bytes(body))
    if pdu_type == PDUType.A_ASSOCIATE_RJ:
        return _decode_rj(bytes(body))
    if pdu_type == PDUType.A_RELEASE_RQ:
        return ReleaseRQ()
    if pdu_type == PDUType.A_RELEASE_RP:
        return ReleaseRP()
    return _decode_abort(bytes(body))


class PDUDecoder:
    """Incremental PDU decoder: feed bytes split anywhere, get whole PDUs (PS3.8 9.3).

    ``max_pdu_length`` limits the P-DATA-TF PDU-length field (our advertised maximum
    length received, PS3.8 D.1); 0 means no limit, capped at :data:`HARD_PDU_CEILING`.
    ``max_associate_length`` limits every other variable-length PDU. Both are checked on
    the 6-byte header, before any of the body is buffered, so the internal buffer never
    holds more than one header plus one allowed body.

    After a :class:`ProtocolError` the decoder is dead: every later ``feed`` re-raises it.
    PDUs completed earlier in the same ``feed`` call are dropped with the error, as the
    association is aborted anyway (PS3.8 9.2, AA-8).
    """

    __slots__ = ("_buffer", "_error", "_max_associate", "_max_pdata")

    def __init__(self, max_pdu_length: int = 16384, max_associate_length: int = 1 << 20) -> None:
        if not 0 <= max_pdu_length <= _U32_MAX:
            raise LocalProtocolError(f"max_pdu_length {max_pdu_length} is not 0..{_U32_MAX}")
        if not ASSOCIATE_FIXED_LENGTH <= max_associate_length <= _U32_MAX:
            raise LocalProtocolError(
                f"max_associate_length {max_associate_length} is not "
                f"{ASSOCIATE_FIXED_LENGTH}..{_U32_MAX}"
            )
        self._max_pdata = max_pdu_length or HARD_PDU_CEILING
        self._max_associate = max_associate_length
        self._buffer = bytearray()
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Number of bytes held for an incomplete PDU."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[PDU]:
        """Consume ``data``; return the PDUs it completes, in order.

        Raises :class:`ProtocolError` (source 2, PS3.8 Table 9-26 reason) on invalid input.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._feed(memoryview(data).cast("B"))
        except ProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            raise

    def _check_header(self, header: memoryview | bytearray, pos: int) -> tuple[int, int]:
        """PS3.8 9.3.1: refuse unknown types and impossible or oversized lengths."""
        pdu_type, _, length = _HEADER.unpack_from(header, pos)
        if pdu_type == PDUType.P_DATA_TF:
            if length < 6:
                raise peer_error(f"P-DATA-TF: PDU length {length} cannot hold one PDV item")
            if length > self._max_pdata:
                raise peer_error(
                    f"P-DATA-TF: PDU length {length} exceeds our maximum {self._max_pdata}"
                )
        elif pdu_type in _FIXED_FOUR:
            if length != 4:
                raise peer_error(f"{PDUType(pdu_type).name}: PDU length {length}, expected 4")
        elif pdu_type in (PDUType.A_ASSOCIATE_RQ, PDUType.A_ASSOCIATE_AC):
            if length < ASSOCIATE_FIXED_LENGTH:
                raise peer_error(f"{PDUType(pdu_type).name}: PDU length {length} < 68")
            if length > self._max_associate:
                raise peer_error(
                    f"{PDUType(pdu_type).name}: PDU length {length} exceeds our maximum "
                    f"{self._max_associate}"
                )
        else:
            raise peer_error(
                f"unrecognized PDU type 0x{pdu_type:02X}", AbortReason.UNRECOGNIZED_PDU
            )
        return pdu_type, HEADER_LENGTH + length

    def _complete_buffered(self, view: memoryview, pdus: list[PDU]) -> int:
        """Top up the partial PDU in the buffer from ``view``; return bytes consumed."""
        buffer = self._buffer
        used = min(HEADER_LENGTH - len(buffer), len(view)) if len(buffer) < HEADER_LENGTH else 0
        buffer += view[:used]
        if len(buffer) < HEADER_LENGTH:
            return used
        pdu_type, total = self._check_header(buffer, 0)
        more = min(total - len(buffer), len(view) - used)
        buffer += view[used : used + more]
        used += more
        if len(buffer) == total:
            whole = bytes(buffer)
            buffer.clear()
            pdus.append(_decode_body(pdu_type, memoryview(whole)[HEADER_LENGTH:]))
        return used

    def _feed(self, view: memoryview) -> list[PDU]:
        pdus: list[PDU] = []
        pos = self._complete_buffered(view, pdus) if self._buffer else 0
        if self._buffer:
            return pdus
        end = len(view)
        while end - pos >= HEADER_LENGTH:
            pdu_type, total = self._check_header(view, pos)
            if end - pos < total:
                break
            pdus.append(_decode_body(pdu_type, view[pos + HEADER_LENGTH : pos + total]))
            pos += total
        if pos < end:
            self._buffer += view[pos:]
        return pdus
