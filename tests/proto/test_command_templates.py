"""DIMSE command-set templates with holes equal the full codec (aiodicom.proto.memo).

:class:`CommandDecodeMemo` and :class:`CommandEncodeMemo` cut Message ID (Being Responded
To) and Status out of a learnt command set (PS3.7 9.3). A template hit must return exactly
what ``decode_command_and_flag`` / ``encode_command`` return, and any byte string the full
decoder refuses must still be refused after a template was learnt.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import LocalProtocolError, ProtocolError
from aiodicom.proto.command_set import decode_command_and_flag, encode_command
from aiodicom.proto.dimse import PendingFindTemplate
from aiodicom.proto.memo import CommandDecodeMemo, CommandEncodeMemo
from aiodicom.proto.messages import (
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CStoreRQ,
    CStoreRSP,
    DimseCommand,
)
from tests.proto.test_dimse import commands, message_ids, statuses, uids

WORKLIST = "1.2.840.10008.5.1.4.31"


def _rekeyed(command: DimseCommand, message_id: int, status: int) -> DimseCommand:
    """``command`` with other hole values (Message ID / ... Responded To, Status)."""
    if isinstance(command, CFindRSP | CEchoRSP | CStoreRSP):
        return dataclasses.replace(command, message_id_being_responded_to=message_id, status=status)
    if isinstance(command, CCancelRQ):
        return CCancelRQ(message_id)
    assert isinstance(command, CEchoRQ | CFindRQ | CStoreRQ)  # the other requests
    return dataclasses.replace(command, message_id=message_id)


def _full(data: bytes) -> tuple[DimseCommand, bool] | type[ProtocolError]:
    try:
        return decode_command_and_flag(data)
    except ProtocolError:
        return ProtocolError


def _memo(memo: CommandDecodeMemo, data: bytes) -> tuple[DimseCommand, bool] | type[ProtocolError]:
    try:
        return memo.decode(data)
    except ProtocolError:
        return ProtocolError


class _CountingDecoder:
    """The full decoder, counting the calls a memo makes of it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes) -> tuple[DimseCommand, bool]:
        self.calls += 1
        return decode_command_and_flag(data)


# -- decoding ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(commands, st.booleans(), st.lists(st.tuples(message_ids, statuses), max_size=4))
def test_decode_template_hits_equal_the_full_decoder(
    command: DimseCommand, flag: bool, variants: list[tuple[int, int]]
) -> None:
    memo = CommandDecodeMemo()
    for message_id, status in [(0, 0), *variants]:
        data = encode_command(_rekeyed(command, message_id, status), has_data_set=flag)
        assert _memo(memo, data) == _full(data)
        assert _memo(memo, data) == _full(data)


@settings(max_examples=100, deadline=None)
@given(commands, st.booleans(), message_ids, statuses)
def test_a_learnt_template_is_hit_for_new_hole_values(
    command: DimseCommand, flag: bool, message_id: int, status: int
) -> None:
    counter = _CountingDecoder()
    memo = CommandDecodeMemo(full=counter)
    first = encode_command(command, has_data_set=flag)
    if _memo(memo, first) is ProtocolError:  # C-FIND-RQ without identifier
        return
    if isinstance(command, CStoreRQ | CStoreRSP):  # never templated (its own test)
        return
    later = encode_command(_rekeyed(command, message_id, status), has_data_set=flag)
    assert memo.decode(later) == decode_command_and_flag(later)
    assert counter.calls == 1


@settings(max_examples=50, deadline=None)
@given(commands.filter(lambda c: isinstance(c, CStoreRQ | CStoreRSP)), st.booleans())
def test_c_store_commands_are_never_templated(command: DimseCommand, flag: bool) -> None:
    """Each C-STORE names a new SOP Instance UID: a template would only evict C-FIND's."""
    memo = CommandDecodeMemo()
    encoder = CommandEncodeMemo()
    data = encode_command(command, has_data_set=flag)
    if _memo(memo, data) is ProtocolError:  # C-STORE-RQ without its data set
        return
    assert encoder.encode(command, flag) == data
    assert len(memo) == 0 and len(encoder) == 0


_mutations = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 200), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 200), st.just(0)),
    st.tuples(st.just("add"), st.integers(0, 200), st.integers(0, 255)),
)


def _mutate(data: bytes, mutation: tuple[str, int, int]) -> bytes:
    kind, where, value = mutation
    where %= len(data) + 1
    if kind == "set" and where < len(data):
        return data[:where] + bytes([value]) + data[where + 1 :]
    if kind == "cut":
        return data[:where]
    return data[:where] + bytes([value]) + data[where:]


