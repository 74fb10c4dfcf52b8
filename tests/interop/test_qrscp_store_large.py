"""A 500 MB instance streams to disk: aiodicom-qrscp's memory stays bounded.

The instance (a Secondary Capture with 500 MB of Pixel Data, written in 1 MB chunks to a
file under tmp, never held in memory) is sent by DCMTK storescu; the server's resident
set size is sampled from /proc while it arrives and must stay far below the instance's
size: the data set goes to the file fragment by fragment (PS3.8 E.2), never assembled.

On the SQLite index only: what it measures happens before the index is touched (the
fragments go to the temporary file; the index then gets one header's worth of rows,
the same few kilobytes on either backend), so a PostgreSQL run would add two minutes of
sending 500 MB and nothing the C-STORE tests on both backends do not already cover.
"""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from tests.interop.store_peers import qrscp_process, run_storescu, stored_files

pytestmark = pytest.mark.interop
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
PIXEL_BYTES = 500 * 1024 * 1024
CHUNK = 1 << 20
RSS_GROWTH_LIMIT_KIB = 100 * 1024  # 100 MB over the idle server, for a 500 MB instance


def write_large_instance(path: Path) -> Dataset:
    """A Part 10 file whose Pixel Data (OB) is ``PIXEL_BYTES`` long, written in chunks."""
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = "Large^Instance", "LARGE1"
    ds.StudyDate, ds.Modality = "20260101", "OT"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    chunk = bytes(range(256)) * (CHUNK // 256)
    with path.open("ab") as handle:  # (7FE0,0010) OB, PS3.5 7.1.2 explicit VR header
        handle.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, PIXEL_BYTES))
        for _ in range(PIXEL_BYTES // CHUNK):
            handle.write(chunk)
    return ds


def test_a_500_mb_instance_is_stored_with_bounded_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    source = tmp_path / "large.dcm"
    ds = write_large_instance(source)
    with qrscp_process(data, tmp_path / "index.sqlite") as server:
        time.sleep(0.5)
        idle = server.rss_kib()
        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], server.rss_kib())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = run_storescu(server.port, ["-to", "300"], [source], seconds=300)
        finally:
            done.set()
            sampler.join(10)
        assert result.returncode == 0, result.stdout[-2000:]
        assert stored_files(result.stdout) == [str(source)], result.stdout.replace(".", "")
    stored = data / "received" / ds.StudyInstanceUID / ds.SeriesInstanceUID
    stored_file = stored / f"{ds.SOPInstanceUID}.dcm"
    assert stored_file.stat().st_size >= PIXEL_BYTES
    with stored_file.open("rb") as handle:  # the last bytes arrived as sent
        handle.seek(-CHUNK, 2)
        assert handle.read() == bytes(range(256)) * (CHUNK // 256)
    assert dcmread(stored_file, stop_before_pixels=True).PatientID == "LARGE1"
    growth = peak[0] - idle
    assert idle > 0 and growth < RSS_GROWTH_LIMIT_KIB, (idle, peak[0])
