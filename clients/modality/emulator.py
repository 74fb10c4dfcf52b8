"""The emulated modalities: query the worklist, take a step, MPPS IN PROGRESS, the exam,
MPPS COMPLETED or DISCONTINUED (PS3.4 K.6.1, F.7.2; IHE RAD TF-2 RAD-5, RAD-6, RAD-7).

Each modality is one task; each operation opens its own association (as modalities do:
the worklist query, the N-CREATE and the N-SET minutes later), calling with the station's
AE title. A failed C-FIND stops that modality; a failed N-CREATE or N-SET fails that step
and the modality goes on with the next. The run ends at ``steps`` steps started, after
``duration`` seconds (exams then running end at once and send their N-SET), or when
every modality found no step left (``until_empty``); :meth:`Emulator.stop` ends it as
the duration does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.uid import generate_uid

import aiodicom
from aiodicom import ClientAssociation
from aiodicom.errors import AiodicomError
from aiodicom.net import Connector

from .mpps import COMPLETED, DISCONTINUED, MPPS_SOP_CLASS, Performer, final, in_progress
from .mpps import performed_series as make_series
from .report import RunRecord, StepRecord, failure_of
from .steps import Claims, ScheduledStep, scheduled_steps, worklist_query


@dataclass(frozen=True, slots=True)
class Peer:
    """Where an SCP listens and its AE title."""

    host: str
    port: int
    called_ae: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port} {self.called_ae}"


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """One run of the emulator (the command line, checked)."""

    stations: tuple[str, ...]
    worklist: Peer
    mpps: Peer
    date: str
    modality: str | None = None
    exam_time: float = 5.0
    discontinue_rate: float = 0.0
    series: int = 1
    images: int = 3
    steps: int | None = None
    duration: float | None = None
    until_empty: bool = True
    poll: float = 1.0
    timeout: float = 30.0
    seed: int | None = None


@dataclass(slots=True)
class ModalityState:
    """What one emulated modality is doing, for the live table."""

    station_ae: str
    state: str = "starting"
    current: str = ""
    completed: int = 0
    discontinued: int = 0
    failed: int = 0


class Emulator:
    """The modalities of one run, the steps they share and what they recorded."""

    def __init__(self, settings: EmulatorSettings, record: RunRecord | None = None) -> None:
        self.settings = settings
        self.record = record or RunRecord()
        self.modalities = [ModalityState(station) for station in settings.stations]
        self.claims = Claims()
        self.started = 0
        self.elapsed = 0.0
        self._random = random.Random(settings.seed)
        self._stop: asyncio.Event | None = None

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def stop(self) -> None:
        """Start no further step; running exams end now and send their N-SET."""
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> RunRecord:
        """Run every modality until the run's bounds; returns what was recorded."""
        self._stop = asyncio.Event()
        begin = time.perf_counter()
        loop = asyncio.get_running_loop()
        duration = self.settings.duration
        timer = loop.call_later(duration, self.stop) if duration is not None else None
        try:
            await asyncio.gather(*(self._modality(state) for state in self.modalities))
        finally:
            if timer is not None:
                timer.cancel()
            self.elapsed = time.perf_counter() - begin
        return self.record

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _connect(self, peer: Peer, station_ae: str, sop_classes: tuple[str, ...]) -> Connector:
        timeout = self.settings.timeout
        models = () if sop_classes else ("worklist",)
        return aiodicom.connect(
            peer.host,
            peer.port,
            calling_ae=station_ae,
            called_ae=peer.called_ae,
            models=models,
            sop_classes=sop_classes,
            connect_timeout=timeout,
            acse_timeout=timeout,
            dimse_timeout=timeout,
        )

    async def _find(self, station_ae: str, query: Dataset) -> tuple[list[Dataset], float]:
        """The worklist's answers and the seconds from the C-FIND-RQ to the final response."""
        async with self._connect(self.settings.worklist, station_ae, ()) as assoc:
            begin = time.perf_counter()
            answers = [answer async for answer in assoc.find(query, model="worklist")]
            seconds = time.perf_counter() - begin
            self.record.timed("C-FIND", seconds)
            return answers, seconds

    async def _mpps(
        self, station_ae: str, name: str, call: Callable[[ClientAssociation], Awaitable[object]]
    ) -> float:
        async with self._connect(self.settings.mpps, station_ae, (MPPS_SOP_CLASS,)) as assoc:
            begin = time.perf_counter()
            await call(assoc)
            seconds = time.perf_counter() - begin
            self.record.timed(name, seconds)
            return seconds

    def _may_start(self) -> bool:
        """Another step may still start: not stopped, ``steps`` not reached."""
        limit = self.settings.steps
        return not self.stopping and (limit is None or self.started < limit)

    async def _modality(self, state: ModalityState) -> None:
        settings = self.settings
        performer = Performer(
            state.station_ae, settings.modality or "OT", settings.series, settings.images
        )
        query = worklist_query(state.station_ae, settings.date, settings.modality)
        while self._may_start():
            state.state = "C-FIND"
            try:
                answers, find_seconds = await self._find(state.station_ae, query)
            except (AiodicomError, OSError) as exc:
                self.record.failed(failure_of(exc, state.station_ae, "C-FIND", None))
                state.state, state.failed = "failed", state.failed + 1
                return
            step = self.claims.take_next(scheduled_steps(answers, state.station_ae))
            if step is None:
                if settings.until_empty:
                    state.state = "no work left"
                    return
                state.state = "idle"
                await self._pause(settings.poll)
                continue
            if not self._may_start():
                break
            self.started += 1
            await self._perform(state, performer, step, find_seconds)
        state.state = "done"

    async def _perform(
        self, state: ModalityState, performer: Performer, step: ScheduledStep, found: float
    ) -> None:
        planned = COMPLETED
        if self._random.random() < self.settings.discontinue_rate:
            planned = DISCONTINUED
        uid = generate_uid()
        record = self.record.begin(state.station_ae, step, uid, planned)
        record.seconds["C-FIND"] = found
        state.current = record.step.summary()["accession_number"] or uid
        step_id = f"PPS{record.index + 1:013d}"
        attributes = in_progress(step, performer, step_id)
        if await self._send(state, record, "N-CREATE", uid, attributes):
            state.state = "exam"
            await self._pause(self.settings.exam_time)
            series = make_series(step, performer)
            record.series = tuple(str(item.SeriesInstanceUID) for item in series)
            record.images = sum(len(item.ReferencedImageSequence) for item in series)
            if await self._send(state, record, "N-SET", uid, final(step, planned, series)):
                record.outcome = planned
                if planned == COMPLETED:
                    state.completed += 1
                else:
                    state.discontinued += 1
        state.current = ""

    async def _send(
        self, state: ModalityState, record: StepRecord, name: str, uid: str, data: Dataset
    ) -> bool:
        """N-CREATE or N-SET ``data`` for MPPS instance ``uid``; False when it failed."""
        state.state = name

        def call(assoc: ClientAssociation) -> Awaitable[object]:
            if name == "N-CREATE":
                return assoc.n_create(MPPS_SOP_CLASS, uid, data)
            return assoc.n_set(MPPS_SOP_CLASS, uid, data)

        try:
            record.seconds[name] = await self._mpps(state.station_ae, name, call)
        except (AiodicomError, OSError) as exc:
            self.record.failed(failure_of(exc, state.station_ae, name, record.index))
            state.failed += 1
            return False
        return True
