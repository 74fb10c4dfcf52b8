"""PDU codec of the DICOM upper layer (PS3.8 9.3): ``encode_pdu`` and an incremental decoder.

The decoder accepts the byte stream split anywhere. It checks the 6-byte PDU header
(PS3.8 9.3.1) before buffering the body, so a lying length never makes it allocate.
Peer violations raise :class:`~aiodicom.errors.ProtocolError` (A-ABORT source 2 with the
PS3.8 Table 9-26 reason); illegal local values raise
:class:`~aiodicom.errors.LocalProtocolError`.

Leniency, per PS3.8 9.3.1: reserved fields are written as zero and never tested; items
of unrecognized types inside an A-ASSOCIATE-RQ/AC or a presentation context item are
skipped; unknown user information sub-items are preserved. The A-ASSOCIATE-RQ/AC bodies
are coded by :mod:`aiodicom.proto.pdu_associate`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
from aiodicom.proto.pdu_associate import (
    ASSOCIATE_FIXED_LENGTH,
    decode_associate,
    encode_associate,
)
from aiodicom.proto.pdu_userinfo import peer_error
from aiodicom.proto.pdus import (
    PDU,
    PDV,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PDUType,
    ReleaseRP,
    ReleaseRQ,
)

__all__ = ["HARD_PDU_CEILING", "HEADER_LENGTH", "PDUDecoder", "encode_pdata", "encode_pdu"]

HEADER_LENGTH = 6
"""PS3.8 9.3.1: PDU-type (1), reserved (1), PDU-length (4, big endian)."""
HARD_PDU_CEILING = 16 * 1024 * 1024
"""Limit on a P-DATA-TF PDU length when ``max_pdu_length`` is 0 ("no limit", PS3.8 D.1).

16 MiB is far above anything a C-FIND exchange needs and bounds per-connection memory.
"""
_HEADER = struct.Struct(">BBL")
_PDV_HEADER = struct.Struct(">LBB")
_PDV_LENGTH = struct.Struct(">L")
_FOUR_BYTES = struct.Struct(">BBBB")
_U32_MAX = 0xFFFFFFFF
_FIXED_FOUR = (PDUType.A_ASSOCIATE_RJ, PDUType.A_RELEASE_RQ, PDUType.A_RELEASE_RP, PDUType.A_ABORT)
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
        case AssociateRQ() | AssociateAC():
            return encode_associate(pdu)
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


_P_DATA_TF = int(PDUType.P_DATA_TF)


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
        return decode_associate(pdu_type, bytes(body))
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

    @property
    def idle(self) -> bool:
        """True when no partial PDU is buffered and no error was raised."""
        return not self._buffer and self._error is None

    @property
    def max_pdata_length(self) -> int:
        """The enforced limit on the P-DATA-TF PDU-length field (PS3.8 D.1)."""
        return self._max_pdata

    def keep_tail(self, data: bytes, pos: int) -> None:
        """Buffer ``data[pos:]``, an incomplete PDU, as :meth:`feed` would after decoding
        the complete PDUs before ``pos`` itself. Only for an idle decoder and a tail whose
        header (if it has 6 bytes) the caller has already vetted like ``_check_header``.
        """
        if pos < len(data):
            self._buffer += data[pos:]

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
            body = view[pos + HEADER_LENGTH : pos + total]
            pdata = pdu_type == _P_DATA_TF  # the common case: no _decode_body dispatch
            pdus.append(_decode_pdata(body) if pdata else _decode_body(pdu_type, body))
            pos += total
        if pos < end:
            self._buffer += view[pos:]
        return pdus
