"""Field helpers and the user information item codec (PS3.8 9.3.2.3, PS3.7 Annex D).

Used by :mod:`aiodicom.proto.pdu`. Every read goes through :class:`Reader`, which checks
bounds and raises :class:`~aiodicom.errors.ProtocolError`, so malformed input can never
leak ``IndexError`` or ``struct.error``. Encoders raise
:class:`~aiodicom.errors.LocalProtocolError` for values that cannot go on the wire.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
from aiodicom.proto.pdus import (
    ItemType,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
)

ITEM_HEADER = struct.Struct(">BBH")
"""PS3.8 9.3.2: item-type, reserved, item-length (big endian, PS3.8 9.3.1)."""
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">L")
_U16_PAIR = struct.Struct(">HH")

UID_MAX_LENGTH = 64
"""PS3.5 9.1: a UID is at most 64 characters."""
AE_TITLE_LENGTH = 16
"""PS3.8 9.3.2: Called/Calling-AE-title fields are 16 bytes, space padded."""
VERSION_NAME_MAX_LENGTH = 16
"""PS3.7 D.3.3.2.3: implementation version name is 1 to 16 characters."""

_UID_RE = re.compile(r"[0-9.]{1,64}")
_UID_BYTES = re.compile(rb"[\x21-\x7e]+")
"""Printable ASCII without space: what a received UID may hold (checked leniently)."""
_AE_BYTES = re.compile(rb"[\x20-\x5b\x5d-\x7e]+")
"""PS3.5 6.2 AE: default repertoire without control characters or backslash."""
_INVALID = AbortReason.INVALID_PDU_PARAMETER_VALUE
_UNEXPECTED = AbortReason.UNEXPECTED_PDU_PARAMETER
_SINGLE_TYPES = frozenset({0x51, 0x52, 0x53, 0x55, 0x58, 0x59})
_REPEATED_TYPES = frozenset({0x54, 0x56, 0x57})


def peer_error(message: str, reason: int = _INVALID) -> ProtocolError:
    """A ProtocolError from the service provider (PS3.8 9.3.8, source 2)."""
    return ProtocolError(message, reason=reason)


class Reader:
    """Bounds-checked big-endian cursor over one PDU body or item value (PS3.8 9.3.1)."""

    __slots__ = ("_data", "_pos", "where")

    def __init__(self, data: bytes, where: str) -> None:
        self._data = data
        self._pos = 0
        self.where = where

    @property
    def remaining(self) -> int:
        """Bytes not consumed yet."""
        return len(self._data) - self._pos

    def take(self, count: int, what: str) -> bytes:
        """Consume ``count`` bytes or raise ProtocolError naming ``what``."""
        if count > self.remaining:
            raise peer_error(
                f"{self.where}: {what} needs {count} bytes but only {self.remaining} remain"
            )
        start = self._pos
        self._pos += count
        return self._data[start : self._pos]

    def u8(self, what: str) -> int:
        """Consume one unsigned byte."""
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        """Consume a big-endian unsigned short."""
        value: int = _U16.unpack(self.take(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        """Consume a big-endian unsigned long."""
        value: int = _U32.unpack(self.take(4, what))[0]
        return value

    def rest(self) -> bytes:
        """Consume everything that is left."""
        return self.take(self.remaining, "rest")

    def items(self) -> Iterator[tuple[int, bytes]]:
        """Yield (item-type, value) of the variable items up to the end (PS3.8 9.3.2).

        One struct read per well-formed item header; error texts are built only on
        failure (a truncated header takes the field-by-field path for its message).
        """
        data = self._data
        end = len(data)
        while self._pos < end:
            start = self._pos + 4
            if start > end:
                item_type = self.u8("item type")
                self.u8("reserved byte of an item")
                self.u16(f"length of item 0x{item_type:02X}")
            item_type, _, length = ITEM_HEADER.unpack_from(data, self._pos)
            if length > end - start:
                self._pos = start
                self.take(length, f"value of item 0x{item_type:02X}")
            self._pos = start + length
            yield item_type, data[start : self._pos]


# --------------------------------------------------------------------------- fields


def decode_uid(raw: bytes, what: str) -> str:
    """Decode a UID item value (PS3.8 Annex F); tolerate trailing NUL/space padding."""
    text = raw.rstrip(b"\x00 ")
    if not text:
        raise peer_error(f"{what}: empty UID")
    if len(text) > UID_MAX_LENGTH:
        raise peer_error(f"{what}: UID longer than {UID_MAX_LENGTH} characters")
    if not _UID_BYTES.fullmatch(text):
        raise peer_error(f"{what}: UID contains non-printable or non-ASCII bytes {raw!r}")
    return text.decode("ascii")


def encode_uid(uid: str, what: str) -> bytes:
    """Encode a UID unpadded (PS3.8 Annex F, PS3.5 9.1): digits and dots, 1-64 chars."""
    if not _UID_RE.fullmatch(uid):
        raise LocalProtocolError(f"{what}: {uid!r} is not a valid UID (PS3.5 9.1)")
    return uid.encode("ascii")


def decode_ae_title(raw: bytes, what: str, *, strict: bool) -> str:
    """Decode a 16-byte AE title field (PS3.8 9.3.2): leading/trailing spaces dropped.

    ``strict`` (A-ASSOCIATE-RQ) refuses blank titles and characters outside the
    default repertoire (no control characters, no backslash, PS3.5 6.2 AE). The
    A-ASSOCIATE-AC copies are not tested (PS3.8 9.3.3).
    """
    text = raw.strip(b" \x00")
    if not strict:
        return text.decode("ascii", errors="replace")
    if not text:
        raise peer_error(f"{what}: AE title is blank (PS3.8 9.3.2)")
    if not _AE_BYTES.fullmatch(text):
        raise peer_error(f"{what}: AE title {raw!r} has characters not allowed in AE (PS3.5)")
    return text.decode("ascii")


def encode_ae_title(title: str, what: str) -> bytes:
    """Encode an AE title as 16 space-padded bytes (PS3.8 9.3.2, PS3.5 6.2 AE)."""
    text = title.strip(" ")
    if not text or len(text) > AE_TITLE_LENGTH:
        raise LocalProtocolError(f"{what}: AE title {title!r} must be 1-16 characters")
    if not all(" " <= char < "\x7f" and char != "\\" for char in text):
        raise LocalProtocolError(f"{what}: AE title {title!r} has characters not allowed in AE")
    return text.encode("ascii").ljust(AE_TITLE_LENGTH, b" ")


def item(item_type: int, value: bytes) -> bytes:
    """Encode one variable item or sub-item: type, reserved 0, 2-byte length (PS3.8 9.3.2)."""
    if len(value) > 0xFFFF:
        raise LocalProtocolError(
            f"item 0x{item_type:02X}: value of {len(value)} bytes exceeds the 65535 limit"
        )
    return ITEM_HEADER.pack(item_type, 0, len(value)) + value


def _short_field(value: bytes, what: str) -> bytes:
    """A 2-byte length followed by ``value`` (PS3.7 D.3.3.4-D.3.3.7)."""
    if len(value) > 0xFFFF:
        raise LocalProtocolError(f"{what}: {len(value)} bytes exceed the 65535 limit")
    return _U16.pack(len(value)) + value


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise LocalProtocolError(f"{what}: {value} is outside {low}..{high}")


# --------------------------------------------------------------------------- encode


def _encode_role(role: RoleSelection) -> bytes:
    uid = encode_uid(role.sop_class_uid, "SCP/SCU role selection SOP class UID")
    value = _short_field(uid, "role selection UID") + bytes((role.scu_role, role.scp_role))
    return item(ItemType.SCP_SCU_ROLE_SELECTION, value)


def _encode_extended(ext: SOPClassExtendedNegotiation) -> bytes:
    uid = encode_uid(ext.sop_class_uid, "SOP class extended negotiation SOP class UID")
    value = _short_field(uid, "extended negotiation UID") + ext.application_info
    return item(ItemType.SOP_CLASS_EXTENDED_NEGOTIATION, value)


def _encode_common_extended(ext: SOPClassCommonExtendedNegotiation) -> bytes:
    what = "SOP class common extended negotiation"
    related = b"".join(
        _short_field(encode_uid(uid, f"{what} related UID"), what)
        for uid in ext.related_general_sop_class_uids
    )
    value = (
        _short_field(encode_uid(ext.sop_class_uid, f"{what} SOP class UID"), what)
        + _short_field(encode_uid(ext.service_class_uid, f"{what} service class UID"), what)
        + _short_field(related, what)
    )
    # PS3.7 D.3.3.6: the byte after the item type is the sub-item version, 0.
    return item(ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION, value)


def _encode_identity_rq(rq: UserIdentityRQ) -> bytes:
    _check_range(rq.identity_type, 0, 255, "user identity type")
    value = (
        bytes((rq.identity_type, 1 if rq.positive_response_requested else 0))
        + _short_field(rq.primary_field, "user identity primary field")
        + _short_field(rq.secondary_field, "user identity secondary field")
    )
    return item(ItemType.USER_IDENTITY_RQ, value)


def _encode_scalars(info: UserInformation) -> list[bytes]:
    """Sub-items 0x51, 0x52, 0x53 in increasing type order (PS3.8 9.3.1)."""
    parts: list[bytes] = []
    if info.max_length is not None:
        _check_range(info.max_length, 0, 0xFFFFFFFF, "maximum length")
        parts.append(item(ItemType.MAXIMUM_LENGTH, _U32.pack(info.max_length)))
    if info.implementation_class_uid is not None:
        uid = encode_uid(info.implementation_class_uid, "implementation class UID")
        parts.append(item(ItemType.IMPLEMENTATION_CLASS_UID, uid))
    if info.async_ops_window is not None:
        invoked, performed = info.async_ops_window
        _check_range(invoked, 0, 0xFFFF, "asynchronous operations invoked")
        _check_range(performed, 0, 0xFFFF, "asynchronous operations performed")
        parts.append(
            item(ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW, _U16_PAIR.pack(invoked, performed))
        )
    return parts


def _encode_version_name(name: str) -> bytes:
    if not 1 <= len(name) <= VERSION_NAME_MAX_LENGTH or not all(
        " " <= char < "\x7f" for char in name
    ):
        raise LocalProtocolError(
            f"implementation version name {name!r} must be 1-16 printable ASCII characters"
        )
    return item(ItemType.IMPLEMENTATION_VERSION_NAME, name.encode("ascii"))


def encode_user_information(info: UserInformation) -> bytes:
    """Encode the user information item 0x50 with its sub-items (PS3.7 D.3.3, PS3.8 D.1).

    Sub-items are written in increasing type order; unknown ones are appended verbatim.
    """
    parts = _encode_scalars(info)
    parts.extend(_encode_role(role) for role in info.role_selections)
    if info.implementation_version_name is not None:
        parts.append(_encode_version_name(info.implementation_version_name))
    parts.extend(_encode_extended(ext) for ext in info.sop_class_extended)
    parts.extend(_encode_common_extended(ext) for ext in info.sop_class_common_extended)
    if info.user_identity_rq is not None:
        parts.append(_encode_identity_rq(info.user_identity_rq))
    if info.user_identity_ac is not None:
        response = _short_field(info.user_identity_ac.server_response, "server response")
        parts.append(item(ItemType.USER_IDENTITY_AC, response))
    for sub_type, value in info.unknown:
        _check_range(sub_type, 0, 255, "unknown user information sub-item type")
        if sub_type in _SINGLE_TYPES or sub_type in _REPEATED_TYPES:
            raise LocalProtocolError(f"unknown sub-item 0x{sub_type:02X} is a known type")
        parts.append(item(sub_type, value))
    return item(ItemType.USER_INFORMATION, b"".join(parts))


# --------------------------------------------------------------------------- decode


@dataclass(slots=True)
class _Builder:
    """Mutable collector for the sub-items of one user information item."""

    seen: set[int] = field(default_factory=set)
    max_length: int | None = None
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    async_ops_window: tuple[int, int] | None = None
    roles: list[RoleSelection] = field(default_factory=list)
    extended: list[SOPClassExtendedNegotiation] = field(default_factory=list)
    common: list[SOPClassCommonExtendedNegotiation] = field(default_factory=list)
    identity_rq: UserIdentityRQ | None = None
    identity_ac: UserIdentityAC | None = None
    unknown: list[tuple[int, bytes]] = field(default_factory=list)


def _exact(value: bytes, size: int, what: str) -> Reader:
    if len(value) != size:
        raise peer_error(f"{what} sub-item has length {len(value)}, expected {size}")
    return Reader(value, what)


def _max_length(builder: _Builder, value: bytes) -> None:
    """PS3.8 D.1: 4-byte maximum length received."""
    builder.max_length = _exact(value, 4, "maximum length").u32("maximum length")


def _class_uid(builder: _Builder, value: bytes) -> None:
    """PS3.7 D.3.3.2.1: implementation class UID."""
    builder.implementation_class_uid = decode_uid(value, "implementation class UID")


def _async_window(builder: _Builder, value: bytes) -> None:
    """PS3.7 D.3.3.3: maximum operations invoked / performed, 2 bytes each."""
    reader = _exact(value, 4, "asynchronous operations window")
    builder.async_ops_window = (reader.u16("max invoked"), reader.u16("max performed"))


def _version_name(builder: _Builder, value: bytes) -> None:
    """PS3.7 D.3.3.2.3: informative only, so decoded leniently."""
    name = value.rstrip(b"\x00 ").decode("ascii", errors="replace")
    builder.implementation_version_name = name


def _identity_rq(builder: _Builder, value: bytes) -> None:
    """PS3.7 D.3.3.7.1: type, positive-response-requested, primary and secondary fields."""
    reader = Reader(value, "user identity RQ sub-item")
    identity_type = reader.u8("user identity type")
    positive = reader.u8("positive response requested") != 0
    primary = reader.take(reader.u16("primary field length"), "primary field")
    secondary = reader.take(reader.u16("secondary field length"), "secondary field")
    _expect_end(reader)
    builder.identity_rq = UserIdentityRQ(identity_type, positive, primary, secondary)


def _identity_ac(builder: _Builder, value: bytes) -> None:
    """PS3.7 D.3.3.7.2: server response length and value."""
    reader = Reader(value, "user identity AC sub-item")
    response = reader.take(reader.u16("server response length"), "server response")
    _expect_end(reader)
    builder.identity_ac = UserIdentityAC(response)


_SINGLE_DECODERS: dict[int, Callable[[_Builder, bytes], None]] = {
    ItemType.MAXIMUM_LENGTH: _max_length,
    ItemType.IMPLEMENTATION_CLASS_UID: _class_uid,
    ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW: _async_window,
    ItemType.IMPLEMENTATION_VERSION_NAME: _version_name,
    ItemType.USER_IDENTITY_RQ: _identity_rq,
    ItemType.USER_IDENTITY_AC: _identity_ac,
}
"""Sub-items that may appear at most once in a user information item."""


def _expect_end(reader: Reader) -> None:
    if reader.remaining:
        raise peer_error(f"{reader.where}: {reader.remaining} unexpected trailing bytes")


def _uid_field(reader: Reader, what: str) -> str:
    return decode_uid(reader.take(reader.u16(f"{what} length"), what), f"{reader.where} {what}")


def _decode_role(value: bytes) -> RoleSelection:
    """PS3.7 D.3.3.4: UID length, SOP class UID, SCU role, SCP role."""
    reader = Reader(value, "SCP/SCU role selection sub-item")
    uid = _uid_field(reader, "SOP class UID")
    scu = reader.u8("SCU role")
    scp = reader.u8("SCP role")
    _expect_end(reader)
    return RoleSelection(uid, scu != 0, scp != 0)


def _decode_extended(value: bytes) -> SOPClassExtendedNegotiation:
    """PS3.7 D.3.3.5: UID length, SOP class UID, service class application information."""
    reader = Reader(value, "SOP class extended negotiation sub-item")
    uid = _uid_field(reader, "SOP class UID")
    return SOPClassExtendedNegotiation(uid, reader.rest())


def _decode_common(value: bytes) -> SOPClassCommonExtendedNegotiation:
    """PS3.7 D.3.3.6: SOP class UID, service class UID, related general SOP class UIDs."""
    reader = Reader(value, "SOP class common extended negotiation sub-item")
    sop_class = _uid_field(reader, "SOP class UID")
    service_class = _uid_field(reader, "service class UID")
    related_length = reader.u16("related general SOP class identification length")
    related = Reader(
        reader.take(related_length, "related general SOP class identification"), reader.where
    )
    _expect_end(reader)
    uids: list[str] = []
    while related.remaining:
        uids.append(_uid_field(related, "related general SOP class UID"))
    return SOPClassCommonExtendedNegotiation(sop_class, service_class, tuple(uids))


def _add_sub_item(builder: _Builder, sub_type: int, value: bytes) -> None:
    single = _SINGLE_DECODERS.get(sub_type)
    if single is not None:
        if sub_type in builder.seen:
            raise peer_error(
                f"user information: sub-item 0x{sub_type:02X} appears twice", _UNEXPECTED
            )
        builder.seen.add(sub_type)
        single(builder, value)
    elif sub_type == ItemType.SCP_SCU_ROLE_SELECTION:
        builder.roles.append(_decode_role(value))
    elif sub_type == ItemType.SOP_CLASS_EXTENDED_NEGOTIATION:
        builder.extended.append(_decode_extended(value))
    elif sub_type == ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION:
        builder.common.append(_decode_common(value))
    else:
        builder.unknown.append((sub_type, value))


def decode_user_information(value: bytes) -> UserInformation:
    """Decode the value of a user information item 0x50 (PS3.8 9.3.2.3, PS3.7 Annex D).

    The maximum length sub-item is optional here (the association layer decides);
    unknown sub-items are preserved as (type, value).
    """
    builder = _Builder()
    for sub_type, sub_value in Reader(value, "user information item").items():
        _add_sub_item(builder, sub_type, sub_value)
    return UserInformation(
        max_length=builder.max_length,
        implementation_class_uid=builder.implementation_class_uid,
        implementation_version_name=builder.implementation_version_name,
        async_ops_window=builder.async_ops_window,
        role_selections=tuple(builder.roles),
        sop_class_extended=tuple(builder.extended),
        sop_class_common_extended=tuple(builder.common),
        user_identity_rq=builder.identity_rq,
        user_identity_ac=builder.identity_ac,
        unknown=tuple(builder.unknown),
    )
