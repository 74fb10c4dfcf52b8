"""Hand-built byte strings from the PS3.8 9.3 layouts, checked byte for byte."""

from __future__ import annotations

import pytest

from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
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

# PS3.8 Table 9-21: type 03, reserved, length 4, reserved, result, source, reason
RJ_PERMANENT_CALLED_AE = bytes.fromhex("03 00 00000004 00 01 01 07")
# PS3.8 Table 9-26: type 07, reserved, length 4, reserved, reserved, source, reason
ABORT_PROVIDER_INVALID = bytes.fromhex("07 00 00000004 00 00 02 06")
# PS3.8 Tables 9-24 / 9-25: type 05 / 06, reserved, length 4, 4 reserved bytes
RELEASE_RQ = bytes.fromhex("05 00 00000004 00000000")
RELEASE_RP = bytes.fromhex("06 00 00000004 00000000")
# PS3.8 Table 9-22 + Annex E.2: one PDV: item length 5, context 1, control 03 (command,
# last), 3 data bytes
PDATA_ONE_PDV = bytes.fromhex("04 00 00000009 00000005 01 03 414243")

CALLED = b"ANY-SCP".ljust(16)
CALLING = b"FINDSCU".ljust(16)
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"
VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"


def _item(item_type: int, value: bytes) -> bytes:
    return bytes((item_type, 0)) + len(value).to_bytes(2, "big") + value


def _associate(pdu_type: int, items: bytes) -> bytes:
    # PS3.8 Table 9-11: version 0001, 2 reserved, called AE, calling AE, 32 reserved
    body = b"\x00\x01\x00\x00" + CALLED + CALLING + bytes(32) + items
    return bytes((pdu_type, 0)) + len(body).to_bytes(4, "big") + body


RQ_MINIMAL = _associate(
    0x01,
    _item(0x10, APP_CONTEXT)
    + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, VERIFICATION) + _item(0x40, IMPLICIT_LE))
    + _item(0x50, _item(0x51, bytes.fromhex("00004000"))),
)
AC_MINIMAL = _associate(
    0x02,
    _item(0x10, APP_CONTEXT)
    + _item(0x21, b"\x01\x00\x00\x00" + _item(0x40, IMPLICIT_LE))
    + _item(0x21, b"\x03\x00\x03\x00" + _item(0x40, b""))
    + _item(0x50, _item(0x51, bytes.fromhex("00000000"))),
)

CASES: list[tuple[bytes, PDU]] = [
    (RJ_PERMANENT_CALLED_AE, AssociateRJ(1, 1, 7)),
    (ABORT_PROVIDER_INVALID, Abort(2, 6)),
    (RELEASE_RQ, ReleaseRQ()),
    (RELEASE_RP, ReleaseRP()),
    (PDATA_ONE_PDV, PDataTF((PDV(1, True, True, b"ABC"),))),
    (
        RQ_MINIMAL,
        AssociateRQ(
            "ANY-SCP",
            "FINDSCU",
            (PresentationContextRQ(1, VERIFICATION.decode(), (IMPLICIT_LE.decode(),)),),
            UserInformation(max_length=16384),
        ),
    ),
    (
        AC_MINIMAL,
        AssociateAC(
            "ANY-SCP",
            "FINDSCU",
            (
                PresentationContextAC(1, 0, IMPLICIT_LE.decode()),
                PresentationContextAC(3, 3, ""),
            ),
            UserInformation(max_length=0),
        ),
    ),
]


@pytest.mark.parametrize(("wire", "pdu"), CASES, ids=lambda v: type(v).__name__)
def test_encode_byte_for_byte(wire: bytes, pdu: PDU) -> None:
    assert encode_pdu(pdu) == wire


@pytest.mark.parametrize(("wire", "pdu"), CASES, ids=lambda v: type(v).__name__)
def test_decode_hand_built(wire: bytes, pdu: PDU) -> None:
    assert PDUDecoder().feed(wire) == [pdu]


