"""A bounded in-memory log of the latest Modality Worklist C-FIND requests (and of the
MPPS N-CREATE / N-SET requests beside them, :class:`NEntry`, PS3.4 Annex F).

:func:`logged_handlers` marks the worklist service's C-FIND handler: every request
(PS3.7 9.1.2: one C-FIND-RQ, its pending responses and the final status) becomes one
:class:`QueryEntry` in a ring buffer, including requests refused with a failure status
(PS3.4 C.4.1.1.4) and cancelled ones (0xFE00, PS3.7 9.3.2.3). For a query with no match,
:func:`near_misses` names the items that came closest and, for each, the first key that
excluded it (``CompiledQuery.explain``, PS3.4 C.2.2.2). That work is done lazily, when
the log is read, never on the C-FIND path.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.errors import QueryError
from aiodicom.matching import CompiledQuery, MatchOptions, compile_query, unsupported_keys
from aiodicom.net.n_types import NEnd
from aiodicom.net.observe import CANCELLED, FAILED, INTERRUPTED, FindEnd, observed
from aiodicom.net.types import FindHandler, FindRequest
from aiodicom.proto.status import CANCEL, SUCCESS, UNABLE_TO_PROCESS, describe
from aiodicom.store.worklist import AeWorklist, WorklistStore
from aiodicom.worklist.keys import SUPPORTED_TAGS
from aiodicom.worklist.query import strip_keys
from aiodicom.worklist.service import WorklistService

NEAR_MISS_LIMIT = 5
NEAR_MISS_SCAN = 5000


@dataclass(slots=True)
class QueryEntry:
    """One C-FIND request as the service handled it."""

    seq: int
    stamp: float
    calling_ae: str
    called_ae: str
    peer: tuple[str, int]
    matches: int
    status: int
    comment: str | None
    ms: float
    request: FindRequest = field(repr=False)
    near: list[dict[str, object]] | None = field(default=None)
    _keys: dict[str, str] | None = field(default=None, repr=False)

    @property
    def time(self) -> str:
        """Local ISO 8601 time of the request's end, formatted only when read."""
        moment = datetime.datetime.fromtimestamp(self.stamp).astimezone()
        return moment.isoformat(timespec="milliseconds")

    @property
    def identifier(self) -> Dataset:
        """The query's identifier, decoded on first read (never on the C-FIND path)."""
        return self.request.identifier

    @property
    def keys(self) -> dict[str, str]:
        """Key path -> value text, computed on first read (never on the C-FIND path)."""
        if self._keys is None:
            self._keys = dict(key_values(self.identifier))
        return self._keys

    def as_dict(self) -> dict[str, object]:
        matching = {key: value for key, value in self.keys.items() if value}
        return {
            "seq": self.seq, "time": self.time, "calling_ae": self.calling_ae,
            "called_ae": self.called_ae, "peer": f"{self.peer[0]}:{self.peer[1]}",
            "keys": matching,
            "return_keys": [key for key, value in self.keys.items() if not value],
            "matches": self.matches, "status": f"0x{self.status:04X}",
            "status_text": describe(self.status), "comment": self.comment, "ms": self.ms,
            "near_misses": self.near,
        }  # fmt: skip


@dataclass(slots=True)
class NEntry:
    """One N-CREATE or N-SET (PS3.7 10.1.5, 10.1.3) as the live panel shows it: the SOP
    instance, the performed step's status and station, the response's status."""

    seq: int
    stamp: float
    end: NEnd = field(repr=False)

    def as_dict(self) -> dict[str, object]:
        request, outcome = self.end.request, self.end.outcome
        data = request.data_set
        keys = {
            "SOPInstanceUID": outcome.sop_instance_uid or request.sop_instance_uid or "",
            "PerformedProcedureStepStatus": str(data.get("PerformedProcedureStepStatus", "")),
            "PerformedStationAETitle": str(data.get("PerformedStationAETitle", "")),
        }
        moment = datetime.datetime.fromtimestamp(self.stamp).astimezone()
        return {
            "seq": self.seq, "kind": request.kind,
            "time": moment.isoformat(timespec="milliseconds"),
            "calling_ae": request.calling_ae.strip(), "called_ae": request.called_ae.strip(),
            "peer": f"{request.peer[0]}:{request.peer[1]}",
            "keys": {key: value for key, value in keys.items() if value},
            "status": f"0x{outcome.status:04X}", "status_text": describe(outcome.status),
            "comment": outcome.error_comment, "ms": round(self.end.seconds * 1000, 3),
        }  # fmt: skip


