"""Round trips of every PDU, item and sub-item (PS3.8 9.3, PS3.7 Annex D)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynetdicom.pdu import (
    A_ABORT_RQ,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    P_DATA_TF,
)

from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import (
    PDU,
    AssociateAC,
    AssociateRQ,
    PDataTF,
    PresentationContextRQ,
    UserInformation,
)
from tests.proto import pdu_strategies as pst

_PYNETDICOM = {
    0x01: A_ASSOCIATE_RQ,
    0x02: A_ASSOCIATE_AC,
    0x03: A_ASSOCIATE_RJ,
    0x04: P_DATA_TF,
    0x05: A_RELEASE_RQ,
    0x06: A_RELEASE_RP,
    0x07: A_ABORT_RQ,
}


def _decode_one(data: bytes) -> PDU:
    decoder = PDUDecoder(max_pdu_length=0)
    pdus = decoder.feed(data)
    assert len(pdus) == 1
    assert decoder.buffered == 0
    return pdus[0]


@given(pst.associate_rqs())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_associate_rq_round_trip(pdu: AssociateRQ) -> None:
    assert _decode_one(encode_pdu(pdu)) == pdu


@given(pst.associate_acs())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_associate_ac_round_trip(pdu: AssociateAC) -> None:
    assert _decode_one(encode_pdu(pdu)) == pdu


@given(pst.user_information)
def test_user_information_round_trip_every_sub_item(info: UserInformation) -> None:
    rq = AssociateRQ("A", "B", (PresentationContextRQ(1, "1.2", ("1.2.3",)),), info)
    decoded = _decode_one(encode_pdu(rq))
    assert isinstance(decoded, AssociateRQ)
    assert decoded.user_information == info


@given(st.one_of(pst.rejects, pst.aborts, pst.releases, pst.pdata))
def test_small_pdus_round_trip(pdu: PDU) -> None:
    assert _decode_one(encode_pdu(pdu)) == pdu


@given(pst.pdata)
def test_encode_pdata_matches_encode_pdu(pdu: PDataTF) -> None:
    assert encode_pdata(pdu.pdvs) == encode_pdu(pdu)
    assert encode_pdata(iter(pdu.pdvs)) == encode_pdu(pdu)


@given(pst.realistic_pdu)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_pynetdicom_reads_and_rewrites_our_encoding(pdu: PDU) -> None:
    """An independent implementation parses our bytes and re-encodes them identically."""
    ours = encode_pdu(pdu)
    theirs = _PYNETDICOM[ours[0]]()
    theirs.decode(ours)
    rewritten = theirs.encode()
    assert _decode_one(rewritten) == pdu
    assert rewritten == ours
