"""The pynetdicom MWL + MPPS SCP of bench/pynetdicom_mpps_scp.py as a test peer.

It runs as a subprocess on a free loopback port, answers C-FIND from worklist items the
test writes and records every C-FIND, N-CREATE and N-SET it receives (DICOM JSON), so a
test checks the exact data sets. Stopped by PID.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from aiodicom.worklist.sample import write_item

from .peers import free_port, stop_process, wait_listening

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "pynetdicom_mpps_scp.py"
MODALITY_SCRIPT = Path(sys.executable).with_name("aiodicom-modality")
SCP_AE = "MPPSSCP"


def today() -> str:
    return datetime.date.today().strftime("%Y%m%d")


def scheduled_item(index: int, station: str, date: str | None = None, time: str = "080000",
                   modality: str = "CT") -> Dataset:  # fmt: skip
    """A worklist item (PS3.4 K.6.1.2) with one step for ``station``."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = f"DOE^JANE{index:03d}"
    ds.PatientID = f"PID{index:04d}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = generate_uid(prefix=None)  # 2.25.x: room for the file's .1
    ds.AccessionNumber = f"ACC{index:05d}"
    ds.RequestedProcedureID = f"RP{index:04d}"
    ds.RequestedProcedureDescription = "CT HEAD"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "CTHD", "99LOCAL", "CT head"
    ds.RequestedProcedureCodeSequence = DicomSequence([code])
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = ds.StudyInstanceUID
    ds.ReferencedStudySequence = DicomSequence([ref])
    step = Dataset()
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = date or today()
    step.ScheduledProcedureStepStartTime = time
    step.Modality = modality
    step.ScheduledProcedureStepID = f"SPS{index:04d}"
    step.ScheduledProcedureStepDescription = "HEAD PLAIN"
    protocol = Dataset()
    protocol.CodeValue, protocol.CodingSchemeDesignator = "P1", "99LOCAL"
    protocol.CodeMeaning = "Head plain"
    step.ScheduledProtocolCodeSequence = DicomSequence([protocol])
    ds.ScheduledProcedureStepSequence = DicomSequence([step])
    return ds


def write_items(folder: Path, items: Sequence[Dataset]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, item in enumerate(items):
        write_item(item, folder / f"item{index:04d}.wl", with_meta=True)
    return folder


@dataclass(frozen=True, slots=True)
class MppsPeer:
    """A running pynetdicom MWL + MPPS SCP."""

    port: int
    record: Path

    def requests(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The recorded requests (of one operation): ``operation``, ``calling_ae``,
        ``sop_instance_uid``, ``status`` and ``dataset`` (DICOM JSON, PS3.18 F.2)."""
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text().splitlines()]
        return [row for row in rows if operation is None or row["operation"] == operation]


@contextlib.contextmanager
def pynetdicom_mpps(tmp: Path, items: Sequence[Dataset], *extra: str) -> Iterator[MppsPeer]:
    """The SCP serving ``items``; ``extra`` options (e.g. ``--create-status 0x0110``)."""
    data = write_items(tmp / "wl", items)
    port = free_port()
    record = tmp / "requests.jsonl"
    cmd = [sys.executable, str(SCRIPT), "--data", str(data), "--port", str(port),
           "--ae-title", SCP_AE, "--record", str(record), *extra]  # fmt: skip
    log = (tmp / "scp.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, proc)
        yield MppsPeer(port, record)
    finally:
        stop_process(proc)
        log.close()


def run_modality(args: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """The ``aiodicom-modality`` console script with ``args``."""
    return subprocess.run(
        [str(MODALITY_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