def test_pdv_control_header_bits() -> None:
    """PS3.8 E.2: bit 0 = command (1) / data (0); bit 1 = last (1) / more (0)."""
    pdvs = [PDV(5, False, False, b""), PDV(5, True, False, b""), PDV(5, False, True, b"")]
    wire = encode_pdata(pdvs)
    assert wire == bytes.fromhex("04 00 00000012 00000002 05 00 00000002 05 01 00000002 05 02")
    assert PDUDecoder().feed(wire) == [PDataTF(tuple(pdvs))]


def test_reserved_fields_are_not_tested() -> None:
    """PS3.8 9.3.1: reserved fields are sent as zero but not tested on receipt."""
    wire = bytearray(RQ_MINIMAL)
    wire[1] = 0xFF  # PDU header reserved
    wire[8:10] = b"\xff\xff"  # reserved after the protocol version
    wire[42:74] = b"\xee" * 32  # 32 reserved bytes
    wire[75] = 0x99  # application context item reserved byte
    assert PDUDecoder().feed(bytes(wire)) == PDUDecoder().feed(RQ_MINIMAL)
    assert PDUDecoder().feed(bytes.fromhex("05 77 00000004 01020304")) == [ReleaseRQ()]
    assert PDUDecoder().feed(bytes.fromhex("07 01 00000004 05 06 00 00")) == [Abort(0, 0)]


def test_uid_padding_tolerated_on_decode() -> None:
    """PS3.8 Annex F: UIDs are not padded; a trailing NUL or space is tolerated anyway."""
    context = b"\x01\x00\x00\x00" + _item(0x30, VERIFICATION + b"\x00")
    context += _item(0x40, IMPLICIT_LE + b" ")
    wire = _associate(0x01, _item(0x10, APP_CONTEXT + b"\x00") + _item(0x20, context))
    (pdu,) = PDUDecoder().feed(wire)
    assert isinstance(pdu, AssociateRQ)
    assert pdu.application_context == APP_CONTEXT.decode()
    assert pdu.presentation_contexts == (
        PresentationContextRQ(1, VERIFICATION.decode(), (IMPLICIT_LE.decode(),)),
    )


def test_ae_titles_leading_and_trailing_spaces_are_not_significant() -> None:
    wire = RQ_MINIMAL.replace(CALLED, b"  ANY-SCP".ljust(16))
    (pdu,) = PDUDecoder().feed(wire)
    assert isinstance(pdu, AssociateRQ)
    assert pdu.called_ae == "ANY-SCP"


def test_unknown_items_are_skipped_and_user_information_is_optional() -> None:
    """PS3.8 9.3.1: items of unrecognized types are ignored; no user info -> defaults."""
    wire = _associate(
        0x01,
        _item(0x10, APP_CONTEXT)
        + _item(0x77, b"future")
        + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, VERIFICATION) + _item(0x40, IMPLICIT_LE)),
    )
    (pdu,) = PDUDecoder().feed(wire)
    assert isinstance(pdu, AssociateRQ)
    assert pdu.user_information == UserInformation()
    assert pdu.presentation_contexts == (
        PresentationContextRQ(1, VERIFICATION.decode(), (IMPLICIT_LE.decode(),)),
    )


def test_unknown_user_information_sub_items_preserved() -> None:
    info = _item(0x51, bytes(4)) + _item(0x60, b"\x01\x02") + _item(0x5A, b"")
    wire = RQ_MINIMAL.replace(
        _item(0x50, _item(0x51, bytes.fromhex("00004000"))), _item(0x50, info)
    )
    wire = wire[:2] + (len(wire) - 6).to_bytes(4, "big") + wire[6:]
    (pdu,) = PDUDecoder().feed(wire)
    assert isinstance(pdu, AssociateRQ)
    assert pdu.user_information.unknown == ((0x60, b"\x01\x02"), (0x5A, b""))
    assert encode_pdu(pdu) == wire


def test_ac_ae_titles_are_not_tested() -> None:
    """PS3.8 9.3.3: the AE title fields of the AC are echoed but not tested."""
    wire = AC_MINIMAL.replace(CALLED, bytes(16)).replace(CALLING, b"\\\x01".ljust(16))
    (pdu,) = PDUDecoder().feed(wire)
    assert isinstance(pdu, AssociateAC)
    assert pdu.called_ae == ""
