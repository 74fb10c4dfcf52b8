"""The command lines of aiodicom-worklist and aiodicom-qrscp: same option, same name; a bad
flag value is blamed on the flag, not on the config file (#14.18, #14.19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiodicom.errors import ConfigError
from servers.qrscp import __main__ as qrscp
from servers.worklist import __main__ as worklist

ROOT = Path(__file__).resolve().parents[1]

BAD_FLAGS = [
    ["--port", "70000"],
    ["--ae-title", "A_TITLE_LONGER_THAN_16"],
    ["--max-matches", "0"],
    ["--max-associations", "0"],
]


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=lambda flags: flags[0])
def test_worklist_bad_flag_names_the_flag(flags: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        worklist.build_config(worklist.parse_args(flags))
    assert (info.value.key, info.value.file) == (flags[0], None)
    assert flags[1] in str(info.value) and "worklist.yaml" not in str(info.value)


def test_worklist_bad_http_port_names_the_flag() -> None:
    with pytest.raises(ConfigError) as info:
        worklist.build_config(worklist.parse_args(["--http-port", "70000"]))
    assert (info.value.key, info.value.file) == ("--http-port", None)


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=lambda flags: flags[0])
def test_qrscp_bad_flag_names_the_flag(flags: list[str], tmp_path: Path) -> None:
    if flags[0] == "--max-matches":
        flags = ["--max-matches", "-1"]  # 0 = unlimited for the Q/R SCP
    with pytest.raises(ConfigError) as info:
        qrscp.build_config(qrscp.parse_args(["--data", str(tmp_path), *flags]))
    assert (info.value.key, info.value.file) == (flags[0], None)
    assert flags[1] in str(info.value)


def test_a_bad_file_value_is_still_blamed_on_the_file(tmp_path: Path) -> None:
    config = tmp_path / "worklist.yaml"
    config.write_text("server:\n  port: 70000\n")
    with pytest.raises(ConfigError) as info:
        worklist.build_config(worklist.parse_args(["--config", str(config)]))
    assert (info.value.key, info.value.file) == ("server.port", str(config))


def test_cli_reports_the_flag_on_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servers.worklist", "--port", "70000", "--no-http"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "aiodicom-worklist: --port: expected a value from 0 to 65535, got 70000"
    )


def test_same_options_in_both_servers(tmp_path: Path) -> None:
    common = ["--ae-title", "SAMEAE", "--max-matches", "7", "--max-associations", "3"]
    wl = worklist.build_config(worklist.parse_args([*common, "--no-http"]))
    qr = qrscp.build_config(qrscp.parse_args(["--data", str(tmp_path), *common]))
    for config in (wl, qr):
        assert config.server.ae_title == "SAMEAE"
        assert config.server.max_associations == 3
    assert wl.worklist.max_matches == 7 and qr.qr.max_matches == 7


def test_qrscp_aet_is_a_deprecated_hidden_alias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = qrscp.build_config(qrscp.parse_args(["--data", str(tmp_path), "--aet", "OLDQR"]))
    assert config.server.ae_title == "OLDQR"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--aet" in err[0] and "--ae-title" in err[0]
    assert "deprecated" in err[0]
    assert "--aet" not in _help("servers.qrscp")


def _help(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--help"], env={**os.environ, "COLUMNS": "200"},
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def _option_help(text: str, option: str) -> str:
    """The help of one option in ``--help`` output (its line and continuation lines)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option + " "))
    words = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip().startswith("-") or not line.startswith("    "):
            break
        words.append(line)
    return " ".join(" ".join(words).split())


def test_help_says_what_workers_need() -> None:
    assert "--no-http" in _option_help(_help("servers.worklist"), "--workers")
    qr_help = _option_help(_help("servers.qrscp"), "--workers")
    assert "1" in qr_help and "index" in qr_help


def test_qrscp_missing_data_folder_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        qrscp.build_config(qrscp.parse_args(["--data", str(tmp_path / "nowhere")]))
    assert (info.value.key, info.value.file) == ("--data", None)
