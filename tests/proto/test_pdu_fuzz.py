"""Fuzzing the decoder: garbage, truncations and mutations only ever give ProtocolError.

Also checks the memory bound: a length is refused from the 6-byte header (PS3.8 9.3.1)
and the buffer never exceeds one header plus the largest allowed body.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodicom.errors import AbortReason, ProtocolError
from aiodicom.proto.pdu import HARD_PDU_CEILING, PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import PDU, PDV
from tests.proto import pdu_strategies as pst

MAX_PDU = 4096
MAX_ASSOCIATE = 8192
BOUND = max(MAX_PDU, MAX_ASSOCIATE) + 6


def _feed_all(chunks: list[bytes]) -> list[PDU] | ProtocolError:
    """Feed chunks; return PDUs or the ProtocolError. Anything else fails the test."""
    decoder = PDUDecoder(MAX_PDU, MAX_ASSOCIATE)
    pdus: list[PDU] = []
    try:
        for chunk in chunks:
            pdus.extend(decoder.feed(chunk))
            assert decoder.buffered <= BOUND
    except ProtocolError as exc:
        assert exc.source == 2
        assert exc.reason in set(AbortReason)
        assert decoder.buffered == 0
        with pytest.raises(ProtocolError):  # the decoder stays dead
            decoder.feed(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        return exc
    return pdus


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=5))
@settings(max_examples=300)
def test_random_garbage(data: bytes, cuts: list[int]) -> None:
    _feed_all(_chunked(data, cuts))


@given(st.sampled_from(range(1, 8)), st.binary(max_size=300))
@settings(max_examples=300)
def test_garbage_body_behind_a_plausible_header(pdu_type: int, body: bytes) -> None:
    """Valid type and consistent length, random body: exercises every body decoder."""
    _feed_all([struct.pack(">BBL", pdu_type, 0, len(body)) + body])


@given(pst.any_pdu, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_valid_encodings(pdu: PDU, data: st.DataObject) -> None:
    encoded = bytearray(encode_pdu(pdu))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(encoded) - 1))
        kind = data.draw(st.sampled_from(("byte", "u16", "u32")))
        if kind == "byte":
            encoded[index] = data.draw(st.integers(0, 255))
        else:  # overwrite a would-be length field with a random value
            size = 2 if kind == "u16" else 4
            value = data.draw(st.integers(0, (1 << (8 * size)) - 1))
            encoded[index : index + size] = value.to_bytes(size, "big")
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=4))
    _feed_all(_chunked(bytes(encoded), cuts))


@given(pst.any_pdu, st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_truncated_and_extended_encodings(pdu: PDU, data: st.DataObject) -> None:
    """A shortened body with a fixed-up length, or trailing junk inside the PDU."""
    encoded = encode_pdu(pdu)
    body = encoded[6:]
    body = body[: data.draw(st.integers(0, len(body)))] + data.draw(st.binary(max_size=8))
    result = _feed_all([encoded[:2] + struct.pack(">L", len(body)) + body])
    if isinstance(result, list):
        assert len(result) == 1


@given(pst.any_pdu, st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_plain_truncation_waits_for_more(pdu: PDU, data: st.DataObject) -> None:
    encoded = encode_pdu(pdu)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    decoder = PDUDecoder(max_pdu_length=0)
    assert decoder.feed(encoded[:cut]) == []
    assert decoder.buffered == cut


@pytest.mark.parametrize("pdu_type", range(1, 8))
def test_lying_length_refused_after_six_header_bytes(pdu_type: int) -> None:
    header = struct.pack(">BBL", pdu_type, 0, 0xFFFFFFFF)
    decoder = PDUDecoder()
    for index in range(5):
        assert decoder.feed(header[index : index + 1]) == []
    with pytest.raises(ProtocolError) as info:
        decoder.feed(header[5:])
    assert info.value.reason == AbortReason.INVALID_PDU_PARAMETER_VALUE
    assert decoder.buffered == 0


def test_lying_length_in_a_big_chunk_buffers_nothing() -> None:
    decoder = PDUDecoder()
    with pytest.raises(ProtocolError, match="exceeds our maximum 16384"):
        decoder.feed(struct.pack(">BBL", 4, 0, 16385) + bytes(1 << 20))
    assert decoder.buffered == 0


def test_unlimited_max_pdu_still_has_a_ceiling() -> None:
    decoder = PDUDecoder(max_pdu_length=0)
    assert decoder.feed(struct.pack(">BBL", 4, 0, HARD_PDU_CEILING)) == []
    with pytest.raises(ProtocolError, match="exceeds our maximum"):
        PDUDecoder(max_pdu_length=0).feed(struct.pack(">BBL", 4, 0, HARD_PDU_CEILING + 1))


def test_associate_limit_is_separate_from_pdata_limit() -> None:
    header = struct.pack(">BBL", 1, 0, 5000)
    assert PDUDecoder(max_pdu_length=100, max_associate_length=5000).feed(header) == []
    with pytest.raises(ProtocolError, match="A_ASSOCIATE_RQ: PDU length 5000 exceeds"):
        PDUDecoder(max_pdu_length=100_000, max_associate_length=4999).feed(header)


def test_buffer_bounded_while_a_maximal_pdata_trickles_in() -> None:
    pdu = encode_pdata([PDV(1, False, True, bytes(MAX_PDU - 6))])
    assert len(pdu) == MAX_PDU + 6
    decoder = PDUDecoder(MAX_PDU, MAX_ASSOCIATE)
    received: list[PDU] = []
    for start in range(0, len(pdu), 97):
        received.extend(decoder.feed(pdu[start : start + 97]))
        assert decoder.buffered <= MAX_PDU + 6
    assert len(received) == 1
    assert decoder.buffered == 0
    with pytest.raises(ProtocolError):
        PDUDecoder(MAX_PDU - 1).feed(pdu[:6])
