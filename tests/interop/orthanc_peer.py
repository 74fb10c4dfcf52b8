"""A real Orthanc (Debian package ``orthanc``) for the interop tests.

:func:`orthanc` writes a CONFIG.json into a temporary folder (own storage, index and
worklist folders, free loopback ports, the ModalityWorklists plugin), starts
``/usr/sbin/Orthanc`` in the foreground, waits until a C-ECHO succeeds and stops the
process by PID afterwards. Worklist items are ``.wl`` files written with pydicom; Study
Root data is uploaded through Orthanc's REST API (``POST /instances``).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from tests.clients.peers import DCMTK_ENV, free_port, stop_process

ORTHANC = Path("/usr/sbin/Orthanc")
WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
ECHOSCU = "/usr/bin/echoscu"
ORTHANC_AE = "ORTHANC"
OUR_AE = "AIODICOM"
DCMTK_AE = "FINDSCU"
WORKLIST_SOP_CLASS = "1.2.840.10008.5.1.4.31"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
START_SECONDS = 20.0

requires_orthanc = pytest.mark.skipif(
    not ORTHANC.exists(),
    reason="Orthanc is not installed: apt-get install orthanc (Debian package 'orthanc')",
)


@dataclass
class OrthancPeer:
    """A running Orthanc: DICOM and HTTP ports on 127.0.0.1, its worklist folder."""

    dicom_port: int
    http_port: int
    worklist_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    ae_title: str = ORTHANC_AE

    def log(self) -> str:
        """What Orthanc printed so far."""
        return self.log_path.read_text(errors="replace")

    def upload(self, ds: Dataset) -> str:
        """Store ``ds`` through the REST API (POST /instances); Orthanc's status text."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/instances",
            data=file_bytes(ds, SECONDARY_CAPTURE),
            method="POST",
            headers={"Content-Type": "application/dicom"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.loads(response.read())["Status"])

    def add_worklist_item(self, ds: Dataset, name: str) -> Path:
        """Write ``ds`` as ``<name>.wl`` into the plugin's worklist folder."""
        path = self.worklist_dir / f"{name}.wl"
        path.write_bytes(file_bytes(ds, WORKLIST_SOP_CLASS))
        return path


def file_bytes(ds: Dataset, sop_class: str) -> bytes:
    """``ds`` as a DICOM Part 10 file (Explicit VR Little Endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(
        getattr(ds, "SOPInstanceUID", None) or "1.2.826.0.1.3680043.10.1450.77"
    )
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def orthanc_config(
    root: Path,
    dicom_port: int,
    http_port: int,
    *,
    check_called_aet: bool,
    extra_modalities: Mapping[str, list[object]] | None = None,
) -> dict[str, object]:
    """The CONFIG.json content: everything in ``root``, loopback only, worklists on;
    ``extra_modalities`` are peers Orthanc may send to or query (``/modalities/{id}``)."""
    modalities: Mapping[str, list[object]] = {
        OUR_AE: [OUR_AE, "127.0.0.1", free_port()],
        DCMTK_AE: [DCMTK_AE, "127.0.0.1", free_port()],
        **(extra_modalities or {}),
    }
    return {
        "Name": "aiodicom-interop",
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAet": ORTHANC_AE,
        "DicomCheckCalledAet": check_called_aet,
        "DicomModalities": modalities,
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
        "Plugins": [str(WORKLIST_PLUGIN)],
        "Worklists": {"Enable": True, "Database": str(root / "worklists")},
    }


def echo_ok(port: int) -> bool:
    """True when /usr/bin/echoscu gets a C-ECHO success from the peer."""
    cmd = [ECHOSCU, "-aet", OUR_AE, "-aec", ORTHANC_AE, "-to", "2", "127.0.0.1", str(port)]
    try:
        done = subprocess.run(cmd, env=DCMTK_ENV, capture_output=True, timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def wait_ready(peer: OrthancPeer, seconds: float = START_SECONDS) -> None:
    """Wait (bounded) until Orthanc answers a C-ECHO; fail with its log otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if peer.proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {peer.proc.returncode}:\n{peer.log()}")
        if echo_ok(peer.dicom_port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"Orthanc did not answer C-ECHO within {seconds} s:\n{peer.log()}")


@contextlib.contextmanager
def orthanc(
    root: Path,
    *,
    check_called_aet: bool = False,
    extra_modalities: Mapping[str, list[object]] | None = None,
) -> Iterator[OrthancPeer]:
    """Orthanc with its own CONFIG.json, storage and worklist folders under ``root``."""
    for folder in ("storage", "index", "worklists"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    config = orthanc_config(
        root,
        dicom_port,
        http_port,
        check_called_aet=check_called_aet,
        extra_modalities=extra_modalities,
    )
    config_path = root / "CONFIG.json"
    config_path.write_text(json.dumps(config, indent=2))
    log_path = root / "orthanc.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ORTHANC), str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=root
        )
        try:
            peer = OrthancPeer(dicom_port, http_port, root / "worklists", proc, log_path)
            wait_ready(peer)
            yield peer
        finally:
            stop_process(proc, 10)
