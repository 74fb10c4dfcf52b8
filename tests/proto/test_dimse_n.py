"""DIMSE-N command sets: N-CREATE and N-SET (PS3.7 10.3.5, 10.3.3, E.1-1), round trips and
exact fields, through the plain codec, the template memos and message assembly."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import ProtocolError
from aiodicom.proto import dimse
from aiodicom.proto.dimse import (
    MessageAssembler,
    decode_command,
    decode_command_and_flag,
    encode_command,
    encode_command_memo,
)
from aiodicom.proto.messages import (
    DimseCommand,
    NCreateRQ,
    NCreateRSP,
    NSetRQ,
    NSetRSP,
)
from aiodicom.proto.pdus import PDV
from tests.proto.test_dimse import (
    command_set,
    comments,
    element,
    elements_of,
    message_ids,
    statuses,
    tags,
    uids,
)

MPPS = "1.2.840.10008.3.1.2.3.3"


def _responses(kind: type[NCreateRSP] | type[NSetRSP]) -> st.SearchStrategy[DimseCommand]:
    return st.builds(
        kind,
        message_ids,
        statuses,
        st.none() | uids,
        st.none() | uids,
        st.booleans(),
        st.none() | comments,
        st.none() | st.integers(0, 0xFFFF),
        st.lists(tags, max_size=4).map(tuple),
    )


n_commands: st.SearchStrategy[DimseCommand] = st.one_of(
    st.builds(NCreateRQ, message_ids, uids, st.none() | uids, st.booleans()),
    st.builds(NSetRQ, message_ids, uids, uids),
    _responses(NCreateRSP),
    _responses(NSetRSP),
)


@settings(max_examples=300, deadline=None)
@given(n_commands)
def test_every_n_command_round_trips(command: DimseCommand) -> None:
    encoded = encode_command(command)
    assert decode_command(encoded) == command
    numbers = [number for _, number, _ in elements_of(encoded)]
    assert numbers == sorted(numbers)  # PS3.5 7.1: ascending tag order


@settings(max_examples=200, deadline=None)
@given(n_commands, message_ids)
def test_memos_equal_the_full_codec_for_n_commands(command: DimseCommand, other: int) -> None:
    """The template memos keep C-ECHO/C-FIND shapes only: an N message decoded twice (or
    after a sibling with another Message ID) is never rebuilt as another command type."""
    data = encode_command(command)
    expected = decode_command_and_flag(data)
    assert dimse.decode_command_memo(data) == expected
    assert dimse.decode_command_memo(data) == expected
    assert encode_command_memo(command, expected[1]) == data
    assert encode_command_memo(command, expected[1]) == data
    if isinstance(command, NCreateRQ | NSetRQ):
        sibling = dataclasses.replace(command, message_id=other)
        assert dimse.decode_command_memo(encode_command(sibling))[0] == sibling


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def _ui(uid: str) -> bytes:
    raw = uid.encode()
    return raw + b"\x00" if len(raw) % 2 else raw


def test_n_create_rq_fields_follow_table_10_3_5() -> None:
    encoded = encode_command(NCreateRQ(3, MPPS, "1.2.3"))
    assert encoded == command_set(
        element(0x0002, _ui(MPPS)),
        element(0x0100, _us(0x0140)),
        element(0x0110, _us(3)),
        element(0x0800, _us(0x0000)),
        element(0x1000, _ui("1.2.3")),
    )
    without_uid = encode_command(NCreateRQ(3, MPPS, None, has_data_set=False))
    assert [number for _, number, _ in elements_of(without_uid)] == [0, 2, 0x100, 0x110, 0x800]
    assert decode_command_and_flag(without_uid) == (NCreateRQ(3, MPPS, None, False), False)


def test_n_set_rq_uses_the_requested_uids_of_table_10_3_3() -> None:
    encoded = encode_command(NSetRQ(9, MPPS, "1.2.3.4"))
    assert encoded == command_set(
        element(0x0003, _ui(MPPS)),
        element(0x0100, _us(0x0120)),
        element(0x0110, _us(9)),
        element(0x0800, _us(0x0000)),
        element(0x1001, _ui("1.2.3.4")),
    )


def test_n_set_rq_without_modification_list_is_malformed() -> None:
    encoded = encode_command(NSetRQ(9, MPPS, "1.2.3.4"), has_data_set=False)
    with pytest.raises(ProtocolError, match="Modification List"):
        decode_command(encoded)


def test_failure_response_carries_error_comment_error_id_and_attribute_list() -> None:
    rsp = NSetRSP(
        5, 0x0110, MPPS, "1.2.3", error_comment="may no longer be updated", error_id=0xA710
    )
    found = {number: value for _, number, value in elements_of(encode_command(rsp))}
    assert found[0x0100] == _us(0x8120)
    assert found[0x0900] == _us(0x0110)
    assert found[0x0903] == _us(0xA710)
    assert found[0x0902].rstrip(b" ") == b"may no longer be updated"
    missing = NCreateRSP(5, 0x0120, attribute_identifiers=(0x00400252, 0x00100010))
    found = {number: value for _, number, value in elements_of(encode_command(missing))}
    assert found[0x1005] == struct.pack("<HHHH", 0x0040, 0x0252, 0x0010, 0x0010)
    assert 0x0002 not in found and 0x1000 not in found  # optional (U) fields left out


def test_attribute_identifier_list_of_odd_length_is_malformed() -> None:
    encoded = command_set(
        element(0x0100, _us(0x8140)),
        element(0x0120, _us(1)),
        element(0x0800, _us(0x0101)),
        element(0x0900, _us(0x0120)),
        element(0x1005, b"\x40\x00"),
    )
    with pytest.raises(ProtocolError, match="Attribute Identifier List"):
        decode_command(encoded)


def test_assembler_yields_n_create_with_its_attribute_list() -> None:
    assembler = MessageAssembler()
    command = encode_command(NCreateRQ(1, MPPS, "1.2.3"))
    assert assembler.add(PDV(1, True, True, command)) is None
    assert assembler.add(PDV(1, False, True, b"\x10\x00\x10\x00\x00\x00\x00\x00")) == (
        1,
        NCreateRQ(1, MPPS, "1.2.3"),
        b"\x10\x00\x10\x00\x00\x00\x00\x00",
    )
