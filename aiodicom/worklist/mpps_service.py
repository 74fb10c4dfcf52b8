"""The Modality Performed Procedure Step SCP (PS3.4 Annex F) beside the worklist.

:class:`MppsService` holds the N-CREATE and N-SET handlers of the MPPS SOP Class
(1.2.840.10008.3.1.2.3.3), registered on the worklist server (:meth:`register`: same
port, same called AE titles). Each request is checked by the rules of
:mod:`aiodicom.worklist.mpps`, stored durably (:class:`~aiodicom.store.mpps.MppsStore`)
before the response goes out, and its state is carried to the worklist steps it names
(:mod:`aiodicom.worklist.mpps_link`), after which the worklist store reloads so the next
C-FIND shows the change.

Operations on different instances run at the same time: each holds only its instance's
lock (N-SETs of one instance keep their order) and the linked item's; their file writes
and fsyncs overlap in worker threads, and the reloads they ask for are shared
(:meth:`~aiodicom.store.worklist.WorklistStore.reload_shared`: one build serves every
operation that finished its writes before it started). The response still waits until
its instance and item files are durable and a snapshot that holds the change is served.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from pydicom.uid import generate_uid

from aiodicom.errors import DataError
from aiodicom.net import NObserver, NOutcome, NRequest, register_n_service
from aiodicom.net.server import Server
from aiodicom.proto.status import DUPLICATE_SOP_INSTANCE, NO_SUCH_SOP_INSTANCE
from aiodicom.store.mpps import MppsRecord, MppsStore, StepLink
from aiodicom.store.worklist import WorklistStore
from aiodicom.store.worklist_items import ItemFiles
from aiodicom.worklist.mpps import (
    MPPS_SOP_CLASS,
    SCHEDULED_STEP_ATTRIBUTES,
    Refusal,
    check_create,
    check_set,
    merge,
    state_of,
)
from aiodicom.worklist.mpps_link import apply_state, find_steps

log = structlog.get_logger("aiodicom.mpps")


@dataclass(frozen=True, slots=True)
class MppsOptions:
    """``keep_final``: a step COMPLETED or DISCONTINUED stays in the worklist with that
    status (default: it leaves the worklist)."""

    keep_final: bool = False


def refused(refusal: Refusal) -> NOutcome:
    """The N-CREATE-RSP / N-SET-RSP of a refusal (PS3.7 10.3.5.2, 10.3.3.2, Annex C)."""
    return NOutcome(
        refusal.status,
        refusal.attributes,
        error_comment=refusal.comment,
        error_id=refusal.error_id,
        attribute_identifiers=refusal.tags,
    )


class MppsService:
    """N-CREATE and N-SET of MPPS instances, linked to the worklist's steps."""

    def __init__(
        self,
        mpps: MppsStore,
        worklist: WorklistStore,
        items: ItemFiles,
        options: MppsOptions | None = None,
    ) -> None:
        self.mpps = mpps
        self.worklist = worklist
        self.items = items
        self.options = options or MppsOptions()

    def register(self, server: Server, observe: NObserver | None = None) -> None:
        """Serve the MPPS SOP Class on ``server`` (its presentation contexts accepted);
        ``observe`` hears of every N-CREATE / N-SET (the web page's query log)."""
        register_n_service(
            server, MPPS_SOP_CLASS, n_create=self.n_create, n_set=self.n_set, observe=observe
        )

    async def n_create(self, request: NRequest) -> NOutcome:
        """PS3.4 F.7.2.1: a new instance, IN PROGRESS; its scheduled steps go STARTED."""
        ds = request.data_set
        refusal = check_create(ds)
        if refusal is not None:
            log.info("mpps n-create refused", status=f"0x{refusal.status:04X}", why=refusal.comment)
            return refused(refusal)
        uid = request.sop_instance_uid or generate_uid()
        async with self.mpps.locks.hold(uid):
            if await self._current(uid) is not None:
                comment = f"SOP Instance {uid} exists"
                return NOutcome(DUPLICATE_SOP_INSTANCE, error_comment=comment)
            links = find_steps(self.worklist.snapshot, ds[SCHEDULED_STEP_ATTRIBUTES].value)
            record = MppsRecord(uid, ds, links, request.calling_ae.strip())
            await self.mpps.save(record)
            changed = await self._to_worklist(links, state_of(ds))
        if changed:
            await self.worklist.reload_shared()
        log.info("mpps created", uid=uid, steps=len(links), calling_ae=record.calling_ae)
        return NOutcome(sop_instance_uid=uid)

    async def n_set(self, request: NRequest) -> NOutcome:
        """PS3.4 F.7.2.2: changes while IN PROGRESS; COMPLETED / DISCONTINUED are final."""
        uid = request.sop_instance_uid or ""
        changed = 0
        async with self.mpps.locks.hold(uid):
            current = await self._current(uid)
            if current is None:
                return NOutcome(NO_SUCH_SOP_INSTANCE, error_comment=f"no MPPS instance {uid}")
            refusal = check_set(current.dataset, request.data_set)
            if refusal is not None:
                status = f"0x{refusal.status:04X}"
                log.info("mpps n-set refused", uid=uid, status=status, why=refusal.comment)
                return refused(refusal)
            merged = merge(current.dataset, request.data_set)
            record = MppsRecord(
                uid, merged, current.links, current.calling_ae, current.created, time.time()
            )
            await self.mpps.save(record)
            state = state_of(merged)
            if state != state_of(current.dataset):
                changed = await self._to_worklist(current.links, state)
        if changed:
            await self.worklist.reload_shared()
        log.info("mpps updated", uid=uid, state=state)
        return NOutcome(sop_instance_uid=uid)

    async def _current(self, uid: str) -> MppsRecord | None:
        """The stored instance (None: none, or ``uid`` is no UID a file can be named by)."""
        try:
            return await self.mpps.current(uid)
        except DataError:
            return None

    async def _to_worklist(self, links: tuple[StepLink, ...], state: str) -> int:
        """Write ``state`` into the linked item files; how many changed."""
        if not links:
            return 0
        return await apply_state(self.items, links, state, keep_final=self.options.keep_final)
