"""Malformed input -> ProtocolError with the right A-ABORT reason (PS3.8 Table 9-26);
illegal local values -> LocalProtocolError."""

from __future__ import annotations

import pytest

from aiodicom.errors import AbortReason, LocalProtocolError, ProtocolError
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
    UserIdentityRQ,
    UserInformation,
)
from tests.proto.test_pdu_bytes import APP_CONTEXT, IMPLICIT_LE, VERIFICATION, _associate, _item

INVALID = AbortReason.INVALID_PDU_PARAMETER_VALUE
UNEXPECTED = AbortReason.UNEXPECTED_PDU_PARAMETER
APP = _item(0x10, APP_CONTEXT)
PC_BODY = _item(0x30, VERIFICATION) + _item(0x40, IMPLICIT_LE)
PC = _item(0x20, b"\x01\x00\x00\x00" + PC_BODY)


def _rq(items: bytes) -> bytes:
    return _associate(0x01, items)


def _ac(items: bytes) -> bytes:
    return _associate(0x02, items)


def _with_ae(called: bytes) -> bytes:
    wire = bytearray(_rq(APP + PC))
    wire[10:26] = called
    return bytes(wire)


DECODE_ERRORS: list[tuple[str, bytes, int, str]] = [
    ("unknown type", bytes.fromhex("08 00 00000004 00000000"), 1, "unrecognized PDU type 0x08"),
    ("type zero", bytes(10), 1, "unrecognized PDU type 0x00"),
    ("release length", bytes.fromhex("05 00 00000005 0000000000"), INVALID, "expected 4"),
    ("abort length", bytes.fromhex("07 00 00000003 000000"), INVALID, "expected 4"),
    ("rj length", bytes.fromhex("03 00 00000000"), INVALID, "expected 4"),
    ("rq too short", bytes.fromhex("01 00 00000043") + bytes(67), INVALID, "< 68"),
    ("pdata too short", bytes.fromhex("04 00 00000005 0000000100"), INVALID, "one PDV"),
    ("pdv length < 2", bytes.fromhex("04 00 00000006 00000001 0100"), INVALID, "length 1 < 2"),
    ("pdv past pdu", bytes.fromhex("04 00 00000006 00000003 0100"), INVALID, "runs past PDU"),
    ("pdv even id", bytes.fromhex("04 00 00000006 00000002 0203"), INVALID, "id 2 is not odd"),
    ("pdv id zero", bytes.fromhex("04 00 00000006 00000002 0003"), INVALID, "id 0 is not odd"),
    ("pdv stray", bytes.fromhex("04 00 00000008 00000002 0103 0000"), INVALID, "stray bytes"),
    ("rj result", bytes.fromhex("03 00 00000004 00 03 01 01"), INVALID, "result 3"),
    ("rj source", bytes.fromhex("03 00 00000004 00 01 00 01"), INVALID, "source 0"),
    ("no app context", _rq(PC), INVALID, "0 application context items"),
    ("two app contexts", _rq(APP + APP + PC), INVALID, "2 application context items"),
    ("no context", _rq(APP + _item(0x50, b"")), INVALID, "no presentation context"),
    (
        "even context id",
        _rq(APP + _item(0x20, b"\x02\x00\x00\x00" + PC_BODY)),
        INVALID,
        "presentation context id 2 is not odd",
    ),
    (
        "context id 0",
        _rq(APP + _item(0x20, b"\x00\x00\x00\x00" + PC_BODY)),
        INVALID,
        "presentation context id 0 is not odd",
    ),
    ("repeated context id", _rq(APP + PC + PC), INVALID, "id 1 repeated"),
    (
        "abstract syntax missing",
        _rq(APP + _item(0x20, b"\x01\x00\x00\x00" + _item(0x40, IMPLICIT_LE))),
        INVALID,
        "0 abstract syntax sub-items",
    ),
    (
        "no transfer syntax",
        _rq(APP + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, VERIFICATION))),
        INVALID,
        "no transfer syntax",
    ),
    (
        "empty abstract syntax",
        _rq(APP + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, b"") + _item(0x40, IMPLICIT_LE))),
        INVALID,
        "empty UID",
    ),
    (
        "non-ascii UID",
        _rq(APP + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, b"1.2\xff") + _item(0x40, b"1"))),
        INVALID,
        "non-ASCII",
    ),
    ("ac item in rq", _rq(APP + PC + _item(0x21, b"")), UNEXPECTED, "unexpected item 0x21"),
    ("sub-item at top", _rq(APP + PC + _item(0x51, bytes(4))), UNEXPECTED, "item 0x51"),
    ("two user infos", _rq(APP + PC + _item(0x50, b"") * 2), UNEXPECTED, "2 user information"),
    (
        "item past pdu",
        _rq(APP + PC + b"\x50\x00\x00\x09" + bytes(4)),
        INVALID,
        "item 0x50 needs 9 bytes but only 4 remain",
    ),
    ("truncated item header", _rq(APP + PC + b"\x50\x00\x00"), INVALID, "length of item 0x50"),
    ("blank called AE", _with_ae(b" " * 16), INVALID, "blank"),
    ("backslash AE", _with_ae(b"A\\B".ljust(16)), INVALID, "not allowed"),
    ("control char AE", _with_ae(b"A\x01B".ljust(16)), INVALID, "not allowed"),
    ("non-ascii AE", _with_ae("É".encode("latin-1").ljust(16)), INVALID, "not allowed"),
    (
        "max length size",
        _rq(APP + PC + _item(0x50, _item(0x51, bytes(3)))),
        INVALID,
        "maximum length sub-item has length 3, expected 4",
    ),
    (
        "two max lengths",
        _rq(APP + PC + _item(0x50, _item(0x51, bytes(4)) * 2)),
        UNEXPECTED,
        "sub-item 0x51 appears twice",
    ),
    (
        "async window size",
        _rq(APP + PC + _item(0x50, _item(0x53, bytes(5)))),
        INVALID,
        "asynchronous operations window sub-item has length 5",
    ),
    (
        "role selection trailing",
        _rq(APP + PC + _item(0x50, _item(0x54, b"\x00\x011\x01\x01\x00"))),
        INVALID,
        "1 unexpected trailing bytes",
    ),
    (
        "role selection short",
        _rq(APP + PC + _item(0x50, _item(0x54, b"\x00\x051.2"))),
        INVALID,
        "SOP class UID needs 5 bytes",
    ),
    (
        "identity truncated",
        _rq(APP + PC + _item(0x50, _item(0x58, b"\x01\x00\x00\x05ab"))),
        INVALID,
        "primary field needs 5 bytes",
    ),
    (
        "common ext related overrun",
        _rq(APP + PC + _item(0x50, _item(0x57, b"\x00\x011\x00\x012\x00\x09\x00\x011"))),
        INVALID,
        "related general SOP class identification needs 9 bytes",
    ),
    (
        "accepted without TS",
        _ac(APP + _item(0x21, b"\x01\x00\x00\x00")),
        INVALID,
        "accepted without a transfer syntax",
    ),
    (
        "ac result 5",
        _ac(APP + _item(0x21, b"\x01\x00\x05\x00" + _item(0x40, IMPLICIT_LE))),
        INVALID,
        "result/reason 5",
    ),
    (
        "ac two TS",
        _ac(APP + _item(0x21, b"\x01\x00\x00\x00" + _item(0x40, b"1") * 2)),
        INVALID,
        "2 transfer syntax sub-items",
    ),
    ("ac no contexts", _ac(APP), INVALID, "no presentation context"),
    ("rq item in ac", _ac(APP + PC), UNEXPECTED, "unexpected item 0x20"),
]


