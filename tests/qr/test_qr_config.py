"""config/qrscp.yaml loading and the aiodicom-qrscp command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiodicom.config import load_qr_config
from aiodicom.errors import ConfigError
from servers.qrscp.__main__ import build_config, parse_args
from tests.clients.peers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_config_loads() -> None:
    config = load_qr_config(ROOT / "config" / "qrscp.yaml")
    assert config.server.port == 11113 and config.server.ae_title == "QRSCP"
    assert config.qr.data == (ROOT / "config" / "qr-data").resolve()
    assert config.qr.data.is_dir()
    assert config.index_path().suffix == ".sqlite"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("qr:\n  max_matches: -1\n", "qr.max_matches"),
        ("qr:\n  batch: 3\n", "qr.batch"),
        ("server:\n  ae_title: THIS_TITLE_IS_TOO_LONG\n", "server.ae_title"),
        ("matching:\n  pn_case_sensitive: maybe\n", "matching.pn_case_sensitive"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "qrscp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_qr_config(path)
    assert info.value.key == key and info.value.file == str(path)


def test_command_line_overrides(tmp_path: Path) -> None:
    flags = ["--port", "4242", "--ae-title", "MYQR", "--no-watch"]
    args = parse_args(["--data", str(tmp_path), *flags])
    config = build_config(args)
    assert (config.server.port, config.server.ae_title) == (4242, "MYQR")
    assert config.qr.data == tmp_path.resolve() and not config.qr.watch
    default = build_config(parse_args([]))  # the bundled sample's working copy
    xdg = Path(os.environ["XDG_DATA_HOME"])  # a folder of this run (tests/conftest.py)
    assert default.qr.data == xdg / "aiodicom" / "qr-data"
    assert (default.qr.data / "PID000000").is_dir()
    assert not default.qr.data.is_relative_to((ROOT / "config").resolve())


@pytest.mark.interop
def test_cli_serves_the_sample_folder(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TCP_NODELAY="1")
    cmd = [
        sys.executable,
        "-m",
        "servers.qrscp",
        "--port",
        str(port),
        "--index",
        str(tmp_path / "i.sqlite"),
        "--reindex",
        "--no-watch",
    ]
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        done = subprocess.run(
            [
                "/usr/bin/findscu",
                "-S",
                "-aec",
                "QRSCP",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                "StudyInstanceUID",
                "-X",
                "-od",
                str(tmp_path),
                "127.0.0.1",
                str(port),
            ],
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert len(list(tmp_path.glob("rsp*.dcm"))) == 8
    finally:
        stop_process(proc, 10)


def test_index_may_name_a_postgresql_database(tmp_path: Path) -> None:
    """``qr.index`` / ``--index``: a URL stays a URL (never a path relative to the file)."""
    url = "postgresql://qr@db1:5432/qr"
    path = tmp_path / "qrscp.yaml"
    path.write_text(f"qr:\n  index: {url}\n  data: data\n")
    config = load_qr_config(path)
    assert config.index_url() == url
    sqlite = load_qr_config(ROOT / "config" / "qrscp.yaml")
    assert sqlite.index_url() is None and sqlite.index_path().suffix == ".sqlite"
    flagged = build_config(parse_args(["--data", str(tmp_path), "--index", url]))
    assert flagged.index_url() == url
    relative = build_config(parse_args(["--data", str(tmp_path), "--index", "i.sqlite"]))
    assert relative.index_url() is None and relative.index_path().is_absolute()
