"""aiodicom-qrscp with no ``--data``: the bundled sample, served from a working copy.

C-STORE writes into the data folder (``<data>/received``), and a server never writes
into its installed package: the sample is copied to ``$XDG_DATA_HOME/aiodicom/qr-data``
on first use (servers/qrscp/sample.py) and served from there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from aiodicom.testing.qr_sample import SampleShape, write_sample
from servers.qrscp import sample
from servers.qrscp.__main__ import build_config, parse_args
from tests.clients.peers import DCMTK_ENV, free_port, stop_process, wait_listening

QRSCP = Path(sys.executable).with_name("aiodicom-qrscp")
ONE = SampleShape(patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=2)


def _state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` (files and folders) with its size and mtime."""
    return {
        str(path.relative_to(folder)): (stat.st_size, stat.st_mtime_ns)
        for path in folder.rglob("*")
        for stat in (path.stat(),)
    }


def test_defaults_serve_and_store_into_a_working_copy_never_the_package(tmp_path: Path) -> None:
    package = sample.template_folder()
    before = _state(package)
    send = tmp_path / "send"
    write_sample(send, ONE)
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    log = (tmp_path / "qrscp.log").open("wb")
    server = subprocess.Popen([str(QRSCP), "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_listening(port, server, 30.0)
        sent = subprocess.run(
            ["/usr/bin/storescu", "-aec", "QRSCP", "+sd", "+r", "127.0.0.1", str(port), str(send)],
            env=DCMTK_ENV, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
    finally:
        stop_process(server, 10)
        log.close()
    copy = tmp_path / "xdg" / "aiodicom" / "qr-data"
    received = sorted((copy / "received").rglob("*.dcm"))
    assert len(received) == ONE.total_instances
    uids = {str(dcmread(path).SOPInstanceUID) for path in send.rglob("*.dcm")}
    assert {path.stem for path in received} == uids
    bundled = {p.relative_to(package) for p in package.rglob("*.dcm")}
    assert bundled and bundled <= {p.relative_to(copy) for p in copy.rglob("*.dcm")}
    assert _state(package) == before  # nothing written under the package folder
    assert not (package / "received").exists()


def test_naming_the_bundled_sample_gets_the_working_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    config = build_config(parse_args(["--data", str(sample.template_folder())]))
    assert config.qr.data == tmp_path / "xdg" / "aiodicom" / "qr-data"
    assert config.storage_folder() == config.qr.data / "received"
