"""Shared pieces of the MPPS tests: a worklist folder with known steps, MPPS attribute
lists as a modality sends them (PS3.4 Table F.7.2-1), and the worklist process in one
event loop (MWL + MPPS SCP, optionally the HTTP API), built like ``aiodicom-worklist``."""

from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset
from pydicom.sequence import Sequence

from aiodicom.net.server import Server, ServerConfig
from aiodicom.store import ItemFiles
from aiodicom.store.mpps import MppsStore
from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi import QueryLog, WebSettings, logged_handlers
from aiodicom.webapi.server import HttpServer, start_http
from aiodicom.worklist import MPPS_SOP_CLASS, MppsOptions, MppsService, WorklistService
from tests.clients.peers import wait_listening

AE = "WLMSCP"
TODAY = datetime.date.today().strftime("%Y%m%d")
STUDY_UID = "1.2.826.0.1.3680043.10.1453.777001"
ROOT = Path(__file__).resolve().parents[2]
__all__ = ["MPPS_SOP_CLASS"]


def item_yaml(index: int, steps: int = 1) -> str:
    """A worklist item: accession ACC<index>, RP<index>, steps SPS<index>-1..n."""
    lines = [
        f"PatientName: MPPS^PATIENT{index}",
        f"PatientID: MPPS{index:04d}",
        'PatientBirthDate: "19700101"',
        "PatientSex: O",
        f"AccessionNumber: ACC{index}",
        f"RequestedProcedureID: RP{index}",
        f"StudyInstanceUID: {STUDY_UID}.{index}",
        "ScheduledProcedureStepSequence:",
    ]
    for step in range(1, steps + 1):
        lines += [
            "  - Modality: CT",
            "    ScheduledStationAETitle: CT01",
            f'    ScheduledProcedureStepStartDate: "{TODAY}"',
            '    ScheduledProcedureStepStartTime: "090000"',
            f"    ScheduledProcedureStepID: SPS{index}-{step}",
            "    ScheduledProcedureStepDescription: CT HEAD",
        ]
    return "\n".join(lines) + "\n"


def make_worklist(root: Path, count: int = 3, steps: int = 1) -> Path:
    """``root/WLMSCP/mpps-<i>.yaml`` for i in 1..count."""
    folder = root / AE
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        (folder / f"mpps-{index}.yaml").write_text(item_yaml(index, steps), encoding="utf-8")
    return root


def scheduled_step(index: int, step: int = 1) -> Dataset:
    """A Scheduled Step Attributes Sequence item naming item ``index``'s step."""
    ds = Dataset()
    ds.StudyInstanceUID = f"{STUDY_UID}.{index}"
    ds.ReferencedStudySequence = Sequence()
    ds.AccessionNumber = f"ACC{index}"
    ds.RequestedProcedureID = f"RP{index}"
    ds.RequestedProcedureDescription = "CT HEAD"
    ds.ScheduledProcedureStepID = f"SPS{index}-{step}"
    ds.ScheduledProcedureStepDescription = "CT HEAD"
    ds.ScheduledProtocolCodeSequence = Sequence()
    return ds


def unscheduled_step() -> Dataset:
    """IHE "unscheduled": a Study Instance UID of the modality's own, no order keys."""
    ds = scheduled_step(0)
    ds.StudyInstanceUID = f"{STUDY_UID}.999"
    for keyword in ("AccessionNumber", "RequestedProcedureID", "ScheduledProcedureStepID"):
        setattr(ds, keyword, "")
    return ds


def create_attributes(step: Dataset, station: str = "CT01") -> Dataset:
    """An N-CREATE Attribute List with every Type 1 and Type 2 attribute of F.7.2-1."""
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = Sequence([step])
    ds.PatientName = "MPPS^PATIENT"
    ds.PatientID = "MPPS0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.ReferencedPatientSequence = Sequence()
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = station
    ds.PerformedStationName = f"{station} scanner"
    ds.PerformedLocation = "Room 1"
    ds.PerformedProcedureStepStartDate = TODAY
    ds.PerformedProcedureStepStartTime = "091500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "CT HEAD"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = Sequence()
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = "CT"
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = Sequence()
    ds.PerformedSeriesSequence = Sequence()
    return ds


def final_attributes(state: str = "COMPLETED", series_uid: str = "1.2.3.4.5.6") -> Dataset:
    """An N-SET Modification List ending the step with one performed series."""
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    series.SeriesDescription = "AXIAL 5MM"
    series.ProtocolName = "HEAD"
    series.PerformingPhysicianName = ""
    series.OperatorsName = ""
    series.RetrieveAETitle = ""
    series.ReferencedImageSequence = Sequence()
    series.ReferencedNonImageCompositeSOPInstanceSequence = Sequence()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = state
    ds.PerformedProcedureStepEndDate = TODAY
    ds.PerformedProcedureStepEndTime = "093000"
    ds.PerformedSeriesSequence = Sequence([series])
    return ds


@dataclass(slots=True)
class MppsStack:
    server: Server
    store: WorklistStore
    mpps: MppsStore
    query_log: QueryLog
    http: HttpServer | None

    @property
    def base(self) -> str:
        assert self.http is not None
        return f"http://127.0.0.1:{self.http.port}"


@asynccontextmanager
async def mpps_stack(
    root: Path, *, keep_final: bool = False, http: bool = False, listen: bool = True
) -> AsyncIterator[MppsStack]:
    """The worklist process of ``root``: MWL + MPPS on one port (and the HTTP API)."""
    store = WorklistStore(root)
    query_log = QueryLog(50)
    config = ServerConfig(ae_title=AE, accept_called_ae=store.has_ae)
    server = Server(config, logged_handlers(WorklistService(store), query_log))
    mpps = MppsStore(root / ".mpps")
    mpps.load()
    items = ItemFiles(root, AE)
    service = MppsService(mpps, store, items, MppsOptions(keep_final=keep_final))
    service.register(server, observe=query_log.record_n)
    if listen:
        await server.start("127.0.0.1", 0)
    web = None
    if http:
        web = await start_http(store, WebSettings(port=0, default_ae=AE), query_log, mpps=mpps)
    try:
        yield MppsStack(server, store, mpps, query_log, web)
    finally:
        if web is not None:
            await web.stop()
        if listen:
            await server.shutdown(2.0)


def start_worklist_program(args: Iterable[str], log: Path, *ports: int) -> subprocess.Popen[bytes]:
    """``python -m servers.worklist ARGS`` (output appended to ``log``), once it listens
    on every port of ``ports``; the caller stops it by PID (``stop_process``)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "servers.worklist", *args],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    for port in ports:
        wait_listening(port, process, 30)
    return process