@settings(max_examples=400, deadline=None)
@given(commands, st.booleans(), st.lists(_mutations, min_size=1, max_size=3))
def test_mutated_command_sets_decode_as_the_full_decoder_says(
    command: DimseCommand, flag: bool, mutations: list[tuple[str, int, int]]
) -> None:
    memo = CommandDecodeMemo()
    data = encode_command(command, has_data_set=flag)
    if _full(data) is not ProtocolError:
        memo.decode(data)  # learn the template first
    for mutation in mutations:
        data = _mutate(data, mutation)
        assert _memo(memo, data) == _full(data)


def test_a_changed_data_set_type_or_uid_is_not_taken_from_the_template() -> None:
    memo = CommandDecodeMemo()
    pending = encode_command(CFindRSP(1, WORKLIST, 0xFF00, True), has_data_set=True)
    final = encode_command(CFindRSP(2, WORKLIST, 0x0000), has_data_set=False)
    other = encode_command(CFindRSP(3, WORKLIST[:-1] + "2", 0xFF00, True), has_data_set=True)
    for data in (pending, final, other, final, pending):
        assert memo.decode(data) == decode_command_and_flag(data)
    assert len(memo) == 3


def test_decode_memo_is_bounded() -> None:
    memo = CommandDecodeMemo(size=4)
    for index in range(10):
        uid = f"1.2.{index}"
        data = encode_command(CEchoRQ(index, uid))
        assert memo.decode(data) == (CEchoRQ(index, uid), False)
        assert len(memo) <= 4
    with pytest.raises(ValueError):
        CommandDecodeMemo(size=0)


# -- encoding ---------------------------------------------------------------------------


def _encoded(memo: CommandEncodeMemo, command: DimseCommand, flag: bool) -> bytes | type:
    try:
        return memo.encode(command, flag)
    except LocalProtocolError:
        return LocalProtocolError


def _encoded_fully(command: DimseCommand, flag: bool) -> bytes | type:
    try:
        return encode_command(command, has_data_set=flag)
    except LocalProtocolError:
        return LocalProtocolError


_any_us = st.integers(-2, 0x10001)


@settings(max_examples=300, deadline=None)
@given(commands, st.booleans(), st.lists(st.tuples(_any_us, _any_us), max_size=4))
def test_encode_template_equals_encode_command(
    command: DimseCommand, flag: bool, variants: list[tuple[int, int]]
) -> None:
    memo = CommandEncodeMemo()
    for message_id, status in [(1, 0), *variants]:
        rekeyed = _rekeyed(command, message_id, status)
        assert _encoded(memo, rekeyed, flag) == _encoded_fully(rekeyed, flag)
        assert _encoded(memo, rekeyed, flag) == _encoded_fully(rekeyed, flag)


def test_encode_template_refuses_out_of_range_values_after_a_hit() -> None:
    memo = CommandEncodeMemo()
    assert memo.encode(CFindRSP(1, WORKLIST, 0xFF00, True), True) == encode_command(
        CFindRSP(1, WORKLIST, 0xFF00, True)
    )
    for bad in (CFindRSP(70000, WORKLIST, 0xFF00, True), CFindRSP(1, WORKLIST, -1, True)):
        with pytest.raises(LocalProtocolError):
            memo.encode(bad, True)
    with pytest.raises(LocalProtocolError):
        memo.encode(CFindRQ(0x10000, WORKLIST), True)
    assert len(memo) == 1


def test_encode_memo_is_bounded_and_skips_unhashable_shapes() -> None:
    memo = CommandEncodeMemo(size=3)
    for index in range(6):
        command = CFindRQ(index, f"1.2.{index}")
        assert memo.encode(command, True) == encode_command(command)
        assert len(memo) <= 3
    odd = CFindRSP(1, WORKLIST, 0xC000, offending_elements=[0x00100010])  # type: ignore[arg-type]
    assert memo.encode(odd, False) == encode_command(odd, has_data_set=False)


# ------------------------------------------------------------- pending C-FIND-RSP template


@settings(max_examples=50, deadline=None)
@given(message_ids, uids)
def test_pending_template_matches_full_encoding(message_id: int, uid: str) -> None:
    template = PendingFindTemplate(message_id, uid)
    for status in (0xFF00, 0xFF01):
        expected = encode_command(CFindRSP(message_id, uid, status, has_data_set=True))
        assert template.encode(status) == expected
        command, has_data_set = decode_command_and_flag(template.encode(status))
        assert has_data_set
        assert isinstance(command, CFindRSP)
        assert command.status == status
    assert template.encode() == template.encode(0xFF00)


def test_pending_template_refuses_final_statuses() -> None:
    with pytest.raises(LocalProtocolError, match="0x0000 is not a pending"):
        PendingFindTemplate(1, WORKLIST).encode(0x0000)
