"""``--data`` must name the folder that holds one sub-folder per AE title (#14.14).

Pointing it at an AE folder itself used to start a server with no AE titles that
rejected every association (called AE title not recognized, PS3.8 9.3.4) without a word.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aiodicom.errors import ConfigError
from servers.worklist import __main__ as worklist
from tests.clients.peers import free_port
from tests.webapi.helpers import make_data

ROOT = Path(__file__).resolve().parents[1]


def _check(*flags: str) -> str | None:
    args = worklist.parse_args([*flags, "--no-http"])
    return worklist.check_data_folder(worklist.build_config(args), args)


def test_an_ae_folder_given_as_data_is_refused_naming_the_fix(tmp_path: Path) -> None:
    make_data(tmp_path, 2)
    with pytest.raises(ConfigError) as info:
        _check("--data", str(tmp_path / "WLMSCP"))
    assert (info.value.key, info.value.file) == ("--data", None)
    message = str(info.value)
    assert f"--data {tmp_path}" in message and "WLMSCP" in message


def test_an_ae_folder_in_the_config_file_names_the_key(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    config = tmp_path / "worklist.yaml"
    config.write_text("worklist:\n  data: WLMSCP\n")
    with pytest.raises(ConfigError) as info:
        _check("--config", str(config))
    assert (info.value.key, info.value.file) == ("worklist.data", str(config))


def test_a_missing_data_folder_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _check("--data", str(tmp_path / "nowhere"))
    assert (info.value.key, info.value.file) == ("--data", None)


def test_an_empty_data_folder_warns(tmp_path: Path) -> None:
    warning = _check("--data", str(tmp_path))
    assert warning is not None and "no AE" in warning and str(tmp_path) in warning
    make_data(tmp_path, 1)
    assert _check("--data", str(tmp_path)) is None


def test_loose_items_beside_ae_folders_warn(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    (tmp_path / "stray.yaml").write_text("PatientID: X\n")
    warning = _check("--data", str(tmp_path))
    assert warning is not None and "stray.yaml" in warning


def test_cli_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    done = subprocess.run(
        [sys.executable, "-m", "servers.worklist", "--data", str(tmp_path / "WLMSCP"),
         "--no-http", "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--data" in lines[0] and "AE" in lines[0], done.stderr
