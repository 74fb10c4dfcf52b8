"""Fuzz targets beyond the C-FIND server: the MPPS SCP (N-CREATE / N-SET of
``aiodicom-worklist``) and the Storage SCP (streamed C-STORE of ``aiodicom-qrscp``).

Each service has seed sessions, built at run time (the MPPS attributes carry today's
date, so they are not fixture files), and a server built like its program, on a free
loopback port, with a legitimate-use check run after the fuzzing: a valid N-CREATE and a
worklist C-FIND (``mpps``), a valid C-STORE found by C-FIND (``store``). bench/fuzz.py
(``--service``) mutates the seeds with :func:`tests.hardening.fuzzing.mutate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.uid import generate_uid

import aiodicom
from aiodicom.config import NetworkSection, StorageSection
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.net.server import Server, ServerConfig
from aiodicom.proto.negotiation import IMPLICIT_VR_LE
from aiodicom.store.mpps import MppsStore
from aiodicom.store.worklist import WorklistStore
from aiodicom.testing.qr_sample import SampleShape, iter_sample
from aiodicom.webapi import ItemFiles, QueryLog, logged_handlers
from aiodicom.worklist import MPPS_SOP_CLASS, MppsService, WorklistService
from servers.qrscp.app import QRApp
from tests.hardening import dimse_peer as peer
from tests.hardening import fuzzing
from tests.qr.helpers import app_config
from tests.worklist.mpps_support import AE, create_attributes, make_worklist, scheduled_step

SERVICES = ("find", "mpps", "store")
ECHO = "1.2.840.10008.1.1"
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
MR = "1.2.840.10008.5.1.4.1.1.4"
QR_AE = "QRSCP"
FUZZ_TIMEOUT = 2.0
"""ARTIM, idle and PDU timeouts of the servers under fuzzing: probes that stop half-way
are ended quickly."""


def fuzz_config(**settings: Any) -> ServerConfig:
    """A server config with the fuzzing timeouts (and ``settings``)."""
    return ServerConfig(
        artim_timeout=FUZZ_TIMEOUT, idle_timeout=FUZZ_TIMEOUT, pdu_timeout=FUZZ_TIMEOUT, **settings
    )


def _mpps_opening() -> bytes:
    return peer.associate_rq(AE, [ECHO, MPPS_SOP_CLASS, WORKLIST_FIND])  # ids 1, 3, 5


def _final() -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20260101"
    ds.PerformedProcedureStepEndTime = "093000"
    return ds


def mpps_seeds() -> list[bytes]:
    """N-CREATE then N-SET of one MPPS instance, whole, split at odd PDV boundaries, on
    the wrong context, with no data set announced, with a path trick as UID."""
    rq = _mpps_opening()
    attributes = encode_identifier(create_attributes(scheduled_step(1)), IMPLICIT_VR_LE)
    final = encode_identifier(_final(), IMPLICIT_VR_LE)
    uid = "1.2.826.0.1.3680043.10.1453.9"

    def create(instance: str | None, context: int = 3, split: int = 0) -> bytes:
        command = peer.command(peer.N_CREATE_RQ, 1, MPPS_SOP_CLASS, instance)
        return peer.message(context, command, attributes, split=split)

    def set_(instance: str, split: int = 0) -> bytes:
        command = peer.command(peer.N_SET_RQ, 2, MPPS_SOP_CLASS, instance)
        return peer.message(3, command, final, split=split)

    no_data = peer.command(peer.N_CREATE_RQ, 3, MPPS_SOP_CLASS, uid, has_data_set=False)
    return [
        rq + create(uid) + set_(uid) + peer.RELEASE,
        rq + create(uid + ".1", split=7) + set_(uid + ".1", split=3) + peer.RELEASE,
        rq + create(None) + peer.RELEASE,
        rq + create(uid + ".2", context=5) + peer.RELEASE,
        rq + peer.message(3, no_data, None) + peer.RELEASE,
        rq + create("../" + uid) + set_("1/../2") + peer.RELEASE,
        rq + create(uid + ".3", split=11) + peer.ABORT,
    ]


def _instance() -> Dataset:
    shape = SampleShape(
        patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=1
    )
    return next(ds for _name, ds in iter_sample(shape))


def _store_opening(ds: Dataset) -> bytes:
    return peer.associate_rq(QR_AE, [ECHO, str(ds.SOPClassUID), MR])  # ids 1, 3, 5


def store_seeds() -> list[bytes]:
    """C-STOREs split at odd PDV boundaries, cut short, without the last-fragment flag,
    aborted mid-stream, on the wrong context, a path trick as UID, no data set."""
    ds = _instance()
    rq = _store_opening(ds)
    data = encode_identifier(ds, IMPLICIT_VR_LE)
    cls, uid = str(ds.SOPClassUID), str(ds.SOPInstanceUID)

    def store(instance: str = uid, *, context: int = 3, split: int = 0, **kw: bool) -> bytes:
        command = peer.command(peer.C_STORE_RQ, 1, cls, instance)
        return peer.message(context, command, data, split=split, **kw)

    no_data = peer.command(peer.C_STORE_RQ, 2, cls, uid, has_data_set=False)
    return [
        rq + store() + peer.RELEASE,
        rq + store(split=1) + peer.RELEASE,
        rq + store(split=97) + peer.RELEASE,
        rq + store(split=33, last=False) + peer.RELEASE,
        rq + store(split=33, last=False) + peer.ABORT,
        rq + store(context=5, split=64) + peer.RELEASE,
        rq + store("../../" + uid, split=64) + peer.RELEASE,
        rq + peer.message(3, no_data, None) + peer.RELEASE,
    ]


def corpus(service: str) -> list[bytes]:
    """The seeds of ``service``, repeated so that about three mutations in four start
    from one of them, then the find corpus (PDU-level material to splice in)."""
    general = fuzzing.load_corpus()
    if service == "find":
        return general
    seeds = mpps_seeds() if service == "mpps" else store_seeds()
    return seeds * max(1, 3 * len(general) // len(seeds)) + general


@dataclass
class Target:
    """A running server of one service and its legitimate-use check."""

    server: Server
    check: Callable[[], Awaitable[list[str]]]
    called_ae: str = "ANY-SCP"


@asynccontextmanager
async def serving(service: str, work: Path) -> AsyncIterator[Target]:
    """The ``mpps`` or ``store`` server of module docstring in ``work``."""
    if service == "mpps":
        async with _mpps_server(work) as target:
            yield target
    else:
        async with _store_server(work) as target:
            yield target


@asynccontextmanager
async def _mpps_server(work: Path) -> AsyncIterator[Target]:
    root = make_worklist(work / "worklist")
    store = WorklistStore(root)
    query_log = QueryLog(10)
    config = fuzz_config(ae_title=AE, accept_called_ae=store.has_ae)
    server = Server(config, logged_handlers(WorklistService(store), query_log))
    mpps = MppsStore(root / ".mpps")
    mpps.load()
    MppsService(mpps, store, ItemFiles(root, AE)).register(server)
    await server.start("127.0.0.1", 0)

    async def check() -> list[str]:
        problems: list[str] = []
        attributes = encode_identifier(create_attributes(scheduled_step(2)), IMPLICIT_VR_LE)
        command = peer.command(peer.N_CREATE_RQ, 1, MPPS_SOP_CLASS, generate_uid())
        answer = await peer.session(
            server.port, _mpps_opening(), peer.message(3, command, attributes)
        )
        if answer.statuses() != [0]:
            problems.append(f"valid N-CREATE answered {answer.replies}")
        query = Dataset()
        query.PatientID = "MPPS0003"
        query.ScheduledProcedureStepSequence = [Dataset()]
        async with aiodicom.connect("127.0.0.1", server.port, called_ae=AE) as assoc:
            found = [ds async for ds in assoc.find(query, "worklist")]
        if len(found) != 1:
            problems.append(f"worklist C-FIND found {len(found)} items, not 1")
        return problems

    try:
        yield Target(server, check, AE)
    finally:
        await server.shutdown(2.0)


@asynccontextmanager
async def _store_server(work: Path) -> AsyncIterator[Target]:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = app_config(data, work / "index.sqlite")
    network = NetworkSection(
        port=0,
        ae_title=QR_AE,
        artim_timeout=FUZZ_TIMEOUT,
        idle_timeout=FUZZ_TIMEOUT,
        pdu_timeout=FUZZ_TIMEOUT,
    )
    config = dataclasses.replace(config, server=network, storage=StorageSection())
    app = QRApp(config)
    await app.start("127.0.0.1", 0)

    async def check() -> list[str]:
        problems: list[str] = []
        ds = _instance()
        ds.SOPInstanceUID = generate_uid()
        command = peer.command(peer.C_STORE_RQ, 1, str(ds.SOPClassUID), ds.SOPInstanceUID)
        rest = peer.message(3, command, encode_identifier(ds, IMPLICIT_VR_LE), split=1000)
        answer = await peer.session(app.port, _store_opening(ds), rest)
        if answer.statuses() != [0]:
            problems.append(f"valid C-STORE answered {answer.replies}")
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = ds.StudyInstanceUID
        query.SeriesInstanceUID = ds.SeriesInstanceUID
        query.SOPInstanceUID = ds.SOPInstanceUID
        async with aiodicom.connect("127.0.0.1", app.port, called_ae=QR_AE) as assoc:
            found = [item async for item in assoc.find(query, "study")]
        if len(found) != 1:
            problems.append(f"C-FIND of the stored instance found {len(found)}, not 1")
        return problems

    try:
        yield Target(app.server, check, QR_AE)
    finally:
        await app.stop()
