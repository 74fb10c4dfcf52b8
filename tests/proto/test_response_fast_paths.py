"""The C-FIND response fast paths equal the general encoders, byte for byte.

* ``encode_find_rsp`` (:meth:`.memo.CommandEncodeMemo.find_rsp`) builds a C-FIND-RSP
  command set (PS3.7 9.3.2.2) from templates without a ``CFindRSP``; it must equal
  ``encode_command`` on the first call (template learnt) and later ones, for any
  Message ID, status and SOP class, and raise like it for out-of-range values.
* ``fragment`` packs a message that fits one P-DATA-TF (PS3.8 9.3.5, D.1) with both
  headers at once; it must equal the general framing (:func:`.dimse._pdata_tf`).
"""

from __future__ import annotations

from enum import IntEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import LocalProtocolError
from aiodicom.proto import dimse
from aiodicom.proto.command_set import encode_command
from aiodicom.proto.dimse import encode_find_rsp, fragment
from aiodicom.proto.memo import CommandEncodeMemo
from aiodicom.proto.messages import CFindRSP
from aiodicom.proto.pdu import PDUDecoder
from aiodicom.proto.pdus import PDataTF

uids = st.sampled_from(["1.2.840.10008.5.1.4.31", "1.2.840.10008.5.1.4.1.2.2.1", "1.2.3", "1.2.34"])
sixteen_bits = st.integers(0, 0xFFFF)


@settings(max_examples=300, deadline=None)
@given(sixteen_bits, uids, sixteen_bits, st.booleans())
def test_find_rsp_equals_encode_command(
    message_id: int, uid: str, status: int, has_data_set: bool
) -> None:
    expected = encode_command(
        CFindRSP(message_id, uid, status, has_data_set), has_data_set=has_data_set
    )
    fresh = CommandEncodeMemo(4)
    assert fresh.find_rsp(message_id, uid, status, has_data_set) == expected  # learns
    assert fresh.find_rsp(message_id, uid, status, has_data_set) == expected  # template
    assert encode_find_rsp(message_id, uid, status, has_data_set) == expected


class _Status(IntEnum):
    CANCEL = 0xFE00


def test_find_rsp_refuses_what_encode_command_refuses() -> None:
    uid = "1.2.840.10008.5.1.4.31"
    memo = CommandEncodeMemo(4)
    memo.find_rsp(1, uid, 0, False)  # the template exists: bad values still take the full path
    for message_id, status in ((0x10000, 0), (1, 0x10000), (-1, 0)):
        with pytest.raises(LocalProtocolError):
            encode_command(CFindRSP(message_id, uid, status))
        with pytest.raises(LocalProtocolError):
            memo.find_rsp(message_id, uid, status, False)
    expected = encode_command(CFindRSP(3, uid, _Status.CANCEL))
    assert memo.find_rsp(3, uid, _Status.CANCEL, False) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 255).filter(lambda n: n % 2 == 1),
    st.binary(min_size=0, max_size=300),
    st.none() | st.binary(min_size=0, max_size=300),
    st.sampled_from([0, 4096, 200, 320, 612, 16384]),
)
def test_single_pdu_fast_path_equals_the_general_framing(
    context_id: int, command: bytes, data_set: bytes | None, max_pdu_length: int
) -> None:
    streams = [(True, True, command)]
    if data_set is not None:
        streams.append((False, True, data_set))
    total = sum(dimse.PDV_HEADER_LENGTH + len(data) for _, _, data in streams)
    pdus = fragment(context_id, command, data_set, max_pdu_length)
    if max_pdu_length == 0 or total <= max_pdu_length:
        assert pdus == [dimse._pdata_tf(context_id, streams)]
        return
    # split: every PDU within the maximum, the fragments rejoin to the message
    assert len(pdus) > 1
    assert all(len(pdu) - 6 <= max_pdu_length for pdu in pdus)
    decoded = PDUDecoder(0).feed(b"".join(pdus))
    pdvs = [pdv for pdu in decoded if isinstance(pdu, PDataTF) for pdv in pdu.pdvs]
    assert len(decoded) == len(pdus)
    assert b"".join(pdv.data for pdv in pdvs if pdv.is_command) == command
    assert b"".join(pdv.data for pdv in pdvs if not pdv.is_command) == (data_set or b"")
