"""Tests of the identifier codec across the four transfer syntaxes (PS3.5 Annex A)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.syntax import (
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    SUPPORTED_TRANSFER_SYNTAXES,
    deflate,
)
from aiodicom.errors import DataError

ALL_SYNTAXES = pytest.mark.parametrize("transfer_syntax", SUPPORTED_TRANSFER_SYNTAXES)
DUMP2DCM = Path("/usr/bin/dump2dcm")
DCMDUMP = Path("/usr/bin/dcmdump")


def mwl_identifier(charset: str = "ISO_IR 192", name: str = "Müller^Jürgen") -> Dataset:
    """A typical 15-attribute Modality Worklist identifier (PS3.4 K.6.1.2.2)."""
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = "CT01"
    step.ScheduledProcedureStepStartDate = "20240101-20241231"
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledPerformingPhysicianName = ""
    step.ScheduledProcedureStepDescription = "Thorax ärztlich"
    step.ScheduledProcedureStepID = ""
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.PatientName = name
    ds.PatientID = "PID-1"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = ""
    ds.RequestedProcedureDescription = ""
    ds.RequestedProcedureID = ""
    ds.ScheduledProcedureStepSequence = Sequence([step])
    return ds


@ALL_SYNTAXES
@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 192", "Müller^Jürgen=山田^太郎=やまだ^たろう"),
        ("ISO_IR 100", "Ærøskøbing^Ångström"),
        ("", "Smith^John"),
    ],
)
def test_round_trip_with_sequences_and_character_sets(
    transfer_syntax: str, charset: str, name: str
) -> None:
    ds = mwl_identifier(charset, name)
    if not charset:
        del ds.SpecificCharacterSet
        ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription = "Thorax"
    encoded = encode_identifier(ds, transfer_syntax)
    decoded = decode_identifier(encoded, transfer_syntax)
    assert decoded == ds
    assert str(decoded.PatientName) == name
    assert decoded.ScheduledProcedureStepSequence[0].Modality == "CT"
    assert len(encoded) % 2 == 0


def test_text_is_encoded_in_the_specific_character_set() -> None:
    latin1 = encode_identifier(mwl_identifier("ISO_IR 100", "Ærø^Å"), IMPLICIT_VR_LE)
    utf8 = encode_identifier(mwl_identifier("ISO_IR 192", "Ærø^Å"), IMPLICIT_VR_LE)
    assert "Ærø^Å".encode("latin-1") in latin1
    assert "Ærø^Å".encode() in utf8


def test_transfer_syntaxes_differ_as_the_standard_says() -> None:
    ds = mwl_identifier()
    implicit = encode_identifier(ds, IMPLICIT_VR_LE)
    little = encode_identifier(ds, EXPLICIT_VR_LE)
    big = encode_identifier(ds, EXPLICIT_VR_BE)
    deflated = encode_identifier(ds, DEFLATED_EXPLICIT_VR_LE)
    assert implicit.startswith(b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 192")
    assert little.startswith(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 192")
    assert big.startswith(b"\x00\x08\x00\x05CS\x00\x0aISO_IR 192")
    inflated = zlib.decompressobj(-15).decompress(deflated)
    assert inflated == little
    assert len(deflated) % 2 == 0


@ALL_SYNTAXES
def test_undecodable_input_raises_data_error(transfer_syntax: str) -> None:
    good = encode_identifier(mwl_identifier(), transfer_syntax)
    for bad in (good[:-3], good[:5], b"\x01", b"\xff" * 40):
        with pytest.raises(DataError) as info:
            decode_identifier(bad, transfer_syntax)
        assert info.value.path == "identifier"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SUPPORTED_TRANSFER_SYNTAXES), st.binary(max_size=120), st.data())
def test_fuzzed_input_only_raises_data_error(
    transfer_syntax: str, noise: bytes, data: st.DataObject
) -> None:
    candidates = [noise, deflate(noise)]
    good = bytearray(encode_identifier(mwl_identifier(), transfer_syntax))
    position = data.draw(st.integers(0, len(good) - 1))
    good[position] = data.draw(st.integers(0, 255))
    candidates.append(bytes(good[: data.draw(st.integers(0, len(good)))]))
    for candidate in candidates:
        with contextlib.suppress(DataError):
            decode_identifier(candidate, transfer_syntax)


def test_deflate_bomb_is_refused() -> None:
    payload = b"\x10\x00\x10\x00\x00\x00\x80\x00" + b"A" * (8 << 20)
    bomb = deflate(payload)
    assert len(bomb) < 20_000
    with pytest.raises(DataError, match="inflates beyond 1048576 bytes"):
        decode_identifier(bomb, DEFLATED_EXPLICIT_VR_LE, max_size=1 << 20)


def test_corrupt_and_truncated_deflate_raise_data_error() -> None:
    deflated = encode_identifier(mwl_identifier(), DEFLATED_EXPLICIT_VR_LE)
    with pytest.raises(DataError, match="truncated"):
        decode_identifier(deflated[: len(deflated) // 2], DEFLATED_EXPLICIT_VR_LE)
    with pytest.raises(DataError, match="corrupt"):
        decode_identifier(b"\xff" * 16, DEFLATED_EXPLICIT_VR_LE)


def test_unsupported_transfer_syntax_is_named() -> None:
    with pytest.raises(DataError, match=r"1\.2\.840\.10008\.1\.2\.4\.50"):
        encode_identifier(mwl_identifier(), "1.2.840.10008.1.2.4.50")
    with pytest.raises(DataError, match="not supported"):
        decode_identifier(b"", "1.2.3")


@pytest.mark.filterwarnings("ignore:Failed to encode value:UserWarning")
@pytest.mark.filterwarnings("ignore:With tag .* got exception.:UserWarning")
@pytest.mark.filterwarnings("ignore:A value of type .str. cannot be assigned:UserWarning")
def test_unencodable_dataset_raises_data_error() -> None:
    ds = Dataset()
    ds.Rows = "not a number"
    with pytest.raises(DataError, match="cannot encode"):
        encode_identifier(ds, EXPLICIT_VR_LE)


# ----------------------------------------------------------------------------- DCMTK

needs_dcmtk = pytest.mark.skipif(
    not (DUMP2DCM.exists() and DCMDUMP.exists()), reason="DCMTK not installed"
)

DUMP = """\
(0008,0005) CS [ISO_IR 192]
(0010,0010) PN [Müller^Jürgen=山田^太郎]
(0010,0020) LO [PID-1]
(0040,0100) SQ (Sequence)
(fffe,e000) na (Item)
(0008,0060) CS [CT]
(0040,0001) AE [CT01]
(fffe,e00d) na
(fffe,e0dd) na
"""
DCMTK_FLAGS = {
    IMPLICIT_VR_LE: "+ti",
    EXPLICIT_VR_LE: "+te",
    EXPLICIT_VR_BE: "+tb",
    DEFLATED_EXPLICIT_VR_LE: "+td",
}


def run_dcmtk(*args: str | Path) -> str:
    env = {**os.environ, "TCP_NODELAY": "1"}
    done = subprocess.run(
        [str(arg) for arg in args], capture_output=True, timeout=30, check=True, env=env
    )
    return done.stdout.decode("utf-8", "replace")


@pytest.mark.interop
@needs_dcmtk
@ALL_SYNTAXES
@pytest.mark.parametrize("lengths", ["+e", "-e"])
def test_decodes_data_sets_written_by_dcmtk(
    tmp_path: Path, transfer_syntax: str, lengths: str
) -> None:
    dump = tmp_path / "in.dump"
    dump.write_text(DUMP, encoding="utf-8")
    out = tmp_path / "out.bin"
    run_dcmtk(DUMP2DCM, "-F", DCMTK_FLAGS[transfer_syntax], lengths, dump, out)
    ds = decode_identifier(out.read_bytes(), transfer_syntax)
    assert str(ds.PatientName) == "Müller^Jürgen=山田^太郎"
    assert ds.PatientID == "PID-1"
    assert ds.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "CT01"


@pytest.mark.interop
@needs_dcmtk
@pytest.mark.parametrize("transfer_syntax", [IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE])
def test_dcmtk_reads_what_we_encode(tmp_path: Path, transfer_syntax: str) -> None:
    path = tmp_path / "ours.bin"
    path.write_bytes(encode_identifier(mwl_identifier(), transfer_syntax))
    flag = DCMTK_FLAGS[transfer_syntax].replace("+", "-")
    dumped = run_dcmtk(DCMDUMP, "-f", flag, "+U8", path)
    assert "Müller^Jürgen" in dumped
    assert "Thorax ärztlich" in dumped
    assert "(0040,0001) AE [CT01]" in dumped
    assert "error" not in dumped.lower()
