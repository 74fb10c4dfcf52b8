"""A pynetdicom worklist SCP that ignores C-CANCEL (PS3.7 9.3.2.3 says it should stop).

It runs in a thread of the test process on a free loopback port and answers every C-FIND
with ``matches`` Pending responses (``delay`` seconds apart), then Success, never looking
at ``event.is_cancelled``: the behaviour of a peer that keeps sending after a cancel.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from pydicom import Dataset

from tests.clients.peers import pynetdicom_worklist_scp

DEAF_AE = "DEAFSCP"


@contextlib.contextmanager
def deaf_scp(matches: int = 10, delay: float = 0.02) -> Iterator[int]:
    """Yield the port of a running SCP that answers every C-FIND in full, cancel or not."""

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        for index in range(matches):
            time.sleep(delay)
            ds = Dataset()
            ds.PatientName = f"DEAF^{index}"
            ds.PatientID = f"D{index:04d}"
            yield 0xFF00, ds
        yield 0x0000, None

    with pynetdicom_worklist_scp(DEAF_AE, on_find) as port:
        yield port
