"""kill -9 of aiodicom-qrscp in the middle of a storescu run (issue 18, "Done when").

Every instance storescu got a Success C-STORE-RSP for is, after a restart, on disk and
in the index; no file in the index is half-written (each holds the whole data set it
was sent), and the temporary files of the interrupted stores are gone. On both index
backends (the ``qr_index`` fixture): SQLite, and a PostgreSQL database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread

from aiodicom.store import open_qr_store
from aiodicom.testing.qr_sample import SampleShape, write_sample
from tests.clients.peers import DCMTK_ENV
from tests.interop.store_peers import (
    SUCCESS_LINE,
    qrscp_process,
    stored_files,
    storescu_command,
)

pytestmark = pytest.mark.interop
SHAPE = SampleShape(patients=10, studies_per_patient=2, series_per_study=2, instances_per_series=10)
KILL_AFTER = 80  # successful stores before the SCP is killed


def test_kill_9_during_storescu_loses_no_acknowledged_instance(
    tmp_path: Path, qr_index: str | Path
) -> None:
    source, data, index = tmp_path / "send", tmp_path / "data", qr_index
    source.mkdir()
    data.mkdir()
    write_sample(source, SHAPE, time_limit=120)
    log_path = tmp_path / "storescu.log"
    with qrscp_process(data, index) as server, log_path.open("w") as log:
        sender = subprocess.Popen(
            storescu_command(server.port, ["+sd", "+r", "-nh"], [source]),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=DCMTK_ENV,
        )
        try:
            deadline = time.monotonic() + 120
            while log_path.read_text().count(SUCCESS_LINE) < KILL_AFTER:
                assert time.monotonic() < deadline and sender.poll() is None, log_path.read_text()
                time.sleep(0.01)
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)
            sender.wait(60)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait(10)
    acknowledged = stored_files(log_path.read_text())
    assert KILL_AFTER <= len(acknowledged) < SHAPE.total_instances
    with qrscp_process(data, index) as restarted:  # the folder scan runs before listening
        assert restarted.proc.poll() is None
    store = open_qr_store(index)
    try:
        indexed = store.known_files()
        for path in acknowledged:
            ds = dcmread(path, stop_before_pixels=True)
            found = store.instance_path(str(ds.SOPInstanceUID))
            assert found is not None and found in indexed, path
            assert Path(found).read_bytes().endswith(Path(path).read_bytes()[-300:])
        for path, (_mtime, size) in indexed.items():  # nothing indexed is half-written
            assert os.path.getsize(path) == size
            assert dcmread(path).SOPInstanceUID  # reads to the end
    finally:
        store.close()
    assert not list((data / "received" / ".incoming").iterdir())
