"""Baseline Modality Worklist SCP on pynetdicom, run as a subprocess by bench_worklist.py.

    python bench/pynetdicom_wl_scp.py --data DIR/WLMSCP --port P [--ae-title WLMSCP]

Loads every ``*.wl`` file of the folder with pydicom once, keeps a PatientID index and
answers MWL C-FIND (PS3.4 Annex K) with a straightforward matcher: single value matching
on top-level keys and on the first Scheduled Procedure Step item's keys (PS3.4
C.2.2.2.1), universal matching for empty keys (C.2.2.2.3), every requested key returned
(C.4.1.1.3.2). It is a fair, simple pynetdicom server, not a complete one: wild cards and
ranges are treated as universal (the benchmark queries do not use them).
Prints ``ready <items> <seconds>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]
from pynetdicom.transport import AssociationServer

PATIENT_ID = 0x00100020
SPS_SEQUENCE = 0x00400100
SPECIFIC_CHARACTER_SET = 0x00080005
PENDING = 0xFF00
SUCCESS = 0x0000
CANCEL = 0xFE00


class Worklist:
    """Items in file name order plus a PatientID -> item positions index."""

    def __init__(self, folder: Path) -> None:
        self.items: list[Dataset] = [
            dcmread(path, force=True) for path in sorted(folder.glob("*.wl"))
        ]
        self.by_patient: dict[str, list[int]] = {}
        for position, item in enumerate(self.items):
            self.by_patient.setdefault(str(item.get("PatientID", "")), []).append(position)

    def candidates(self, query: Dataset) -> Iterator[Dataset]:
        wanted = str(query.get("PatientID", "") or "")
        if wanted and not set(wanted) & set("*?"):
            return (self.items[i] for i in self.by_patient.get(wanted, []))
        return iter(self.items)


def _keys(ds: Dataset) -> list[tuple[int, str]]:
    """(tag, value) of the non-empty, non-sequence keys of ``ds`` (single value matching)."""
    keys: list[tuple[int, str]] = []
    for element in ds:
        if (
            element.VR != "SQ"
            and element.value not in (None, "")
            and element.tag != SPECIFIC_CHARACTER_SET
        ):
            value = str(element.value)
            if not set(value) & set("*?-"):
                keys.append((int(element.tag), value))
    return keys


def matches(item: Dataset, top: list[tuple[int, str]], step: list[tuple[int, str]]) -> bool:
    if any(str(item[tag].value) != value if tag in item else True for tag, value in top):
        return False
    if not step:
        return True
    steps = item.get("ScheduledProcedureStepSequence") or []
    return any(
        all(tag in sps and str(sps[tag].value) == value for tag, value in step) for sps in steps
    )


def project(query: Dataset, item: Dataset) -> Dataset:
    """Every requested key, with the item's value or zero length (PS3.4 C.4.1.1.3.2)."""
    out = Dataset()
    for element in query:
        tag = element.tag
        if tag in item:
            out[tag] = item[tag]
        else:
            out.add_new(tag, element.VR, None)
    if SPECIFIC_CHARACTER_SET in item:
        out[SPECIFIC_CHARACTER_SET] = item[SPECIFIC_CHARACTER_SET]
    return out


def make_handler(worklist: Worklist) -> Callable[..., Any]:
    def handle_find(event: Event) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        top = _keys(query)
        sps = query.get("ScheduledProcedureStepSequence") or []
        step = _keys(sps[0]) if len(sps) == 1 else []
        for item in worklist.candidates(query):
            if event.is_cancelled:
                yield CANCEL, None
                return
            if matches(item, top, step):
                yield PENDING, project(query, item)
        yield SUCCESS, None

    return handle_find


def _nodelay_accept(server: AssociationServer) -> tuple[socket.socket, tuple[str, int]]:
    """Accept with TCP_NODELAY, as our server and DCMTK (env TCP_NODELAY=1) do: without
    it Nagle + delayed ACK add ~40 ms to each small pending/final response pair."""
    client, address = _ACCEPT(server)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, address


_ACCEPT = AssociationServer.get_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of *.wl files")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ae-title", default="WLMSCP")
    parser.add_argument("--max-associations", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()
    AssociationServer.get_request = _nodelay_accept  # type: ignore[method-assign,assignment]
    worklist = Worklist(args.data)
    ae = AE(ae_title=args.ae_title)
    ae.add_supported_context(ModalityWorklistInformationFind)
    ae.maximum_associations = args.max_associations
    ae.maximum_pdu_size = 16384
    handlers: list[Any] = [(evt.EVT_C_FIND, make_handler(worklist))]
    server = ae.start_server(("127.0.0.1", args.port), block=False, evt_handlers=handlers)
    print(f"ready {len(worklist.items)} {time.perf_counter() - started:.3f}", flush=True)
    serve_until_signalled(server)


def serve_until_signalled(server: Any) -> None:
    """Run until SIGTERM or SIGINT, then shut the pynetdicom server down."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    if server is not None:
        server.shutdown()


if __name__ == "__main__":
    main()
