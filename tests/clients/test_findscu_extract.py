"""``-X`` writes each identifier's bytes as received; ISO 2022 text without (0008,0005)
survives and pydicom's charset warnings stay off stderr (#14.3)."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import dcmread

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.proto.negotiation import IMPLICIT_VR_LE
from tests.clients.findscu_run import run_findscu

# PS3.5 H.3.1 style Japanese name: ISO 2022 escapes to JIS X 0208 and back to ASCII
# (ESC ( B) in every component, 60 bytes. The SCP omits Specific Character Set.
JAPANESE_PN = (
    b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"
)


def _element(tag: int, vr: bytes, value: bytes, syntax: str) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if syntax == IMPLICIT_VR_LE:
        return head + struct.pack("<I", len(value)) + value
    return head + vr + struct.pack("<H", len(value)) + value


async def _handler(request: FindRequest) -> AsyncIterator[bytes]:
    syntax = request.transfer_syntax
    yield _element(0x00100010, b"PN", JAPANESE_PN, syntax) + _element(
        0x00100020, b"LO", b"JP0001", syntax
    )


@pytest.mark.parametrize("syntax_flag", ["-xe", "-xi"])
async def test_extract_keeps_iso2022_bytes_and_no_warnings(
    tmp_path: Path, syntax_flag: str
) -> None:
    assert len(JAPANESE_PN) == 60
    async with aiodicom.serve(ServerConfig(), {"worklist": _handler}, "127.0.0.1", 0) as server:
        run = await run_findscu(
            server.port, syntax_flag, "-X", "-od", str(tmp_path), "-k", "PatientName"
        )
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    written = tmp_path / "rsp0001.dcm"
    raw = written.read_bytes()
    assert raw[128:132] == b"DICM"
    assert JAPANESE_PN in raw
    ds = dcmread(written)
    assert ds.get_item(0x00100010).value == JAPANESE_PN
    assert ds.file_meta.TransferSyntaxUID == (
        IMPLICIT_VR_LE if syntax_flag == "-xi" else "1.2.840.10008.1.2.1"
    )


async def test_dump_of_iso2022_text_prints_no_pydicom_warnings() -> None:
    async with aiodicom.serve(ServerConfig(), {"worklist": _handler}, "127.0.0.1", 0) as server:
        run = await run_findscu(server.port, "-k", "PatientName")
        json_run = await run_findscu(server.port, "--json", "-k", "PatientName")
    assert run.code == 0 and json_run.code == 0
    lines = run.stderr.splitlines()
    assert any("Find Response: 1" in line for line in lines)
    assert all(line.startswith("I: ") for line in lines), run.stderr
    assert json_run.stderr == ""
    assert "JP0001" in json_run.stdout
