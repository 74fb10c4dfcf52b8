"""Real DCMTK peers for the client tests: wlmscpfs (worklist) and dcmqrscp (Q/R).

Each peer runs on a free loopback port, is started by the test and stopped by PID.
Worklist and Q/R data files are generated with pydicom.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

WLMSCPFS = "/usr/bin/wlmscpfs"
DCMQRSCP = "/usr/bin/dcmqrscp"
DCMQRIDX = "/usr/bin/dcmqridx"
FINDSCU = "/usr/bin/findscu"
WORKLIST_AE = "WLAE"
QR_AE = "QRSCP"
MODALITIES = ("CT", "MR", "US")
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
FINDSCU_SCRIPT = Path(sys.executable).with_name("aiodicom-findscu")


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    """Wait until ``port`` accepts connections (the peer is up) or fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"peer did not listen on port {port} within {seconds} s")


def stop_process(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    """Terminate a still running process we started (by PID); kill it after ``seconds``.
    Its pipes are closed either way."""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def findscu_json(options: Sequence[str], keys: Sequence[str], port: int) -> list[dict[str, Any]]:
    """Run the aiodicom-findscu console script with ``--json`` against 127.0.0.1:``port``.

    ``options`` go before the ``-k`` keys; the exit code must be 0. Returns one DICOM
    JSON object (PS3.18 F.2) a printed line.
    """
    args = [arg for key in keys for arg in ("-k", key)]
    done = subprocess.run(
        [str(FINDSCU_SCRIPT), "--json", *options, *args, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@dataclass
class Peer:
    """A running DCMTK peer."""

    port: int
    ae_title: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the peer printed so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running(cmd: Sequence[str], port: int, ae: str, log_path: Path) -> Iterator[Peer]:
    """Start ``cmd``, wait for ``port``, and terminate it (by PID) afterwards."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=DCMTK_ENV)
        try:
            wait_listening(port, proc)
            yield Peer(port, ae, proc, log_path)
        finally:
            stop_process(proc)


def worklist_item(index: int) -> Dataset:
    """A Modality Worklist item (PS3.4 K.6.1.2): patient, accession and one SPS."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = f"DOE^JOHN{index:03d}"
    ds.PatientID = f"P{index:04d}"
    ds.PatientBirthDate = f"19{50 + index % 50:02d}0101"
    ds.PatientSex = "MF"[index % 2]
    ds.AccessionNumber = f"ACC{index:05d}"
    ds.StudyInstanceUID = generate_uid()
    ds.RequestedProcedureID = f"RP{index}"
    step = Dataset()
    step.Modality = MODALITIES[index % len(MODALITIES)]
    step.ScheduledStationAETitle = f"{step.Modality}1"
    step.ScheduledProcedureStepStartDate = f"202611{1 + index % 28:02d}"
    step.ScheduledProcedureStepStartTime = "080000"
    step.ScheduledProcedureStepID = f"SPS{index}"
    step.ScheduledPerformingPhysicianName = "SMITH^ANNA"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _save(ds: Dataset, path: Path, sop_class: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = getattr(ds, "SOPInstanceUID", None) or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def make_worklist_dir(root: Path, count: int) -> Path:
    """``root/WLAE/*.wl`` plus the lockfile wlmscpfs wants in each AE folder."""
    folder = root / WORKLIST_AE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lockfile").touch()
    for index in range(count):
        _save(worklist_item(index), folder / f"item{index:04d}.wl", "1.2.840.10008.5.1.4.31")
    return root


@contextlib.contextmanager
def wlmscpfs(tmp: Path, count: int = 5, extra: Sequence[str] = ()) -> Iterator[Peer]:
    """wlmscpfs serving ``count`` generated worklist items."""
    root = make_worklist_dir(tmp / "wl", count)
    port = free_port()
    cmd = [WLMSCPFS, "-v", *extra, "-dfp", str(root), "-dfr", str(port)]
    with running(cmd, port, WORKLIST_AE, tmp / "wlmscpfs.log") as peer:
        yield peer


def qr_image(patient: int, study: int, series: int, image: int) -> Dataset:
    """A tiny Secondary Capture image for the Q/R database (PS3.4 C.6 hierarchy)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = f"QR^PATIENT{patient}"
    ds.PatientID = f"QRP{patient}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.1450.9.{patient}.{study}"
    ds.StudyDate = f"2026110{1 + study}"
    ds.StudyTime = "101010"
    ds.StudyID = f"S{study}"
    ds.AccessionNumber = f"QA{patient}{study}"
    ds.SeriesInstanceUID = f"{ds.StudyInstanceUID}.{series}"
    ds.Modality = MODALITIES[series % len(MODALITIES)]
    ds.SeriesNumber = series + 1
    ds.InstanceNumber = image + 1
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = b"\x00\x01\x02\x03"
    return ds


def write_dcmqrscp_config(path: Path, port: int, ae_title: str, storage: Path) -> Path:
    """A dcmqrscp.cfg at ``path``: one read-only AE title on ``storage``, no host table."""
    path.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
        "HostTable BEGIN\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
        f"AETable BEGIN\n{ae_title} {storage} R (200, 1024mb) ANY\nAETable END\n"
    )
    return path


@contextlib.contextmanager
def dcmqrscp(tmp: Path, patients: int = 2, studies: int = 2) -> Iterator[Peer]:
    """dcmqrscp with an indexed database: patients x studies x 2 series x 2 images."""
    db = tmp / "qrdb"
    db.mkdir()
    files: list[str] = []
    for p in range(patients):
        for s in range(studies):
            for r in range(2):
                for i in range(2):
                    path = tmp / f"img_{p}_{s}_{r}_{i}.dcm"
                    _save(qr_image(p, s, r, i), path, "1.2.840.10008.5.1.4.1.1.7")
                    files.append(str(path.resolve()))
    subprocess.run([DCMQRIDX, str(db), *files], check=True, env=DCMTK_ENV, timeout=30)
    port = free_port()
    cfg = write_dcmqrscp_config(tmp / "dcmqrscp.cfg", port, QR_AE, db)
    with running([DCMQRSCP, "-c", str(cfg)], port, QR_AE, tmp / "dcmqrscp.log") as peer:
        yield peer


@contextlib.contextmanager
def pynetdicom_worklist_scp(ae_title: str, on_find: Any) -> Iterator[int]:
    """Yield the port of a pynetdicom worklist SCP (a thread of this process, free loopback
    port) whose C-FIND events go to ``on_find``; shut down after."""
    from pynetdicom import AE, evt

    ae = AE(ae_title=ae_title)
    ae.add_supported_context("1.2.840.10008.1.1")  # Verification
    ae.add_supported_context("1.2.840.10008.5.1.4.31")  # Modality Worklist FIND
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)]
    )
    assert server is not None
    try:
        yield port
    finally:
        server.shutdown()
