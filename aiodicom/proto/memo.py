"""Small bounded memos for the pure, repeated work of association set-up and DIMSE.

A peer typically sends the same A-ASSOCIATE-RQ byte for byte on every association (same AE
titles, presentation contexts and user information, PS3.8 9.3.2) and starts every
association with Message ID 1, so the server decodes the same RQ, answers it with the
same A-ASSOCIATE-AC (PS3.8 9.3.3) and encodes the same command sets (PS3.7 E.1) again and
again. Those functions are pure and their results immutable (frozen dataclasses, bytes),
so they are memoized by value: a hit returns what the general path would compute.

Each memo holds at most ``size`` entries and drops the oldest first, so a peer sending
ever-different PDUs only costs a miss each. Callers never keep PDUs carrying a user
identity (PS3.7 D.3.3.7): those may hold a passcode. DIMSE command sets are memoized as
templates with holes for the values that change per message (:class:`CommandDecodeMemo`,
:class:`CommandEncodeMemo`).
"""

from __future__ import annotations

import struct
from collections.abc import Hashable

from aiodicom.bounded import BoundedMemo
from aiodicom.proto.command_set import (
    MESSAGE_ID,
    MESSAGE_ID_BEING_RESPONDED_TO,
    STATUS,
    decode_command_and_flag,
    encode_command,
)
from aiodicom.proto.messages import (
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CStoreRSP,
    DimseCommand,
)
from aiodicom.proto.pdus import UserInformation

MAX_KEY_BYTES = 8192
"""PDU bodies longer than this are never memoized (bounds the memory a memo holds)."""


def without_identity(info: UserInformation) -> bool:
    """True when the user information has no user identity sub-item (PS3.7 D.3.3.7)."""
    return info.user_identity_rq is None and info.user_identity_ac is None


def always(_value: object) -> bool:
    """A ``keep`` predicate for :meth:`BoundedMemo.remember` that keeps every value."""
    return True


# --------------------------------------------------------------------------- DIMSE command sets
#
# Consecutive command sets of one association differ only in Message ID (0000,0110),
# Message ID Being Responded To (0000,0120) and Status (0000,0900) (PS3.7 9.3.2, 9.3.5):
# every query has a new Message ID, so a memo keyed by the exact bytes or value misses.
# The templates below are keyed by everything else; those US values (PS3.5 6.2) are
# "holes" whose 2 bytes are read or written at offsets learnt from one full decode or
# encode of an Implicit VR LE command set (PS3.7 6.3.1). A hole value never changes the
# structure nor any other decoded field, so a template hit returns exactly what the full
# codec would, and bytes that differ anywhere else miss and take the full path.

_ELEMENT_HEADER = struct.Struct("<HHI")  # group, element, value length (PS3.5 7.1.2)
_US = struct.Struct("<H")
_Rebuilt = tuple[DimseCommand, bool]
_Pieces = tuple[bytes, bytes | None, bytes]
"""An encoded command set cut at its holes: head, middle (None: one hole), tail."""
_NO_HOLE = -1
_TEMPLATED = frozenset({CEchoRQ, CEchoRSP, CFindRQ, CFindRSP, CCancelRQ})
"""Commands the memos template; every other command takes the full codec."""


def _hole_elements(command: DimseCommand) -> tuple[int, ...]:
    """The US elements of ``command`` that vary between requests / responses (PS3.7 9.3)."""
    if isinstance(command, CFindRSP | CEchoRSP):
        return (MESSAGE_ID_BEING_RESPONDED_TO, STATUS)
    if isinstance(command, CCancelRQ):
        return (MESSAGE_ID_BEING_RESPONDED_TO,)
    return (MESSAGE_ID,)


def _holes(command: DimseCommand) -> tuple[int, int]:
    """The (first, second) hole values of ``command``; second is 0 when there is one hole."""
    if isinstance(command, CFindRSP | CEchoRSP | CStoreRSP):
        return command.message_id_being_responded_to, command.status
    if isinstance(command, CCancelRQ):
        return command.message_id_being_responded_to, 0
    return command.message_id, 0


