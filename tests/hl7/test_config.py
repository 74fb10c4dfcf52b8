"""The ``hl7:`` config section and its flags: off by default, loopback unless senders
are named, mapping entries checked at start, errors naming the key or flag."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aiodicom.config import load_worklist_config
from aiodicom.errors import ConfigError
from servers.worklist.__main__ import build_config, parse_args


def _config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "data" / "WLMSCP").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "worklist.yaml"
    path.write_text("worklist:\n  data: data\n" + text, encoding="utf-8")
    return path


def test_off_by_default_and_on_with_the_flag(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    assert load_worklist_config(path).hl7.port is None
    config = build_config(parse_args(["--config", str(path), "--hl7-port", "2575"]))
    assert config.hl7.port == 2575 and config.hl7.host == "127.0.0.1"


def test_full_section(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "hl7:\n  port: 2575\n  host: 0.0.0.0\n  allowed_senders: [10.1.2.3, 10.9.0.0/16]\n"
        "  stations: {CT01: CTSCP}\n  mapping: {AccessionNumber: 'OBR-2.1, OBR-18'}\n",
    )
    hl7 = load_worklist_config(path).hl7
    assert hl7.stations == {"CT01": "CTSCP"}
    assert hl7.mapping == {"AccessionNumber": "OBR-2.1, OBR-18"}
    assert hl7.allowed_senders == ("10.1.2.3", "10.9.0.0/16")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("hl7:\n  port: 2575\n  host: 0.0.0.0\n", "hl7.host"),
        ("hl7:\n  port: 70000\n", "hl7.port"),
        ("hl7:\n  allowed_senders: [not-an-address]\n", "hl7.allowed_senders[0]"),
        ("hl7:\n  mapping: {AccessionNumber: 'OBR18'}\n", "hl7.mapping"),
        ("hl7:\n  mapping: {NoSuchKeyword: 'OBR-18'}\n", "hl7.mapping"),
        ("hl7:\n  mapping: {PatientName: 'PID-5:nosuchkind'}\n", "hl7.mapping"),
        ("hl7:\n  stations: {CT01: 'A TITLE LONGER THAN 16'}\n", "hl7.stations.CT01"),
        ("hl7:\n  stations: [CT01]\n", "hl7.stations"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_worklist_config(_config(tmp_path, text))
    assert caught.value.key == key


def test_flag_is_blamed_for_a_non_loopback_host(tmp_path: Path) -> None:
    args = parse_args(["--config", str(_config(tmp_path, "")), "--hl7-port", "1",
                       "--hl7-host", "0.0.0.0"])  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        build_config(args)
    assert caught.value.key == "--hl7-host"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("aiodicom-worklist")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_refused_starts_exit_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "WLMSCP").mkdir()
    workers = _run("--data", str(tmp_path), "--no-http", "--workers", "2", "--hl7-port", "0")
    assert workers.returncode == 2 and "HL7 listener" in workers.stderr, workers.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = _run("--data", str(tmp_path), "--no-http", "--port", "0", "--hl7-port", port)
    assert busy.returncode == 2, busy.stderr
    assert f"port {port} (HL7 port: --hl7-port or hl7.port)" in busy.stderr
