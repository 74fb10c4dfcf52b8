"""Malformed YAML names the file, line and column; a non-DICOM ``*.wl`` is called just
that, not an element overrunning the file (#14.20)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aiodicom.config import load_qr_config, load_worklist_config
from aiodicom.dicom.reader import parse_file_bytes
from aiodicom.errors import ConfigError, DataError
from aiodicom.store.qr_files import parse_file
from aiodicom.store.worklist_loader import load_dicom_bytes, load_yaml_bytes

BROKEN = "server:\n  port: 11112\n  ae_title: [WLMSCP\nworklist: {}\n"  # unclosed [ at 3:13


@pytest.mark.parametrize("load", [load_worklist_config, load_qr_config])
def test_config_yaml_error_gives_file_line_and_column(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    path = tmp_path / "server.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 4, column 9: ")
    assert "line 3, column 13" in message  # where the unclosed flow sequence started
    assert "\n" not in message


def test_yaml_item_error_gives_line_and_column() -> None:
    with pytest.raises(DataError) as info:
        load_yaml_bytes("AE/item.yaml", b"PatientID: P1\nPatientName: : x\n", (0, 0, 0))
    assert info.value.path == "AE/item.yaml"
    assert info.value.reason.startswith("bad YAML: line 2, column 14: ")


@pytest.mark.parametrize(
    "data",
    [b"not a worklist file, just some text\n" * 4, b"\x89PNG\r\n\x1a\n" + bytes(range(256))],
    ids=["text", "binary"],
)
def test_non_dicom_wl_is_not_a_dicom_file(data: bytes) -> None:
    with pytest.raises(DataError) as info:
        load_dicom_bytes("AE/item.wl", data, (0, 0, 0))
    assert info.value.reason.startswith("not a DICOM file")
    assert "overruns" not in info.value.reason


def test_a_truncated_dicom_file_still_says_what_is_wrong() -> None:
    ds = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100" + b"\x10\x00\x10\x00PN\x40\x00Short"
    with pytest.raises(DataError) as info:
        parse_file_bytes(ds, "AE/cut.wl")
    assert "overruns" in info.value.reason


def test_non_dicom_file_in_qr_folder_is_not_a_dicom_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_bytes(b"not a DICOM file, just text\n" * 3)
    with pytest.raises(DataError) as info:
        parse_file(str(path))
    assert info.value.reason.startswith("not a DICOM file")
