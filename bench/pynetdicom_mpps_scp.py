"""Baseline MWL + MPPS SCP on pynetdicom, a subprocess of bench_mpps.py and of the
``aiodicom-modality`` tests.

    python bench/pynetdicom_mpps_scp.py --data DIR --port P [--ae-title MPPSSCP]
        [--record FILE] [--create-status 0x0110] [--set-status 0xC310] [--comment TEXT]

Answers Modality Worklist C-FIND from the ``*.wl`` files of DIR with the matcher of
``pynetdicom_wl_scp.py``, and the Modality Performed Procedure Step SOP Class (PS3.4
F.7): N-CREATE stores the Attribute List (a SOP Instance UID already created: 0x0111
Duplicate SOP Instance), N-SET merges the Modification List into it (unknown instance:
0x0112; after COMPLETED or DISCONTINUED: 0x0110, F.7.2.2). ``--create-status`` /
``--set-status`` answer every N-CREATE / N-SET with that status and ``--comment`` as
Error Comment instead. ``--record`` appends one JSON line per request (operation,
calling AE, SOP Instance UID, the data set as DICOM JSON, the status answered).
Prints ``ready <items>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
)
from pynetdicom.transport import AssociationServer
from pynetdicom_wl_scp import Worklist, _nodelay_accept, make_handler, serve_until_signalled

SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_OBJECT_INSTANCE = 0x0112
FINAL_STATES = ("COMPLETED", "DISCONTINUED")


class MppsStore:
    """The MPPS instances received, the injected failure statuses and the record file."""

    def __init__(self, record: Path | None, create_status: int | None, set_status: int | None,
                 comment: str) -> None:  # fmt: skip
        self.instances: dict[str, Dataset] = {}
        self.lock = threading.Lock()
        self.record = record
        self.create_status = create_status
        self.set_status = set_status
        self.comment = comment

    def log(
        self, operation: str, event: Event, uid: str | None, data: Dataset, status: int
    ) -> None:
        if self.record is None:
            return
        line = {
            "operation": operation,
            "calling_ae": event.assoc.requestor.ae_title,
            "sop_instance_uid": uid,
            "dataset": data.to_json_dict(),
            "status": status,
        }
        with self.record.open("a") as out:
            out.write(json.dumps(line) + "\n")

    def answer(self, status: int, comment: str = "") -> Dataset:
        rsp = Dataset()
        rsp.Status = status
        if comment:
            rsp.ErrorComment = comment
        return rsp

    def create(self, event: Event) -> tuple[Dataset, Dataset | None]:
        request: Any = event.request
        uid = str(request.AffectedSOPInstanceUID)
        data = event.attribute_list
        with self.lock:
            if self.create_status is not None:
                status, comment = self.create_status, self.comment
            elif uid in self.instances:
                status, comment = DUPLICATE_SOP_INSTANCE, f"{uid} exists"
            else:
                self.instances[uid] = data
                status, comment = SUCCESS, ""
            self.log("N-CREATE", event, uid, data, status)
        return self.answer(status, comment), (data if status == SUCCESS else None)

    def set(self, event: Event) -> tuple[Dataset, Dataset | None]:
        request: Any = event.request
        uid = str(request.RequestedSOPInstanceUID)
        changes = event.modification_list
        with self.lock:
            current = self.instances.get(uid)
            if self.set_status is not None:
                status, comment = self.set_status, self.comment
            elif current is None:
                status, comment = NO_SUCH_OBJECT_INSTANCE, f"{uid} unknown"
            elif current.get("PerformedProcedureStepStatus") in FINAL_STATES:
                status, comment = PROCESSING_FAILURE, "may no longer be updated"
            else:
                for element in changes:
                    current[element.tag] = element
                status, comment = SUCCESS, ""
            self.log("N-SET", event, uid, changes, status)
        return self.answer(status, comment), (changes if status == SUCCESS else None)


def recording_find(store: MppsStore, handler: Callable[[Event], Any]) -> Callable[[Event], Any]:
    """The worklist C-FIND handler, recording each identifier first."""

    def handle_find(event: Event) -> Iterator[tuple[int, Dataset | None]]:
        with store.lock:
            store.log("C-FIND", event, None, event.identifier, SUCCESS)
        yield from handler(event)

    return handle_find


def _status(text: str | None) -> int | None:
    return None if text is None else int(text, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of *.wl files")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ae-title", default="MPPSSCP")
    parser.add_argument("--record", type=Path, help="JSON lines of every request")
    parser.add_argument("--create-status", help="answer every N-CREATE with this status")
    parser.add_argument("--set-status", help="answer every N-SET with this status")
    parser.add_argument("--comment", default="", help="Error Comment of those statuses")
    parser.add_argument("--max-associations", type=int, default=500)
    args = parser.parse_args()
    AssociationServer.get_request = _nodelay_accept  # type: ignore[method-assign,assignment]
    # socketserver listens with a backlog of 5: 50 modalities connecting at once would
    # overflow it and wait for SYN retransmissions (1, 3, 7 ... s); ours listens with 128
    AssociationServer.request_queue_size = 128
    worklist = Worklist(args.data)
    store = MppsStore(
        args.record, _status(args.create_status), _status(args.set_status), args.comment
    )
    ae = AE(ae_title=args.ae_title)
    ae.add_supported_context(ModalityWorklistInformationFind)
    ae.add_supported_context(ModalityPerformedProcedureStep)
    ae.maximum_associations = args.max_associations
    ae.maximum_pdu_size = 16384
    handlers: list[Any] = [
        (evt.EVT_C_FIND, recording_find(store, make_handler(worklist))),
        (evt.EVT_N_CREATE, store.create),
        (evt.EVT_N_SET, store.set),
    ]
    server = ae.start_server(("127.0.0.1", args.port), block=False, evt_handlers=handlers)
    print(f"ready {len(worklist.items)}", flush=True)
    serve_until_signalled(server)


if __name__ == "__main__":
    main()
