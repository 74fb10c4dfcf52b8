"""The Query/Retrieve C-FIND handler (PS3.4 C.4.1) over the Q/R index.

One handler serves the Patient Root, Study Root and Patient/Study Only FIND models
(PS3.4 C.6.1-C.6.3). Per request: validate the level and the hierarchy (C.4.1.3.1, or
relational search C.4.1.3.2 when negotiated), compile the identifier with the shared
matching engine, push what SQL can decide down to the store, and stream the rows from a
cursor in batches (fetched in a worker thread), judging each undecided row with
``CompiledQuery.match``. On C-CANCEL the server closes the generator: the cursor is closed
at once. ``max_matches`` is checked by counting first: too many is refused (0xA700),
never cut.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field

import structlog
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import dataset_of
from aiodicom.errors import QueryError
from aiodicom.matching import (
    CompiledQuery,
    MatchOptions,
    MatchResult,
    project,
    record_from_dataset,
)
from aiodicom.net.types import FindHandler, FindRequest
from aiodicom.qr.query import build_plan
from aiodicom.qr.response import ResponseEncoder
from aiodicom.store.qr_model import COMPUTED_KEYS, MODEL_UIDS, Model
from aiodicom.store.qr_store import QRStore, QueryPlan, ResultRow, RowCursor

log = structlog.get_logger("aiodicom.qr")

OUT_OF_RESOURCES = 0xA700
UNABLE_TO_PROCESS = 0xC000

# PS3.4 C.5.1.1.3 (Table C.5-1.1): SOP class extended negotiation bytes of the FIND
# models. Byte 0 relational queries, 1 combined date-time matching, 2 fuzzy semantic
# matching of person names, 3 timezone adjustment (not supported), 4 enhanced multi-frame
# conversion (no), 5 empty value matching (always on in the engine, not negotiated),
# 6 multiple value matching.
SUPPORTED_EXTENDED_NEGOTIATION = bytes((1, 1, 1, 0, 0, 0, 1))
_EMPTY_RESULT = MatchResult()


@dataclass(frozen=True, slots=True)
class QROptions:
    """Service options: result limit, batch size and person name matching defaults."""

    max_matches: int = 0  # 0 = unlimited
    batch_size: int = 256
    pn_case_sensitive: bool = False
    fuzzy_pn: bool = False
    extended_negotiation: bytes = field(default=SUPPORTED_EXTENDED_NEGOTIATION)
    pushdown: bool = True  # False: every row judged by Python matching (for testing)
    fast_encode: bool = True  # False: every response built by project() (for testing)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The extended negotiation flags that apply to one request (PS3.4 C.5.1.1.3)."""

    relational: bool = False
    combined_datetime: bool = False
    fuzzy_pn: bool = False
    multi_value: bool = False

    @classmethod
    def from_bytes(cls, data: bytes | None, supported: bytes) -> Negotiated:
        """Flags asked by the SCU and supported by us (the AND the acceptor replied)."""
        data = data or b""

        def flag(index: int) -> bool:
            return len(data) > index < len(supported) and bool(data[index] & supported[index])

        return cls(flag(0), flag(1), flag(2), flag(6))


def _computed_element(tag: int, value: str) -> DataElement:
    vr = dictionary_VR(tag)
    return DataElement(tag, vr, value.split("\\") if "\\" in value else value)


def row_dataset(row: ResultRow) -> Dataset:
    """Merge an entity chain (top level first) plus its computed attributes."""
    ds = Dataset()
    for blob in row.blobs:
        ds.update(dataset_of(blob))
    for tag, value in row.computed:
        ds.add(_computed_element(tag, value))
    return ds


