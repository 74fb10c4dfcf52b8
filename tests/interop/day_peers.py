"""A real ``aiodicom-worklist`` process (MWL + MPPS, HTTP API, HL7 listener, each on a
free loopback port, its own data folder) and the tools that talk to it as a site would:
the ``hl7`` package's ``mllp_send`` (the RIS), ``aiodicom-modality`` (the modalities),
DCMTK ``findscu`` and ``GET /api/mpps``. Every process is started here and stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydicom import Dataset

from tests.clients.peers import free_port, stop_process, wait_listening
from tests.interop.worklist_peers import findscu

BIN = Path(sys.executable).parent
AE = "WLMSCP"
STEP_KEYS = [
    "PatientName",
    "PatientID",
    "AccessionNumber",
    "(0040,0100)[0].ScheduledStationAETitle",
    "(0040,0100)[0].ScheduledProcedureStepID",
    "(0040,0100)[0].ScheduledProcedureStepStatus",
]


class WorklistProcess:
    """``aiodicom-worklist`` on ``root/data`` with further flags ``options``; :meth:`start`
    again after :meth:`stop` serves the same data on the same ports."""

    def __init__(self, root: Path, *options: str) -> None:
        self.root = root
        self.options = options
        self.data = root / "data"
        (self.data / AE).mkdir(parents=True, exist_ok=True)
        self.log = root / "server.log"
        self.dicom_port, self.http_port, self.hl7_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        args = [str(BIN / "aiodicom-worklist"), "--data", str(self.data), "--ae-title", AE,
                "--port", str(self.dicom_port), "--http-port", str(self.http_port),
                "--hl7-port", str(self.hl7_port), "--shutdown-deadline", "2", "--no-audit",
                *self.options]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        for port in (self.dicom_port, self.http_port, self.hl7_port):
            wait_listening(port, self.process, 30)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` to the process this test started; its exit status."""
        assert self.process is not None
        os.kill(self.process.pid, signum)
        code = self.process.wait(20)
        self.process = None
        return code

    def close(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    async def mllp_send(self, messages: Sequence[str]) -> list[str]:
        """``mllp_send -f FILE`` of MLLP-framed ``messages`` on one connection; its ACKs."""
        path = self.root / "orders.hl7"
        path.write_bytes(b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in messages))
        args = [str(BIN / "mllp_send"), "-p", str(self.hl7_port), "-f", str(path), "127.0.0.1"]
        done = await asyncio.to_thread(
            subprocess.run, args, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return [ack for ack in done.stdout.decode().split("\n") if ack.strip()]

    async def findscu(self, out: Path) -> list[Dataset]:
        """DCMTK ``findscu -W`` with universal matching: every step of the worklist."""
        answers, log = await findscu(self.dicom_port, STEP_KEYS, out)
        assert "Final Find Response (Success)" in log, log
        return answers

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession(self.base) as http, http.get(path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def mpps(self) -> list[dict[str, Any]]:
        """``GET /api/mpps``: every MPPS instance, sorted by SOP Instance UID."""
        listed = await self.get("/api/mpps")
        assert listed["total"] == len(listed["mpps"])
        return sorted(listed["mpps"], key=lambda row: str(row["sop_instance_uid"]))


def step_states(answers: Sequence[Dataset]) -> dict[str, str]:
    """Scheduled Procedure Step ID -> its status, of C-FIND answers."""
    steps = [answer.ScheduledProcedureStepSequence[0] for answer in answers]
    return {str(s.ScheduledProcedureStepID): str(s.ScheduledProcedureStepStatus) for s in steps}


@dataclass
class ModalityRun:
    """One ``aiodicom-modality`` process (one station), writing its JSON report."""

    process: asyncio.subprocess.Process
    report_path: Path

    async def finish(self, signum: int | None = None, seconds: float = 60.0) -> ModalityResult:
        """Wait (at most ``seconds``) for the run's end, after ``signum`` when given; its
        exit status and report."""
        if signum is not None:
            self.process.send_signal(signum)
        try:
            output, _ = await asyncio.wait_for(self.process.communicate(), seconds)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        report = json.loads(self.report_path.read_text())
        return ModalityResult(self.process.returncode or 0, report, output.decode())


@dataclass(frozen=True)
class ModalityResult:
    returncode: int
    report: dict[str, Any]
    output: str

    @property
    def totals(self) -> dict[str, int]:
        return dict(self.report["totals"])


async def start_modality(
    server: WorklistProcess, station: str, report: Path, *options: str
) -> ModalityRun:
    """``aiodicom-modality`` for ``station`` against ``server`` (MWL and MPPS)."""
    args = [str(BIN / "aiodicom-modality"), "127.0.0.1", str(server.dicom_port), "-aec", AE,
            "--station-ae", station, "--report", str(report), "--no-table", "--timeout", "10s",
            *options]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    return ModalityRun(process, report)
