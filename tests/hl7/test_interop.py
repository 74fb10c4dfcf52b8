"""A real sender we did not write (the ``hl7`` package's ``mllp_send``) against a real
``aiodicom-worklist`` process, and DCMTK ``findscu`` seeing each order after its ACK.

The server runs with ``--no-watch``: the order is visible because the feed reloads the
store before it acknowledges, not because a file watcher happened to be quick.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.peers import DCMTK_ENV, FINDSCU, free_port, stop_process, wait_listening
from tests.hl7.messages import omi, orm

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which(FINDSCU) is None, reason="DCMTK findscu not installed"),
]
BIN = Path(sys.executable).parent
MLLP_SEND = BIN / "mllp_send"


class Server:
    def __init__(self, root: Path) -> None:
        (root / "data" / "WLMSCP").mkdir(parents=True)
        self.root = root
        self.dicom_port, self.hl7_port = free_port(), free_port()
        self.log = root / "server.log"
        args = [
            str(BIN / "aiodicom-worklist"), "--data", str(root / "data"), "--no-http",
            "--no-watch", "--port", str(self.dicom_port), "--hl7-port", str(self.hl7_port),
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_listening(self.hl7_port, self.proc)
        wait_listening(self.dicom_port, self.proc)

    def mllp_send(self, *messages: str) -> list[str]:
        """``mllp_send -f FILE`` (MLLP-framed messages in a file); its printed ACKs."""
        path = self.root / "orders.hl7"
        path.write_bytes(b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in messages))
        done = subprocess.run(
            [str(MLLP_SEND), "-p", str(self.hl7_port), "-f", str(path), "127.0.0.1"],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return [ack for ack in done.stdout.decode().split("\n") if ack.strip()]

    def findscu(self, patient_id: str) -> list[str]:
        """DCMTK findscu -W for one patient: the PatientName lines of its answers."""
        args = [FINDSCU, "-W", "-v", "-aec", "WLMSCP", "127.0.0.1", str(self.dicom_port),
                "-k", f"PatientID={patient_id}", "-k", "PatientName",
                "-k", "(0040,0100)[0].ScheduledProcedureStepStatus"]  # fmt: skip
        done = subprocess.run(args, capture_output=True, timeout=30, env=DCMTK_ENV, check=False)
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        assert done.returncode == 0 and "Final Find Response" in text, text
        answers = text.partition("Find Response:")[2]  # after the request's own dump
        return [
            line for line in answers.splitlines() if "(0010,0010)" in line or "(0040,0020)" in line
        ]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    try:
        yield running
    finally:
        stop_process(running.proc)


def test_mllp_send_orders_seen_by_findscu(server: Server) -> None:
    (ack,) = server.mllp_send(orm())
    acked = time.perf_counter()
    assert "MSA|AA|" in ack, ack
    lines = server.findscu("PAT1001")
    assert time.perf_counter() - acked < 1.0
    assert any("Doe^Jane^Q" in line for line in lines), lines
    acks = server.mllp_send(orm("DC"), omi(), omi("XO", name="Roe^Richard"))
    assert [a.split("MSA|")[1][:2] for a in acks] == ["AA", "AA", "AA"], acks
    assert any("DISCONTINUED" in line for line in server.findscu("PAT1001"))
    assert any("Roe^Richard" in line for line in server.findscu("PAT2001"))
    (cancel,) = server.mllp_send(omi("CA"))
    assert "MSA|AA|" in cancel
    assert server.findscu("PAT2001") == []


def test_errors_are_answered_and_logged(server: Server) -> None:
    acks = server.mllp_send(orm(pid3=""), orm("ZZ"), "garbage|that is not HL7", orm())
    codes = [ack.split("MSA|")[1][:2] for ack in acks]
    assert codes == ["AE", "AE", "AR", "AA"], acks
    assert "ERR|PID^1^3^101" in acks[0]
    stop_process(server.proc)
    log = server.log.read_text()
    assert log.count("hl7 message") == 4, log  # one info line per message