class QRService:
    """C-FIND SCP for the three Q/R FIND models over a :class:`QRStore`."""

    def __init__(self, store: QRStore, options: QROptions | None = None) -> None:
        self.store = store
        self.options = options or QROptions()

    def handlers(self) -> dict[str, FindHandler]:
        """SOP class UID -> handler, for :class:`aiodicom.Server`."""
        return dict.fromkeys(MODEL_UIDS, self.find)

    def match_options(self, negotiated: Negotiated) -> MatchOptions:
        """PS3.4 C.2.2.2.1 / C.2.2.2.5.4: options for this request."""
        return MatchOptions(
            pn_case_sensitive=self.options.pn_case_sensitive,
            combine_datetime=negotiated.combined_datetime,
            fuzzy_pn=self.options.fuzzy_pn or negotiated.fuzzy_pn,
            multi_value_and=negotiated.multi_value,
        )

    def prepare(self, request: FindRequest) -> tuple[QueryPlan, CompiledQuery]:
        """Validate and plan one request; QueryError (with a log line) when refused."""
        model = MODEL_UIDS.get(request.sop_class_uid)
        if model is None:
            raise QueryError(0x0122, comment="not a Q/R FIND SOP class")
        negotiated = Negotiated.from_bytes(
            request.extended_negotiation, self.options.extended_negotiation
        )
        try:
            plan, compiled = build_plan(
                request.identifier, model, negotiated.relational, self.match_options(negotiated)
            )
        except QueryError as exc:
            log.warning(
                "qr_query_refused",
                assoc=request.association_id,
                model=model.name,
                status=f"0x{exc.status:04X}",
                why=exc.comment,
            )
            raise
        if not self.options.pushdown:
            plan = dataclasses.replace(plan, predicates=(), pushed=frozenset())
        return plan, compiled

    async def find(self, request: FindRequest) -> AsyncGenerator[Dataset | bytes, None]:
        """The FindHandler: stream the matches of one C-FIND request (PS3.4 C.4.1.3)."""
        plan, compiled = self.prepare(request)
        await self._check_limit(plan, compiled, request)
        decided_keys = frozenset(compiled.matching_keys)
        encoder = ResponseEncoder(request.identifier, request.transfer_syntax, COMPUTED_KEYS)
        if not self.options.fast_encode:
            encoder.usable = False
        loop = asyncio.get_running_loop()
        size = self.options.batch_size
        opening = loop.run_in_executor(None, self._open, plan, decided_keys, size)
        try:
            cursor, rows = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
        fetch: asyncio.Future[list[ResultRow]] | None = None
        try:
            while True:
                for response in self._responses(rows, compiled, request.identifier, encoder):
                    yield response
                if len(rows) < size:
                    return
                fetch = loop.run_in_executor(None, cursor.fetch, size)
                rows = await asyncio.shield(fetch)
                fetch = None
        finally:
            _close_after(cursor, fetch)

    def _open(
        self, plan: QueryPlan, decided_keys: frozenset[int], size: int
    ) -> tuple[RowCursor, list[ResultRow]]:
        """Open the cursor and fetch the first batch in one worker-thread hop."""
        cursor = self.store.open_cursor(plan, decided_keys=decided_keys)
        try:
            return cursor, cursor.fetch(size)
        except BaseException:
            cursor.close()
            raise

    def _responses(
        self,
        rows: list[ResultRow],
        compiled: CompiledQuery,
        identifier: Dataset,
        encoder: ResponseEncoder,
    ) -> Iterator[Dataset | bytes]:
        """Judge undecided rows in Python; encode matches (fast path or project())."""
        for row in rows:
            ds: Dataset | None = None
            result = _EMPTY_RESULT
            if not row.decided:
                ds = row_dataset(row)
                matched = compiled.match(record_from_dataset(ds))
                if matched is None:
                    continue
                result = matched
            if encoder.usable:
                encoded = encoder.encode(row)
                if encoded is not None:
                    yield encoded
                    continue
            yield project(identifier, ds if ds is not None else row_dataset(row), result)

    async def _check_limit(
        self, plan: QueryPlan, compiled: CompiledQuery, request: FindRequest
    ) -> None:
        """Refuse (0xA700, PS3.4 C.4.1.1.4) a query with more than ``max_matches`` matches."""
        limit = self.options.max_matches
        if limit <= 0:
            return
        upper = await asyncio.to_thread(self.store.count, plan)
        if upper <= limit:
            return
        exact = await asyncio.to_thread(self._count_matches, plan, compiled, limit)
        if exact > limit:
            comment = f"more than qr.max_matches={limit} matches; narrow the query"
            log.warning(
                "qr_query_refused",
                assoc=request.association_id,
                status=f"0x{OUT_OF_RESOURCES:04X}",
                why=f"{comment}, or raise qr.max_matches (config)",
            )
            raise QueryError(OUT_OF_RESOURCES, comment=comment)

    def _count_matches(self, plan: QueryPlan, compiled: CompiledQuery, limit: int) -> int:
        """Exact match count, stopping as soon as it exceeds ``limit`` (blocking)."""
        cursor = self.store.open_cursor(plan, decided_keys=frozenset(compiled.matching_keys))
        found = 0
        try:
            while found <= limit:
                rows = cursor.fetch(1024)
                if not rows:
                    break
                found += sum(
                    1
                    for row in rows
                    if row.decided or compiled.match(record_from_dataset(row_dataset(row)))
                )
        finally:
            cursor.close()
        return found


def _close_opened(future: asyncio.Future[tuple[RowCursor, list[ResultRow]]]) -> None:
    """Close a cursor whose opening finished after the request was cancelled."""
    if not future.cancelled() and future.exception() is None:
        future.result()[0].close()


def _close_after(cursor: RowCursor, fetch: asyncio.Future[list[ResultRow]] | None) -> None:
    """Close ``cursor`` now, or as soon as its in-flight batch fetch returns."""
    if fetch is None or fetch.done():
        cursor.close()
        return
    fetch.add_done_callback(lambda _f: cursor.close())


__all__ = ["Model", "Negotiated", "QROptions", "QRService", "row_dataset"]