@pytest.mark.parametrize(
    ("wire", "reason", "message"),
    [case[1:] for case in DECODE_ERRORS],
    ids=[case[0] for case in DECODE_ERRORS],
)
def test_decode_errors(wire: bytes, reason: int, message: str) -> None:
    decoder = PDUDecoder()
    with pytest.raises(ProtocolError) as info:
        decoder.feed(wire)
    assert info.value.source == 2
    assert info.value.reason == reason
    assert message in str(info.value)
    with pytest.raises(ProtocolError) as again:
        decoder.feed(b"")
    assert again.value is info.value


def test_errors_also_raised_when_fed_byte_by_byte() -> None:
    decoder = PDUDecoder()
    wire = _rq(APP + PC + PC)
    with pytest.raises(ProtocolError, match="repeated"):
        for index in range(len(wire)):
            decoder.feed(wire[index : index + 1])
    assert index == len(wire) - 1


GOOD_PC = (PresentationContextRQ(1, "1.2.3", ("1.2.840.10008.1.2",)),)
ENCODE_ERRORS: list[tuple[str, PDU, str]] = [
    ("AE too long", AssociateRQ("A" * 17, "B", GOOD_PC), "1-16 characters"),
    ("AE empty", AssociateRQ("   ", "B", GOOD_PC), "1-16 characters"),
    ("AE backslash", AssociateRQ("A\\B", "B", GOOD_PC), "not allowed"),
    ("AE non-ascii", AssociateRQ("Ä", "B", GOOD_PC), "not allowed"),
    ("no contexts", AssociateRQ("A", "B", ()), "at least one presentation context"),
    ("even id", AssociateRQ("A", "B", (PresentationContextRQ(2, "1.2", ("1.2",)),)), "id 2"),
    ("id 257", AssociateRQ("A", "B", (PresentationContextRQ(257, "1.2", ("1.2",)),)), "257"),
    ("duplicate ids", AssociateRQ("A", "B", GOOD_PC * 2), "duplicate"),
    ("no TS", AssociateRQ("A", "B", (PresentationContextRQ(1, "1.2", ()),)), "no transfer"),
    ("bad UID", AssociateRQ("A", "B", (PresentationContextRQ(1, "1.a", ("1",)),)), "not a valid"),
    (
        "long UID",
        AssociateRQ("A", "B", (PresentationContextRQ(1, "1" * 65, ("1",)),)),
        "not a valid UID",
    ),
    (
        "item too long",
        AssociateRQ("A", "B", (PresentationContextRQ(1, "1.2", ("1.2.3",) * 20000),)),
        "exceeds the 65535 limit",
    ),
    (
        "version name",
        AssociateRQ("A", "B", GOOD_PC, UserInformation(implementation_version_name="X" * 17)),
        "1-16 printable",
    ),
    (
        "max length",
        AssociateRQ("A", "B", GOOD_PC, UserInformation(max_length=1 << 32)),
        "maximum length",
    ),
    (
        "async window",
        AssociateRQ("A", "B", GOOD_PC, UserInformation(async_ops_window=(1, 70000))),
        "performed",
    ),
    (
        "identity field",
        AssociateRQ(
            "A",
            "B",
            GOOD_PC,
            UserInformation(user_identity_rq=UserIdentityRQ(1, False, b"x" * 70000)),
        ),
        "primary field",
    ),
    (
        "unknown known",
        AssociateRQ("A", "B", GOOD_PC, UserInformation(unknown=((0x51, b""),))),
        "known type",
    ),
    ("ac result", AssociateAC("A", "B", (PresentationContextAC(1, 5, ""),)), "result 5"),
    ("ac accepted no TS", AssociateAC("A", "B", (PresentationContextAC(1, 0, ""),)), "valid UID"),
    ("rj result", AssociateRJ(0, 1, 1), "result 0"),
    ("rj source", AssociateRJ(1, 4, 1), "source 4"),
    ("rj reason", AssociateRJ(1, 1, 256), "out of range"),
    ("abort source", Abort(3, 0), "source 3"),
    ("abort reason", Abort(2, 7), "reason 7"),
    ("empty pdata", PDataTF(()), "at least one PDV"),
    ("pdv even id", PDataTF((PDV(2, True, True, b""),)), "not odd"),
    ("pdv id 257", PDataTF((PDV(257, True, True, b""),)), "out of range"),
]


@pytest.mark.parametrize(
    ("pdu", "message"), [case[1:] for case in ENCODE_ERRORS], ids=[c[0] for c in ENCODE_ERRORS]
)
def test_encode_errors(pdu: PDU, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        encode_pdu(pdu)


def test_encode_pdata_refuses_empty_iterable() -> None:
    with pytest.raises(LocalProtocolError):
        encode_pdata([])


@pytest.mark.parametrize(("max_pdu", "max_assoc"), [(-1, 1 << 20), (1 << 32, 1 << 20), (0, 67)])
def test_decoder_limits_validated(max_pdu: int, max_assoc: int) -> None:
    with pytest.raises(LocalProtocolError, match="max_"):
        PDUDecoder(max_pdu, max_assoc)
