"""Incremental decoding: a PDU stream split anywhere decodes identically (PS3.8 9.3.1)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodicom.proto.pdu import PDUDecoder, encode_pdu
from aiodicom.proto.pdus import (
    PDU,
    PDV,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    UserInformation,
)
from tests.proto import pdu_strategies as pst

ONE_OF_EACH: list[PDU] = [
    AssociateRQ(
        "SCP",
        "SCU",
        (PresentationContextRQ(1, "1.2.840.10008.5.1.4.31", ("1.2.840.10008.1.2",)),),
        UserInformation(max_length=16384, implementation_class_uid="1.2.3.4"),
    ),
    AssociateAC(
        "SCP",
        "SCU",
        (PresentationContextAC(1, 0, "1.2.840.10008.1.2"),),
        UserInformation(max_length=0),
    ),
    PDataTF((PDV(1, True, False, b"\x00" * 20), PDV(1, True, True, b"abc"))),
    PDataTF((PDV(3, False, True, bytes(range(256))),)),
    AssociateRJ(1, 1, 7),
    ReleaseRQ(),
    ReleaseRP(),
    Abort(2, 6),
]


def _decode_split(stream: bytes, cuts: list[int]) -> list[PDU]:
    decoder = PDUDecoder(max_pdu_length=0)
    pdus: list[PDU] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        pdus.extend(decoder.feed(stream[start:cut]))
        start = cut
    assert decoder.buffered == 0
    return pdus


def _decode_bytewise(stream: bytes) -> list[PDU]:
    decoder = PDUDecoder(max_pdu_length=0)
    pdus: list[PDU] = []
    for index in range(len(stream)):
        pdus.extend(decoder.feed(stream[index : index + 1]))
        assert decoder.buffered <= index + 1
    assert decoder.buffered == 0
    return pdus


def test_one_of_each_split_at_every_offset() -> None:
    stream = b"".join(encode_pdu(pdu) for pdu in ONE_OF_EACH)
    assert PDUDecoder().feed(stream) == ONE_OF_EACH
    for offset in range(len(stream) + 1):
        assert _decode_split(stream, [offset]) == ONE_OF_EACH, offset


def test_one_of_each_byte_by_byte() -> None:
    stream = b"".join(encode_pdu(pdu) for pdu in ONE_OF_EACH)
    assert _decode_bytewise(stream) == ONE_OF_EACH


def test_pdus_come_out_as_soon_as_complete() -> None:
    first, second = encode_pdu(ReleaseRQ()), encode_pdu(Abort(0, 0))
    decoder = PDUDecoder()
    assert decoder.feed(first + second[:3]) == [ReleaseRQ()]
    assert decoder.buffered == 3
    assert decoder.feed(b"") == []
    assert decoder.feed(second[3:]) == [Abort(0, 0)]


@given(st.lists(pst.any_pdu, min_size=1, max_size=4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_stream_split_at_every_offset_and_bytewise(pdus: list[PDU]) -> None:
    stream = b"".join(encode_pdu(pdu) for pdu in pdus)
    for offset in range(len(stream) + 1):
        assert _decode_split(stream, [offset]) == pdus, offset
    assert _decode_bytewise(stream) == pdus


@given(st.lists(pst.any_pdu, min_size=1, max_size=6), st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_random_stream_random_chunks(pdus: list[PDU], data: st.DataObject) -> None:
    stream = b"".join(encode_pdu(pdu) for pdu in pdus)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert _decode_split(stream, cuts) == pdus
