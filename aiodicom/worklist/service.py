"""The Modality Worklist C-FIND service (PS3.4 Annex K) on the in-memory worklist store.

Per request: check the identifier (K.6.1.1), drop keys outside Table K.6-1 (pending
status 0xFF01, K.4.1.1.4), compile it (PS3.4 C.2.2.2), let the store's planner pick an
index, count the matches *before* sending anything (more than ``max_matches`` -> refused
with 0xA700 and a comment, never silently cut) and yield each response as bytes already
encoded in the presentation context's transfer syntax.

Sequence matching: one response per matching worklist item (requested procedure),
carrying only the Scheduled Procedure Step items that matched (PS3.4 C.2.2.2.6).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

import structlog
from pydicom.dataset import Dataset

from aiodicom.dicom.syntax import DEFLATED_EXPLICIT_VR_LE, deflate
from aiodicom.dicom.writer import Syntax, syntax_for
from aiodicom.errors import QueryError
from aiodicom.log import level_enabled
from aiodicom.matching import CompiledQuery, MatchOptions
from aiodicom.matching.model import MatchResult, Record
from aiodicom.net.types import (
    FindHandler,
    FindRequest,
    FindResponse,
    HandlerTraits,
    declare_traits,
)
from aiodicom.store.worklist import AeWorklist, WorklistStore
from aiodicom.store.worklist_loader import WorklistItem
from aiodicom.worklist.answers import AnswerCache
from aiodicom.worklist.builder import builder_for
from aiodicom.worklist.query import Plan, PreparedQuery, QueryCache

WORKLIST_SOP_CLASS = "1.2.840.10008.5.1.4.31"
OUT_OF_RESOURCES = 0xA700
NO_WORKLIST_FOR_AE = 0xC001
PENDING_WARNING = 0xFF01
WORKLIST_HANDLER = HandlerTraits(eager=True, checks_identifier=True)
"""``find`` needs no current task until it first suspends (it never awaits), and checks
its identifier's structure itself, in its query preparation (:mod:`.query`)."""

log = structlog.get_logger("aiodicom.worklist")

Match: TypeAlias = tuple[WorklistItem, MatchResult]
"""A matching worklist item and how it matched (the sequence items to return)."""


class Matcher(Protocol):
    """What :func:`scan` needs of a query (``aiodicom.matching.CompiledQuery``)."""

    def match(self, record: Record) -> MatchResult | None: ...


@dataclass(frozen=True, slots=True)
class WorklistOptions:
    """Service behaviour: the refusal limit and the matching switches (PS3.4 C.2.2.2)."""

    max_matches: int = 1000
    matching: MatchOptions = field(default_factory=MatchOptions)
    answer_cache_bytes: int = 64 << 20


