"""A-ASSOCIATE-RQ / A-ASSOCIATE-AC codec (PS3.8 9.3.2, 9.3.3), used by :mod:`.pdu`.

The PDU header (PS3.8 9.3.1) is written and checked by :mod:`aiodicom.proto.pdu`; this
module handles the body: fixed fields, application context, presentation context items
and the user information item. Leniency as in :mod:`.pdu`: reserved fields are written as
zero and never tested; items of unrecognized types are skipped.

:func:`encode_associate` and :func:`decode_associate` are memoized (:mod:`.memo`): peers
repeat their A-ASSOCIATE-RQ byte for byte and a server answers it with the same AC.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from aiodicom.bounded import BoundedMemo
from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
from aiodicom.proto.memo import MAX_KEY_BYTES, always, without_identity
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
    AssociateAC,
    AssociateRQ,
    ItemType,
    PDUType,
    PresentationContextAC,
    PresentationContextRQ,
    UserInformation,
)

__all__ = ["ASSOCIATE_FIXED_LENGTH", "decode_associate", "encode_associate"]

ASSOCIATE_FIXED_LENGTH = 68
"""PS3.8 9.3.2/9.3.3: version, reserved, called/calling AE, 32 reserved bytes."""

_HEADER = struct.Struct(">BBL")
_ASSOCIATE_FIXED = struct.Struct(">HH16s16s32x")
_KNOWN_ITEM_TYPES = frozenset(ItemType)
_UNEXPECTED = AbortReason.UNEXPECTED_PDU_PARAMETER
_ENCODED: BoundedMemo[AssociateRQ | AssociateAC, bytes] = BoundedMemo()
_DECODED: BoundedMemo[tuple[int, bytes], AssociateRQ | AssociateAC] = BoundedMemo()


def encode_associate(pdu: AssociateRQ | AssociateAC) -> bytes:
    """The whole PDU (header included), memoized by value unless it carries an identity."""
    if not without_identity(pdu.user_information):
        return _encode_rq_ac(pdu)
    return _ENCODED.remember(pdu, lambda: _encode_rq_ac(pdu), always)


def decode_associate(pdu_type: int, body: bytes) -> AssociateRQ | AssociateAC:
    """Decode an RQ/AC body; a byte-identical body (up to MAX_KEY_BYTES) is decoded once."""
    if len(body) > MAX_KEY_BYTES:
        return _decode_associate(pdu_type, body)
    decode = lambda: _decode_associate(pdu_type, body)  # noqa: E731
    return _DECODED.remember((pdu_type, body), decode, _no_identity)


# ================================================================================ encode


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


def _encode_rq_ac(pdu: AssociateRQ | AssociateAC) -> bytes:
    if isinstance(pdu, AssociateRQ):
        contexts = [_encode_context_rq(pc) for pc in pdu.presentation_contexts]
        pdu_type = PDUType.A_ASSOCIATE_RQ
    else:
        contexts = [_encode_context_ac(pc) for pc in pdu.presentation_contexts]
        pdu_type = PDUType.A_ASSOCIATE_AC
    ids = [pc.context_id for pc in pdu.presentation_contexts]
    return _encode_associate(pdu_type, pdu, contexts, ids)


def _no_identity(pdu: AssociateRQ | AssociateAC) -> bool:
    """Keep only PDUs without a user identity sub-item (it may hold a passcode)."""
    return without_identity(pdu.user_information)


# ================================================================================ decode


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
