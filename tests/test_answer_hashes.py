"""Answers are byte-identical across refactors: SHA-256 of whole answer streams.

A fixed set of C-FIND queries goes to ``aiodicom-worklist`` (the bundled sample template,
read-only) and ``aiodicom-qrscp`` (the bundled Q/R files), each in its own association,
as hand-made PDUs in Implicit and Explicit VR Little Endian. Every byte the SCP sends
after the A-ASSOCIATE-AC up to the final C-FIND-RSP (P-DATA PDUs: command sets and
identifiers, their order and fragmentation) is hashed. The expected digests were
recorded on main before the redesign of issue 16; a change to any of them is a change
of behaviour on the wire, never a refactor.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from pydicom import Dataset

from aiodicom.dicom.identifier import encode_identifier
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.events import AssociationAccepted, MessageReceived
from aiodicom.proto.messages import CFindRQ, CFindRSP
from aiodicom.proto.negotiation import (
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    QueryModel,
    requestor_contexts,
)
from aiodicom.proto.pdus import AssociateRQ, UserInformation
from tests.hardening.support import qr_process, scp_process

pytestmark = pytest.mark.interop

SYNTAXES = {"implicit": IMPLICIT_VR_LE, "explicit": EXPLICIT_VR_LE}


def _ds(**keys: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _step(**keys: object) -> list[Dataset]:
    names = ("Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate",
             "ScheduledProcedureStepStartTime", "ScheduledProcedureStepID",
             "ScheduledProcedureStepDescription")  # fmt: skip
    defaults = dict.fromkeys(names, "")
    return [_ds(**{**defaults, **keys})]


FIRST_STUDY = "1.2.826.0.1.3680043.10.1234.1.0.0"  # config/qr-data/PID000000/st00
WORKLIST_QUERIES = {
    "all": _ds(
        PatientName="",
        PatientID="",
        AccessionNumber="",
        StudyInstanceUID="",
        SpecificCharacterSet="",
        ScheduledProcedureStepSequence=_step(),
    ),
    "keyed-pid": _ds(
        PatientID="PID0000003",
        PatientName="",
        PatientBirthDate="",
        ScheduledProcedureStepSequence=_step(),
    ),
    "wildcard-ct-range": _ds(
        PatientName="*",
        PatientID="",
        ScheduledProcedureStepSequence=_step(
            Modality="CT", ScheduledProcedureStepStartDate="20261125-20261127"
        ),
    ),
    "station-mr": _ds(
        PatientName="",
        ReferringPhysicianName="",
        RequestedProcedureID="",
        ScheduledProcedureStepSequence=_step(ScheduledStationAETitle="MR01"),
    ),
    "no-match": _ds(PatientID="NOBODY", ScheduledProcedureStepSequence=_step()),
    "refused-level": _ds(QueryRetrieveLevel="STUDY", PatientName=""),
}
QR_QUERIES = {
    ("study", "patient"): _ds(
        QueryRetrieveLevel="PATIENT", PatientName="", PatientID="", PatientBirthDate=""
    ),
    ("study", "study"): _ds(
        QueryRetrieveLevel="STUDY",
        PatientName="",
        PatientID="",
        StudyInstanceUID="",
        StudyDate="",
        AccessionNumber="",
        ModalitiesInStudy="",
    ),
    ("study", "series-of-first"): _ds(
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID="",
        SeriesInstanceUID="",
        Modality="",
        SeriesNumber="",
    ),
    ("patient", "patient-wildcard"): _ds(
        QueryRetrieveLevel="PATIENT", PatientName="*", PatientID="PID00000*"
    ),
    ("study", "image-bad"): _ds(QueryRetrieveLevel="IMAGE", SOPInstanceUID=""),
    ("study", "series"): _ds(
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID=FIRST_STUDY,
        SeriesInstanceUID="",
        Modality="",
        SeriesNumber="",
    ),
    ("study", "images"): _ds(
        QueryRetrieveLevel="IMAGE",
        StudyInstanceUID=FIRST_STUDY,
        SeriesInstanceUID=f"{FIRST_STUDY}.1",
        SOPInstanceUID="",
        InstanceNumber="",
    ),
}

EXPECTED_FILE = Path(__file__).resolve().parent / "fixtures" / "answer_hashes.json"
"""SHA-256 and length of each answer stream, recorded on main before issue 16."""


async def _answer(port: int, called_ae: str, model: QueryModel, syntax: str, ds: Dataset) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    association = Association(Mode.REQUESTOR, max_pdu_length=16384)
    association.request(
        AssociateRQ(
            called_ae=called_ae,
            calling_ae="HASHER",
            presentation_contexts=requestor_contexts([model.sop_class_uid], [syntax]),
            user_information=UserInformation(
                max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.10.1999.9"
            ),
        )
    )
    association.connection_made()
    received = bytearray()
    accepted = done = False
    try:
        writer.write(association.data_to_send())
        while not done:
            async with asyncio.timeout(20):
                chunk = await reader.read(65536)
            assert chunk, "the SCP closed the connection"
            if accepted:
                received += chunk
            for event in association.receive_data(chunk):
                if isinstance(event, AssociationAccepted):
                    accepted = True
                    context_id = next(iter(association.contexts))
                    association.send_message(
                        context_id, CFindRQ(7, model.sop_class_uid), encode_identifier(ds, syntax)
                    )
                elif isinstance(event, MessageReceived) and isinstance(event.command, CFindRSP):
                    done = event.command.status not in (0xFF00, 0xFF01)
            writer.write(association.data_to_send())
    finally:
        writer.close()
    return bytes(received)


def _digest(data: bytes) -> dict[str, object]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


async def _worklist_digests(port: int) -> dict[str, dict[str, object]]:
    return {
        f"worklist/{name}/{syntax}": _digest(
            await _answer(port, "WLMSCP", QueryModel.WORKLIST, uid, ds)
        )
        for name, ds in WORKLIST_QUERIES.items()
        for syntax, uid in SYNTAXES.items()
    }


async def _qr_digests(port: int) -> dict[str, dict[str, object]]:
    models = {"study": QueryModel.STUDY, "patient": QueryModel.PATIENT}
    return {
        f"qr/{root}/{name}/{syntax}": _digest(await _answer(port, "QRSCP", models[root], uid, ds))
        for (root, name), ds in QR_QUERIES.items()
        for syntax, uid in SYNTAXES.items()
    }


def test_answer_streams_are_byte_identical(tmp_path: Path) -> None:
    template = Path(__file__).resolve().parents[1] / "config" / "worklist-data"
    with scp_process(tmp_path, ["--no-watch", "--data", str(template)]) as scp:
        digests = asyncio.run(_worklist_digests(scp.port))
    with qr_process(tmp_path) as (_process, port):
        digests |= asyncio.run(_qr_digests(port))
    assert digests == json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
