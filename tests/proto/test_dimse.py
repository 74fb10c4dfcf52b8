"""Tests of the DIMSE command codec (PS3.7 6.3.1, E.1) and the message control header
assembly / fragmentation (PS3.8 Annex E.2, D.1)."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
from aiodicom.proto.dimse import (
    MessageAssembler,
    decode_command,
    decode_command_and_flag,
    encode_command,
    fragment,
)
from aiodicom.proto.events import DataSetFragment
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
from aiodicom.proto.pdus import PDV

WORKLIST = "1.2.840.10008.5.1.4.31"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"

message_ids = st.integers(0, 0xFFFF)
uids = st.from_regex(r"[1-9][0-9]{0,6}(\.(0|[1-9][0-9]{0,6})){0,10}", fullmatch=True).filter(
    lambda uid: len(uid) <= 64
)
statuses = st.integers(0, 0xFFFF)
comments = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\"),
    max_size=64,
).filter(lambda text: text == text.strip(" "))
tags = st.integers(0, 0xFFFFFFFF)
ae_titles = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\"),
    min_size=1,
    max_size=16,
)

commands: st.SearchStrategy[DimseCommand] = st.one_of(
    st.builds(CEchoRQ, message_ids, uids),
    st.builds(CEchoRSP, message_ids, statuses, uids),
    st.builds(CFindRQ, message_ids, uids, st.integers(0, 2)),
    st.builds(
        CFindRSP,
        message_ids,
        uids,
        statuses,
        st.booleans(),
        st.none() | comments,
        st.lists(tags, max_size=4).map(tuple),
    ),
    st.builds(CCancelRQ, message_ids),
    st.builds(
        CStoreRQ,
        message_ids,
        uids,
        uids,
        st.integers(0, 2),
        st.none() | ae_titles,
        st.none() | message_ids,
    ),
    st.builds(
        CStoreRSP,
        message_ids,
        uids,
        uids,
        statuses,
        st.none() | comments,
        st.lists(tags, max_size=4).map(tuple),
    ),
)


def elements_of(data: bytes) -> list[tuple[int, int, bytes]]:
    """Independent Implicit VR LE walk: (group, element, value) triples."""
    found = []
    position = 0
    while position < len(data):
        group, element, length = struct.unpack_from("<HHI", data, position)
        found.append((group, element, data[position + 8 : position + 8 + length]))
        position += 8 + length
    assert position == len(data)
    return found


def element(tag_element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, tag_element, len(value)) + value


def command_set(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return element(0x0000, struct.pack("<I", len(body))) + body


def find_rq_elements(dst: int = 0x0000, uid: bytes = WORKLIST.encode() + b"\x00") -> list[bytes]:
    return [
        element(0x0002, uid),
        element(0x0100, struct.pack("<H", 0x0020)),
        element(0x0110, struct.pack("<H", 9)),
        element(0x0700, struct.pack("<H", 0)),
        element(0x0800, struct.pack("<H", dst)),
    ]


# ----------------------------------------------------------------------------- encoding


@settings(max_examples=300, deadline=None)
@given(commands)
def test_every_command_round_trips(command: DimseCommand) -> None:
    encoded = encode_command(command)
    assert decode_command(encoded) == command


@settings(max_examples=100, deadline=None)
@given(commands)
def test_encoding_layout_follows_ps37_631(command: DimseCommand) -> None:
    found = elements_of(encode_command(command))
    group_length_tag = found[0]
    assert group_length_tag[:2] == (0, 0)
    following = sum(8 + len(value) for _, _, value in found[1:])
    assert struct.unpack("<I", group_length_tag[2])[0] == following
    numbers = [el for _, el, _ in found]
    assert numbers == sorted(numbers)
    assert all(group == 0 and len(value) % 2 == 0 for group, _, value in found)


def test_uid_is_padded_with_nul_to_even_length() -> None:
    odd_uid = "1.2.3"
    found = dict((el, value) for _, el, value in elements_of(encode_command(CEchoRQ(1, odd_uid))))
    assert found[0x0002] == b"1.2.3\x00"
    even_uid = "1.2.34"
    found = dict((el, value) for _, el, value in elements_of(encode_command(CEchoRQ(1, even_uid))))
    assert found[0x0002] == b"1.2.34"


def test_data_set_type_follows_the_command_and_override() -> None:
    def dst(data: bytes) -> int:
        values = {el: value for _, el, value in elements_of(data)}
        return int(struct.unpack("<H", values[0x0800])[0])

    assert dst(encode_command(CFindRQ(1, WORKLIST))) == 0x0000
    assert dst(encode_command(CEchoRQ(1))) == 0x0101
    assert dst(encode_command(CFindRSP(1, WORKLIST, 0xFF00, has_data_set=True))) == 0x0000
    assert dst(encode_command(CFindRSP(1, WORKLIST, 0x0000))) == 0x0101
    assert dst(encode_command(CEchoRQ(1), has_data_set=True)) == 0x0000


def test_error_comment_is_sanitized_and_truncated() -> None:
    rsp = CFindRSP(3, WORKLIST, 0xC001, error_comment="bad\\key é " + "x" * 80)
    decoded = decode_command(encode_command(rsp))
    assert isinstance(decoded, CFindRSP)
    assert decoded.error_comment is not None
    assert decoded.error_comment.startswith("bad?key ? x")
    assert len(decoded.error_comment) == 64


def test_offending_elements_are_at_pairs() -> None:
    rsp = CFindRSP(3, WORKLIST, 0xA900, offending_elements=(0x00100010, 0x00400100))
    values = {el: value for _, el, value in elements_of(encode_command(rsp))}
    assert values[0x0901] == struct.pack("<HHHH", 0x0010, 0x0010, 0x0040, 0x0100)


@pytest.mark.parametrize(
    "command",
    [
        CEchoRQ(0x10000),
        CFindRQ(1, "1.2.é"),
        CFindRQ(1, "1." * 40),
        CFindRSP(1, WORKLIST, -1),
        CFindRSP(1, WORKLIST, 0xA900, offending_elements=(1 << 32,)),
    ],
)
def test_unencodable_values_raise_local_protocol_error(command: DimseCommand) -> None:
    with pytest.raises(LocalProtocolError):
        encode_command(command)


# ----------------------------------------------------------------------------- decoding


def test_decode_tolerates_space_padding_unknown_elements_and_odd_data_set_types() -> None:
    rq_elements = find_rq_elements(dst=0x0001, uid=WORKLIST.encode() + b" ")
    rq_elements.insert(3, element(0x0600, b"MOVEDEST        "))  # unknown here: skipped
    command, has_data_set = decode_command_and_flag(command_set(*rq_elements))
    assert command == CFindRQ(9, WORKLIST, 0)
    assert has_data_set
    for dst in (0x0000, 0x0102, 0xFEFE):
        _, has_data_set = decode_command_and_flag(command_set(*find_rq_elements(dst=dst)))
        assert has_data_set


def test_find_rsp_without_sop_class_is_accepted() -> None:
    data = command_set(
        element(0x0100, struct.pack("<H", 0x8020)),
        element(0x0120, struct.pack("<H", 5)),
        element(0x0800, struct.pack("<H", 0x0101)),
        element(0x0900, struct.pack("<H", 0x0000)),
    )
    assert decode_command(data) == CFindRSP(5, "", 0x0000)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "shorter than the Command Group Length"),
        (b"\x00" * 11, "shorter than the Command Group Length"),
        (element(0x0002, b"1.2.") + b"\x00" * 4, "expected Command Group Length"),
        (command_set(*find_rq_elements())[:-1], "Command Group Length is"),
        (element(0, struct.pack("<I", 3)) + b"\x00\x00\x00", "truncated element header"),
        (
            element(0, struct.pack("<I", 8)) + struct.pack("<HHI", 0, 0x0100, 99),
            "overruns",
        ),
        (command_set(*find_rq_elements()[1:]), "C-FIND-RQ lacks required Affected SOP"),
        (command_set(*find_rq_elements()[::-1]), "out of ascending tag order"),
        (
            command_set(*find_rq_elements()[:2], find_rq_elements()[1]),
            "out of ascending tag order",
        ),
        (command_set(*find_rq_elements(), b"\x08\x00\x05\x00\x00\x00\x00\x00"), "group 0000"),
        (command_set(*find_rq_elements(dst=0x0101)), "needs an identifier"),
        (command_set(element(0x0100, struct.pack("<H", 0x0010))), "Command Field 0x0010"),
        (command_set(element(0x0002, b"1.2.")), "lacks required Command Field"),
        (command_set(element(0x0100, b"\x20\x00\x00\x00")), "has length 4, not 2"),
        (
            command_set(element(0x0002, b"\xff\xfe\xfd\xfc"), *find_rq_elements()[1:]),
            "is not ASCII",
        ),
        (
            command_set(
                element(0x0100, struct.pack("<H", 0x8020)),
                element(0x0120, struct.pack("<H", 5)),
                element(0x0800, struct.pack("<H", 0x0101)),
                element(0x0900, struct.pack("<H", 0xA900)),
                element(0x0901, b"\x10\x00"),
            ),
            "not a multiple of 4",
        ),
        (
            command_set(
                element(0x0100, struct.pack("<H", 0x0FFF)),
                element(0x0800, struct.pack("<H", 0x0101)),
            ),
            "C-CANCEL-RQ lacks required Message ID",
        ),
    ],
)
def test_malformed_command_sets_raise_precise_protocol_errors(data: bytes, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected) as info:
        decode_command(data)
    assert info.value.source == 2
    assert info.value.reason == AbortReason.INVALID_PDU_PARAMETER_VALUE


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzzed_bytes_only_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_command(data)


@settings(max_examples=500, deadline=None)
@given(commands, st.data())
def test_mutated_valid_command_sets_only_raise_protocol_error(
    command: DimseCommand, data: st.DataObject
) -> None:
    encoded = bytearray(encode_command(command))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    with contextlib.suppress(ProtocolError):
        decode_command(bytes(encoded[:cut]))


# ----------------------------------------------------------------------------- oracle


def pynetdicom_command_bytes(message: object) -> bytes:
    """The command PDV fragments that pynetdicom encodes for ``message``."""
    fragments = b""
    for p_data in message.encode_msg(1, 0):  # type: ignore[attr-defined]
        for _, value in p_data.presentation_data_value_list:
            if value[0] & 1:
                fragments += value[1:]
    return fragments


def test_find_rq_bytes_equal_pynetdicom() -> None:
    from io import BytesIO

    from pynetdicom.dimse_messages import C_FIND_RQ
    from pynetdicom.dimse_primitives import C_FIND

    for message_id, uid, priority in [(7, WORKLIST, 2), (65535, STUDY_ROOT_FIND, 0)]:
        primitive = C_FIND()
        primitive.MessageID = message_id
        primitive.AffectedSOPClassUID = uid
        primitive.Priority = priority
        primitive.Identifier = BytesIO(b"\x10\x00\x10\x00\x00\x00\x00\x00")
        message = C_FIND_RQ()
        message.primitive_to_message(primitive)
        theirs = pynetdicom_command_bytes(message)
        # pynetdicom marks "data set present" with 0x0001; we send 0x0000 (PS3.7 E.1-1:
        # any value other than 0x0101). Both must decode the same; bytes match otherwise.
        assert decode_command(theirs) == CFindRQ(message_id, uid, priority)
        message.command_set.CommandDataSetType = 0x0000
        theirs = pynetdicom_command_bytes(message)
        assert encode_command(CFindRQ(message_id, uid, priority)) == theirs


def test_find_rsp_and_echo_bytes_equal_pynetdicom() -> None:
    from pynetdicom.dimse_messages import C_ECHO_RQ, C_FIND_RSP
    from pynetdicom.dimse_primitives import C_ECHO, C_FIND

    primitive: Any = C_FIND()
    primitive.MessageIDBeingRespondedTo = 12
    primitive.AffectedSOPClassUID = WORKLIST
    primitive.Status = 0xC123
    primitive.ErrorComment = "no such key"
    primitive.OffendingElement = [0x00100010]
    rsp = C_FIND_RSP()
    rsp.primitive_to_message(primitive)
    ours = CFindRSP(12, WORKLIST, 0xC123, False, "no such key", (0x00100010,))
    assert encode_command(ours) == pynetdicom_command_bytes(rsp)

    echo = C_ECHO()
    echo.MessageID = 300
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    rq = C_ECHO_RQ()
    rq.primitive_to_message(echo)
    assert encode_command(CEchoRQ(300)) == pynetdicom_command_bytes(rq)


# ----------------------------------------------------------------------------- assembly


def parse_pdata_tf(pdu: bytes) -> list[PDV]:
    """Independent P-DATA-TF parser (PS3.8 9.3.5)."""
    pdu_type, _, length = struct.unpack_from(">BBI", pdu)
    assert pdu_type == 0x04
    assert length == len(pdu) - 6
    pdvs, position = [], 6
    while position < len(pdu):
        item_length, context_id, header = struct.unpack_from(">IBB", pdu, position)
        data = pdu[position + 6 : position + 4 + item_length]
        pdvs.append(PDV(context_id, bool(header & 1), bool(header & 2), data))
        position += 4 + item_length
    assert position == len(pdu)
    return pdvs


def assemble(
    assembler: MessageAssembler, pdus: list[bytes]
) -> list[tuple[int, DimseCommand, bytes | None]]:
    done = []
    for pdu in pdus:
        for pdv in parse_pdata_tf(pdu):
            result = assembler.add(pdv)
            assert not isinstance(result, DataSetFragment)  # no command is streamed here
            if result is not None:
                done.append(result)
    return done


FIND_RSP = CFindRSP(77, WORKLIST, 0xFF00, has_data_set=True)
DATA_SET = bytes(range(256)) * 3 + b"tail"


@pytest.mark.parametrize("data_set", [DATA_SET, None])
def test_every_max_pdu_length_fragments_and_reassembles(data_set: bytes | None) -> None:
    command = encode_command(FIND_RSP, has_data_set=data_set is not None)
    total = len(command) + len(data_set or b"")
    expected = dataclasses.replace(FIND_RSP, has_data_set=data_set is not None)
    assembler = MessageAssembler()
    for max_length in [*range(7, total + 20), 0]:
        pdus = fragment(5, command, data_set, max_length)
        for pdu in pdus:
            assert max_length == 0 or len(pdu) - 6 <= max_length
        assert assemble(assembler, pdus) == [(5, expected, data_set)], max_length
        assert not assembler.in_progress
        if max_length >= total + 12:
            assert len(pdus) == 1


def test_small_message_is_one_pdu_with_two_pdvs() -> None:
    command = encode_command(FIND_RSP)
    [pdu] = fragment(3, command, b"\x08\x00\x50\x00\x00\x00\x00\x00", 16384)
    pdvs = parse_pdata_tf(pdu)
    assert [(p.is_command, p.is_last) for p in pdvs] == [(True, True), (False, True)]
    assert pdvs[0].data == command


def test_fragments_are_standard_pdata_tf_for_pynetdicom() -> None:
    from pynetdicom.pdu import P_DATA_TF

    command = encode_command(FIND_RSP)
    pdus = fragment(9, command, DATA_SET, 100)
    seen = b""
    for pdu in pdus:
        decoded = P_DATA_TF()
        decoded.decode(pdu)
        for item in decoded.presentation_data_value_items:
            assert item.presentation_context_id == 9
            assert item.presentation_data_value is not None
            seen += item.presentation_data_value[1:]
    assert seen == command + DATA_SET


def test_command_and_data_in_separate_pdus_and_back_to_back_messages() -> None:
    assembler = MessageAssembler()
    command = encode_command(FIND_RSP)
    half = len(command) // 2
    assert assembler.add(PDV(1, True, False, command[:half])) is None
    assert assembler.add(PDV(1, True, True, command[half:])) is None
    assert assembler.in_progress
    assert assembler.add(PDV(1, False, False, b"ab")) is None
    assert assembler.add(PDV(1, False, False, b"")) is None
    assert assembler.add(PDV(1, False, True, b"cd")) == (1, FIND_RSP, b"abcd")
    echo = CEchoRQ(2)
    assert assembler.add(PDV(3, True, True, encode_command(echo))) == (3, echo, None)


def test_ordering_violations_raise_protocol_error() -> None:
    command = encode_command(FIND_RSP)
    assembler = MessageAssembler()
    with pytest.raises(ProtocolError, match="before the command set ended") as info:
        assembler.add(PDV(1, False, True, b"data"))
    assert info.value.reason == AbortReason.UNEXPECTED_PDU_PARAMETER

    assembler.add(PDV(1, True, True, command))
    with pytest.raises(ProtocolError, match="while a data set was expected"):
        assembler.add(PDV(1, True, True, command))

    assembler = MessageAssembler()
    assembler.add(PDV(1, True, False, command[:10]))
    with pytest.raises(ProtocolError, match="context changed from 1 to 3"):
        assembler.add(PDV(3, True, True, command[10:]))

    assembler = MessageAssembler()
    assembler.add(PDV(1, True, True, command))
    assembler.add(PDV(1, False, False, b"x"))
    with pytest.raises(ProtocolError, match="context changed"):
        assembler.add(PDV(5, False, True, b"y"))

    assembler = MessageAssembler()
    with pytest.raises(ProtocolError, match="Command Field 0x0010"):
        assembler.add(PDV(1, True, True, command_set(element(0x0100, b"\x10\x00"))))


def test_size_limits_bound_memory() -> None:
    command = encode_command(FIND_RSP)
    assembler = MessageAssembler(max_command_size=len(command) - 1, max_data_set_size=10)
    with pytest.raises(ProtocolError, match="command set of"):
        assembler.add(PDV(1, True, True, command))
    assert not assembler.in_progress
    assembler = MessageAssembler(max_data_set_size=10)
    assembler.add(PDV(1, True, True, command))
    assembler.add(PDV(1, False, False, b"x" * 6))
    with pytest.raises(ProtocolError, match="data set of 12\\+ bytes exceeds the limit of 10"):
        assembler.add(PDV(1, False, False, b"x" * 6))
    assert MessageAssembler(max_data_set_size=10).add(PDV(1, True, True, command)) is None


def test_fragment_rejects_impossible_limits() -> None:
    with pytest.raises(LocalProtocolError, match="cannot carry a PDV"):
        fragment(1, b"x" * 100, None, 6)
    with pytest.raises(LocalProtocolError, match=r"outside 1\.\.255"):
        fragment(0, b"x", None, 0)