class WorklistService:
    """Answers MWL C-FIND requests from a :class:`WorklistStore`."""

    def __init__(self, store: WorklistStore, options: WorklistOptions | None = None) -> None:
        self.store = store
        self.options = options or WorklistOptions()
        self.cache = QueryCache()
        self.answers = AnswerCache(self.options.answer_cache_bytes)

    def handlers(self) -> dict[str, FindHandler]:
        """The handler map for :class:`aiodicom.Server`."""
        return {WORKLIST_SOP_CLASS: declare_traits(self.find, WORKLIST_HANDLER)}

    def _worklist(self, called_ae: str) -> AeWorklist:
        worklist = self.store.snapshot.get(called_ae)
        if worklist is None:
            raise QueryError(
                NO_WORKLIST_FOR_AE, comment=f"no worklist folder for called AE {called_ae!r}"
            )
        return worklist

    async def find(self, request: FindRequest) -> AsyncIterator[Dataset | bytes | FindResponse]:
        """The C-FIND handler, in the steps of PS3.4 K.4.1.2.2 (an async generator; the
        server closes it on C-CANCEL).

        1. the snapshot of the called AE's worklist that the whole query sees;
        2. check the identifier and compile the query (:mod:`aiodicom.worklist.query`);
        3. search, limit and encode (:meth:`_answers`), or replay an identical answer;
        4. send one pending response per match (0xFF01 when keys were dropped).
        """
        started = time.perf_counter()
        worklist = self._worklist(request.called_ae)
        query = self.cache.prepared(request, self.options.matching)
        source, total, index_used, fresh = self._answers(request, query, worklist)
        raw, syntax = request.identifier_bytes, request.transfer_syntax
        verbose = level_enabled(logging.DEBUG)  # at info the audit line is the query's line
        deflated = syntax == DEFLATED_EXPLICIT_VR_LE
        sent = 0
        try:
            for data in source:
                if fresh is not None:
                    fresh.append(data)
                sent += 1
                response = deflate(data) if deflated else data
                yield FindResponse(response, PENDING_WARNING) if query.unsupported else response
            if fresh is not None:
                self.answers.put(raw, syntax, worklist, fresh)
        finally:
            if verbose:
                log.debug(
                    "worklist query",
                    **_context(request, query, index_used),
                    matches=total,
                    sent=sent,
                    ms=round((time.perf_counter() - started) * 1000, 3),
                    outcome="done" if sent == total else "cancelled",
                    unsupported=list(query.unsupported_names),
                )

    def _answers(
        self, request: FindRequest, query: PreparedQuery, worklist: AeWorklist
    ) -> tuple[Iterable[bytes], int, str, list[bytes] | None]:
        """(responses, their count, index used, list to keep them in or None).

        An identical query on an unchanged snapshot replays the kept answer; else the
        worklist is searched (PS3.4 C.2.2.2), the count checked against the limit
        (K.4.1.1.4) and each match encoded when it is sent (K.4.1.1.3.2).
        """
        kept = self.answers.get(request.identifier_bytes, request.transfer_syntax, worklist)
        if kept is not None:
            return kept, len(kept), "answer-cache", None
        matches, index_used = search(worklist, query.compiled, self.options.matching.fuzzy_pn)
        self._check_limit(len(matches), query, request, index_used)
        syntax = syntax_for(request.transfer_syntax)
        return _encode(matches, query.plan, syntax), len(matches), index_used, []

    def _check_limit(
        self, count: int, query: PreparedQuery, request: FindRequest, index: str
    ) -> None:
        """Refuse more than ``max_matches`` matches with 0xA700 (PS3.4 K.4.1.1.4).

        The Error Comment (at most 64 characters, VR LO) and the warning name the setting
        to raise: ``worklist.max_matches`` in the config, ``--max-matches`` on the command
        line of aiodicom-worklist.
        """
        limit = self.options.max_matches
        if count > limit:
            comment = f"{count} matches > worklist.max_matches={limit} (--max-matches)"
            log.warning(
                "worklist query refused",
                **_context(request, query, index),
                matches=count,
                reason=f"{count} matches exceed worklist.max_matches={limit}; narrow the "
                "query, or raise worklist.max_matches (config) or --max-matches",
            )
            raise QueryError(OUT_OF_RESOURCES, comment=comment)


def search(
    worklist: AeWorklist, query: CompiledQuery, fuzzy_pn: bool = False
) -> tuple[list[Match], str]:
    """The matches of ``query`` in item order (PS3.4 C.2.2.2), among the candidates the
    store's indexes leave, and the index used ("scan" when none was usable)."""
    candidates, used = worklist.candidates(query, fuzzy_pn=fuzzy_pn)
    return _matching(candidates, query), used


def scan(worklist: AeWorklist, query: Matcher) -> list[Match]:
    """The matches of ``query`` among every item: the reference for :func:`search`."""
    return _matching(worklist.items, query)


def _matching(items: Iterable[WorklistItem], query: Matcher) -> list[Match]:
    matches: list[Match] = []
    for item in items:
        result = query.match(item.record)
        if result is not None:
            matches.append((item, result))
    return matches


def _context(request: FindRequest, query: PreparedQuery, index: str) -> dict[str, object]:
    return {"calling_ae": request.calling_ae, "keys": list(query.keys), "index": index}


def _encode(matches: list[Match], plan: Plan, encoding: Syntax) -> Iterator[bytes]:
    """Each match's response identifier (PS3.4 K.4.1.1.3.2), encoded when it is sent."""
    build = builder_for(plan, encoding)
    for item, result in matches:
        yield build(item.raw, result)