def _with_holes(proto: DimseCommand, first: int, second: int) -> DimseCommand:
    """``proto`` with its hole fields set to ``first`` (and ``second``), as the decoder builds."""
    if isinstance(proto, CFindRSP):
        return CFindRSP(
            first,
            proto.affected_sop_class_uid,
            second,
            proto.has_data_set,
            proto.error_comment,
            proto.offending_elements,
        )
    if isinstance(proto, CFindRQ):
        return CFindRQ(first, proto.affected_sop_class_uid, proto.priority)
    if isinstance(proto, CEchoRQ):
        return CEchoRQ(first, proto.affected_sop_class_uid)
    if isinstance(proto, CEchoRSP):
        return CEchoRSP(first, second, proto.affected_sop_class_uid)
    return CCancelRQ(first)


def _shape(command: DimseCommand, has_data_set: bool) -> Hashable:
    """Everything the encoding of ``command`` depends on except its hole values."""
    if isinstance(command, CFindRSP):
        if command.error_comment is None and not command.offending_elements:
            return _plain_find_rsp_shape(
                command.affected_sop_class_uid, command.has_data_set, has_data_set
            )
        return (
            CFindRSP,
            command.affected_sop_class_uid,
            command.has_data_set,
            command.error_comment,
            command.offending_elements,
            has_data_set,
        )
    if isinstance(command, CFindRQ):
        return (CFindRQ, command.affected_sop_class_uid, command.priority, has_data_set)
    if isinstance(command, CCancelRQ):
        return (CCancelRQ, has_data_set)
    if isinstance(command, CEchoRQ | CEchoRSP):
        return (type(command), command.affected_sop_class_uid, has_data_set)
    return None  # C-STORE: a new SOP Instance UID each time, no template (full codec)


def _plain_find_rsp_shape(sop_class_uid: str, flag: bool, has_data_set: bool) -> Hashable:
    """The :func:`_shape` of a C-FIND-RSP without Error Comment and Offending Element."""
    return (CFindRSP, sop_class_uid, flag, has_data_set)


def _hole_offsets(data: bytes, elements: tuple[int, ...]) -> tuple[int, int] | None:
    """Offsets of the 2-byte values of ``elements`` in a valid command set (second -1 if
    there is one element), or None when one is absent or not 2 bytes long."""
    found: dict[int, int] = {}
    position, size = 12, len(data)  # after Command Group Length (PS3.7 E.1-1)
    while position + 8 <= size:
        _group, element, length = _ELEMENT_HEADER.unpack_from(data, position)
        if element in elements and length == 2:
            found[element] = position + 8
        position += 8 + length
    offsets = [found.get(element) for element in elements]
    if None in offsets:
        return None
    first = offsets[0]
    assert first is not None
    second = offsets[1] if len(offsets) > 1 else _NO_HOLE
    return first, _NO_HOLE if second is None else second


def _masked(data: bytes, first: int, second: int) -> bytes:
    """``data`` without the 2-byte hole values at ``first`` and ``second`` (if not -1)."""
    if second == _NO_HOLE:
        return data[:first] + data[first + 2 :]
    return data[:first] + data[first + 2 : second] + data[second + 2 :]


class CommandDecodeMemo:
    """``decode_command_and_flag`` through bounded templates with holes (see above).

    Templates are grouped by command set length, then by hole offsets (a layout); the
    bytes with the holes cut out select the template. At most ``size`` templates are
    kept; when full, all are dropped (a peer sending ever-different commands only costs
    a miss each). Malformed input always reaches the full decoder, which raises.
    """

    __slots__ = ("_count", "_layouts", "size")

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError(f"memo size {size} must be >= 1")
        self.size = size
        self._count = 0
        self._layouts: dict[int, dict[tuple[int, int], dict[bytes, _Rebuilt]]] = {}

    def __len__(self) -> int:
        return self._count

    def decode(self, data: bytes) -> _Rebuilt:
        """What ``decode_command_and_flag(data)`` returns (or raises)."""
        layouts = self._layouts.get(len(data))
        if layouts is not None:
            for (first, second), templates in layouts.items():
                template = templates.get(_masked(data, first, second))
                if template is not None:
                    return self._rebuild(data, template, first, second)
        decoded = decode_command_and_flag(data)
        if len(data) <= MAX_KEY_BYTES:
            self._learn(data, decoded)
        return decoded

    @staticmethod
    def _rebuild(data: bytes, template: _Rebuilt, first: int, second: int) -> _Rebuilt:
        proto, has_data_set = template
        value = _US.unpack_from(data, first)[0]
        other = 0 if second == _NO_HOLE else _US.unpack_from(data, second)[0]
        return _with_holes(proto, value, other), has_data_set

    def _learn(self, data: bytes, decoded: _Rebuilt) -> None:
        if type(decoded[0]) not in _TEMPLATED:
            return  # C-STORE-RQ: a new SOP Instance UID each time, a template never hits
        offsets = _hole_offsets(data, _hole_elements(decoded[0]))
        if offsets is None:  # pragma: no cover - the full decoder required every hole
            return
        if self._count >= self.size:
            self.clear()
        templates = self._layouts.setdefault(len(data), {}).setdefault(offsets, {})
        templates[_masked(data, *offsets)] = decoded
        self._count += 1

    def clear(self) -> None:
        self._layouts.clear()
        self._count = 0


