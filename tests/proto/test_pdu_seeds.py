"""Seed PDUs for fuzzing, stored in tests/fixtures/pdus/ (regenerate: run this module).

The test checks that every stored seed decodes and re-encodes to the same bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from aiodicom.proto.pdu import PDUDecoder, encode_pdu
from aiodicom.proto.pdus import (
    PDU,
    PDV,
    Abort,
    AssociateAC,
    AssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    RoleSelection,
    SOPClassExtendedNegotiation,
    UserInformation,
)

SEED_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "pdus"
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _element(group: int, element: int, value: bytes) -> bytes:
    """PS3.5 7.1.3: implicit VR little endian data element."""
    return struct.pack("<HHL", group, element, len(value)) + value


def c_find_rq_command(message_id: int = 1) -> bytes:
    """PS3.7 9.3.2.1: a C-FIND-RQ command set, implicit VR little endian (PS3.7 6.3.1)."""
    body = b"".join(
        (
            _element(0x0000, 0x0002, WORKLIST_FIND.encode()),
            _element(0x0000, 0x0100, struct.pack("<H", 0x0020)),
            _element(0x0000, 0x0110, struct.pack("<H", message_id)),
            _element(0x0000, 0x0700, struct.pack("<H", 0)),
            _element(0x0000, 0x0800, struct.pack("<H", 0x0000)),
        )
    )
    return _element(0x0000, 0x0000, struct.pack("<L", len(body))) + body


def seeds() -> dict[str, PDU]:
    """One realistic PDU per seed file name."""
    info = UserInformation(
        max_length=16384,
        implementation_class_uid="1.2.826.0.1.3680043.10.1999",
        implementation_version_name="AIODICOM_010",
        async_ops_window=(1, 1),
        role_selections=(RoleSelection(WORKLIST_FIND, True, False),),
        sop_class_extended=(SOPClassExtendedNegotiation(WORKLIST_FIND, b"\x01\x01\x00"),),
    )
    return {
        "associate_rq.bin": AssociateRQ(
            "WORKLIST",
            "FINDSCU",
            (
                PresentationContextRQ(1, WORKLIST_FIND, (EXPLICIT_LE, IMPLICIT_LE)),
                PresentationContextRQ(3, "1.2.840.10008.1.1", (IMPLICIT_LE,)),
            ),
            info,
        ),
        "associate_ac.bin": AssociateAC(
            "WORKLIST",
            "FINDSCU",
            (PresentationContextAC(1, 0, EXPLICIT_LE), PresentationContextAC(3, 3, "")),
            UserInformation(max_length=16384, implementation_class_uid="1.2.3.4"),
        ),
        "pdata_c_find_rq_command.bin": PDataTF((PDV(1, True, True, c_find_rq_command()),)),
        "release_rq.bin": ReleaseRQ(),
        "release_rp.bin": ReleaseRP(),
        "abort.bin": Abort(2, 6),
    }


@pytest.mark.parametrize("name", sorted(seeds()))
def test_seed_file_decodes_to_its_pdu(name: str) -> None:
    wire = (SEED_DIR / name).read_bytes()
    assert PDUDecoder().feed(wire) == [seeds()[name]]
    assert encode_pdu(seeds()[name]) == wire


if __name__ == "__main__":
    SEED_DIR.mkdir(parents=True, exist_ok=True)
    for file_name, pdu in seeds().items():
        (SEED_DIR / file_name).write_bytes(encode_pdu(pdu))