def key_values(identifier: Dataset, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key path, value text) of every key; sequence sub-keys as ``Sequence>Keyword``."""
    for element in identifier:
        name = prefix + (element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})")
        if element.VR == "SQ":
            items = list(element.value or [])
            if not items:
                yield name, ""
            for item in items[:1]:
                yield from key_values(item, f"{name}>")
        else:
            value = element.value
            yield name, "" if value is None else str(value)


class QueryLog:
    """Ring buffer of the last ``size`` queries (oldest dropped first)."""

    def __init__(self, size: int = 200) -> None:
        self._entries: deque[QueryEntry | NEntry] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def append(
        self, request: FindRequest, matches: int, status: int, comment: str | None, ms: float
    ) -> QueryEntry:
        entry = QueryEntry(
            seq=next(self._seq),
            stamp=time.time(),
            calling_ae=request.calling_ae.strip(),
            called_ae=request.called_ae.strip(),
            peer=request.peer,
            matches=matches,
            status=status,
            comment=comment,
            ms=round(ms, 3),
            request=request,
        )
        self._entries.append(entry)
        return entry

    def record(self, end: FindEnd) -> None:
        """Append the C-FIND that just ended (a :data:`~aiodicom.net.observe.FindObserver`).

        A cancelled or interrupted query is logged as 0xFE00 (PS3.7 9.3.2.3); a handler
        error as 0xC000 with the exception's text.
        """
        status, comment = end.status, end.comment
        outcome = end.outcome
        if outcome in (CANCELLED, INTERRUPTED):
            status, comment = CANCEL, None
        elif outcome == FAILED:
            status, comment = UNABLE_TO_PROCESS, str(end.error)
        assert status is not None  # only an interrupted C-FIND has no final status
        self.append(end.request, end.matches, status, comment, end.seconds * 1000)

    def record_n(self, end: NEnd) -> None:
        """Append an N-CREATE / N-SET that just ended, beside the C-FINDs (an
        :data:`~aiodicom.net.NObserver`, see ``register_n_service``)."""
        self._entries.append(NEntry(next(self._seq), time.time(), end))

    def latest(self, limit: int = 50, since: int = 0) -> list[QueryEntry]:
        """The C-FINDs only, newest first, at most ``limit``, with ``seq > since``."""
        entries = self.latest_all(limit=len(self._entries), since=since)
        return [entry for entry in entries if isinstance(entry, QueryEntry)][:limit]

    def latest_all(self, limit: int = 50, since: int = 0) -> list[QueryEntry | NEntry]:
        """C-FINDs and N-CREATE / N-SETs, newest first, at most ``limit``, ``seq > since``."""
        newest = [entry for entry in reversed(self._entries) if entry.seq > since]
        return newest[:limit]

    def __len__(self) -> int:
        return len(self._entries)


def logged_handlers(service: WorklistService, log: QueryLog) -> dict[str, FindHandler]:
    """The service's handler map with every C-FIND recorded in ``log``.

    The handlers are marked (:func:`aiodicom.net.observe.observed`), not wrapped: the
    server runs the service's own handler and reports each C-FIND's end to the log once.
    """
    return {uid: observed(handler, log.record) for uid, handler in service.handlers().items()}


def _single_key_queries(identifier: Dataset, options: MatchOptions) -> list[CompiledQuery]:
    """One compiled query per non-universal key (sequence sub-keys one by one)."""
    singles: list[Dataset] = []
    for element in identifier:
        if element.VR == "SQ":
            for sub in element.value[0] if element.value else []:
                if sub.VR != "SQ" and sub.value not in (None, "", "*"):
                    item = Dataset()
                    item.add(sub)
                    query = Dataset()
                    query.add_new(element.tag, "SQ", Sequence([item]))
                    singles.append(query)
        elif element.value not in (None, "", "*"):
            query = Dataset()
            query.add(element)
            singles.append(query)
    compiled = []
    for query in singles:
        try:
            compiled.append(compile_query(query, options))
        except QueryError:
            continue
    return compiled


def near_misses(
    identifier: Dataset, worklist: AeWorklist, options: MatchOptions
) -> list[dict[str, object]]:
    """The items matching the most keys, each with the first key that excluded it."""
    unsupported = unsupported_keys(identifier, SUPPORTED_TAGS)
    if unsupported:
        identifier = strip_keys(identifier, unsupported)
    try:
        compiled = compile_query(identifier, options)
    except QueryError as exc:
        return [{"id": None, "file": None, "reason": exc.comment or str(exc)}]
    singles = _single_key_queries(identifier, options)
    scored: list[tuple[int, int, str, str]] = []
    for index, item in enumerate(worklist.items[:NEAR_MISS_SCAN]):
        reason = compiled.explain(item.record)
        if reason is None:
            continue
        score = sum(1 for single in singles if single.match(item.record) is not None)
        scored.append((-score, index, item.path, reason))
    best = heapq.nsmallest(NEAR_MISS_LIMIT, scored)
    return [
        {"id": Path(path).stem, "file": Path(path).name, "reason": reason,
         "keys_matched": -score, "keys_total": len(singles)}
        for score, _, path, reason in best
    ]  # fmt: skip


def explain_entries(
    entries: list[QueryEntry | NEntry], store: WorklistStore, options: MatchOptions
) -> list[dict[str, Any]]:
    """Entries as dicts; zero-match successes get their near misses (computed once)."""
    snapshot = store.snapshot
    out = []
    for entry in entries:
        if isinstance(entry, NEntry):
            out.append(entry.as_dict())
            continue
        if entry.near is None and entry.matches == 0 and entry.status == SUCCESS:
            worklist = snapshot.get(entry.called_ae)
            entry.near = near_misses(entry.identifier, worklist, options) if worklist else []
        out.append(entry.as_dict())
    return out