class CommandEncodeMemo:
    """``encode_command`` through bounded templates with holes (see above).

    A template is the encoded command set cut at its holes, keyed by :func:`_shape`;
    encoding joins the pieces around the packed hole values. Values outside 0..65535
    take the full encoder, which raises LocalProtocolError. FIFO-bounded to ``size``.
    """

    __slots__ = ("_templates",)

    def __init__(self, size: int = 64) -> None:
        self._templates: BoundedMemo[Hashable, _Pieces] = BoundedMemo(size)

    def __len__(self) -> int:
        return len(self._templates)

    def encode(self, command: DimseCommand, has_data_set: bool) -> bytes:
        """What ``encode_command(command, has_data_set=has_data_set)`` returns (or raises)."""
        first, second = _holes(command)
        shape: Hashable = None
        try:
            if 0 <= first <= 0xFFFF and 0 <= second <= 0xFFFF:
                shape = _shape(command, has_data_set)
        except TypeError:  # not a number: the full encoder reports it
            pass
        if shape is not None:
            pieces = self._templates.get(shape)
            if pieces is not None:
                head, middle, tail = pieces
                if middle is None:
                    return head + _US.pack(first) + tail
                return head + _US.pack(first) + middle + _US.pack(second) + tail
        encoded = encode_command(command, has_data_set=has_data_set)
        if shape is not None and len(encoded) <= MAX_KEY_BYTES:
            self._learn(shape, encoded, _hole_elements(command))
        return encoded

    def find_rsp(
        self, message_id: int, sop_class_uid: str, status: int, has_data_set: bool
    ) -> bytes:
        """``encode(CFindRSP(message_id, sop_class_uid, status, has_data_set), has_data_set)``
        without building the command: the C-FIND-RSP with no Error Comment nor Offending
        Element, i.e. every pending and most final responses (PS3.7 9.3.2.2)."""
        exact = type(message_id) is int and type(status) is int  # an IntEnum: general path
        if exact and 0 <= message_id <= 0xFFFF and 0 <= status <= 0xFFFF:
            shape = _plain_find_rsp_shape(sop_class_uid, has_data_set, has_data_set)
            pieces = self._templates.get(shape)
            if pieces is not None:
                head, middle, tail = pieces
                if middle is not None:  # always: a C-FIND-RSP has two holes
                    return head + _US.pack(message_id) + middle + _US.pack(status) + tail
        rsp = CFindRSP(message_id, sop_class_uid, status, has_data_set)
        return self.encode(rsp, has_data_set)

    def _learn(self, shape: Hashable, encoded: bytes, elements: tuple[int, ...]) -> None:
        offsets = _hole_offsets(encoded, elements)
        if offsets is None:  # pragma: no cover - encode_command writes every hole
            return
        first, second = offsets
        if second == _NO_HOLE:
            self._templates.put(shape, (encoded[:first], None, encoded[first + 2 :]))
        else:
            middle = encoded[first + 2 : second]
            self._templates.put(shape, (encoded[:first], middle, encoded[second + 2 :]))

    def clear(self) -> None:
        self._templates.clear()
