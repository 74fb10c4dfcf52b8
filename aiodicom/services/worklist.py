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
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from dataclasses import dataclass, field

import structlog
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.codec import deflate
from aiodicom.errors import QueryError
from aiodicom.log import level_enabled
from aiodicom.matching import CompiledQuery, MatchOptions, compile_query, unsupported_keys
from aiodicom.matching.model import MatchResult
from aiodicom.matching.raw import KeyMemo, ShapePlan, compile_raw
from aiodicom.net.types import (
    FindHandler,
    FindRequest,
    FindResponse,
    HandlerTraits,
    declare_traits,
)
from aiodicom.services.worklist_answers import AnswerCache
from aiodicom.store.worklist import AeWorklist, WorklistStore
from aiodicom.store.worklist_builder import builder_for
from aiodicom.store.worklist_encode import DEFLATED_LE, Plan, Syntax, plan_from_query
from aiodicom.store.worklist_encode import syntax_for as encoding_for
from aiodicom.store.worklist_keys import SUPPORTED_TAGS
from aiodicom.store.worklist_loader import WorklistItem
from aiodicom.store.worklist_parse import RawDataset
from aiodicom.store.worklist_query import (
    Shape,
    has_query_level,
    parse_identifier,
    raw_shape,
    scan_identifier,
    strip_raw,
)

WORKLIST_SOP_CLASS = "1.2.840.10008.5.1.4.31"
QUERY_RETRIEVE_LEVEL = 0x00080052
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH = 0xA900
NO_WORKLIST_FOR_AE = 0xC001
PENDING = 0xFF00
PENDING_WARNING = 0xFF01
CACHE_ENTRIES = 1024
"""Prepared queries kept per service (modalities poll with byte-identical identifiers)."""
CACHE_MAX_IDENTIFIER = 4096
"""Identifiers longer than this (bytes) are prepared every time, never cached."""
SHAPE_CACHE_ENTRIES = 256
"""Identifier shapes (keys and VRs, values ignored) whose key analysis is kept."""
WORKLIST_HANDLER = HandlerTraits(eager=True)
"""``find`` needs no current task until it first suspends (it never awaits)."""

log = structlog.get_logger("aiodicom.worklist")


@dataclass(frozen=True, slots=True)
class WorklistOptions:
    """Service behaviour: the refusal limit and the matching switches (PS3.4 C.2.2.2)."""

    max_matches: int = 1000
    matching: MatchOptions = field(default_factory=MatchOptions)
    answer_cache_bytes: int = 64 << 20


def _key_name(tag: int) -> str:
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def strip_keys(query: Dataset, paths: Collection[tuple[int, ...]]) -> Dataset:
    """A copy of ``query`` without the given (possibly nested) key paths."""
    out = Dataset()
    drop = {path[0] for path in paths if len(path) == 1}
    for element in query:
        tag = int(element.tag)
        if tag in drop:
            continue
        nested = [path[1:] for path in paths if len(path) > 1 and path[0] == tag]
        if nested and element.VR == "SQ":
            items = [strip_keys(item, nested) for item in element.value]
            out.add(DataElement(tag, "SQ", Sequence(items)))
        else:
            out.add(element)
    return out


def query_level_refusal() -> QueryError:
    """PS3.4 K.6.1.1: the MWL model has no Query/Retrieve Level; refused with 0xA900."""
    return QueryError(
        IDENTIFIER_DOES_NOT_MATCH,
        comment="Query/Retrieve Level (0008,0052) is not part of a Modality Worklist "
        "identifier (PS3.4 K.6.1.1)",
    )


@dataclass(frozen=True, slots=True)
class PreparedQuery:
    """Everything derived from one identifier alone: the per-request work done once.

    ``compiled`` is the matcher (C.2.2.2) of the query without its unsupported keys
    (PS3.4 K.4.1.1.4: answered with 0xFF01), ``plan`` the response keys.
    """

    unsupported: tuple[tuple[int, ...], ...]
    unsupported_names: tuple[str, ...]
    compiled: CompiledQuery
    plan: Plan

    @property
    def keys(self) -> tuple[str, ...]:
        """Names of the matching keys, for the log line (computed only when logged)."""
        return tuple(_key_name(tag) for tag in self.compiled.matching_keys)


@dataclass(frozen=True, slots=True)
class KeyAnalysis:
    """What depends only on an identifier's keys, not on their values.

    Unsupported keys (PS3.4 K.4.1.1.4) and the response plan (PS3.4 C.2.2.1.3) are
    functions of the tags, VRs and sequence items of the identifier: identifiers of the
    same :func:`identifier_shape` share one analysis.
    """

    unsupported: tuple[tuple[int, ...], ...]
    unsupported_names: tuple[str, ...]
    plan: Plan


def analyse_keys(identifier: Dataset) -> tuple[KeyAnalysis, Dataset]:
    """The key analysis of ``identifier`` and the identifier without unsupported keys."""
    unsupported = tuple(unsupported_keys(identifier, SUPPORTED_TAGS))
    if unsupported:
        identifier = strip_keys(identifier, unsupported)
    names = tuple(_key_name(path[-1]) for path in unsupported)
    return KeyAnalysis(unsupported, names, plan_from_query(identifier)), identifier


def prepare_query(
    identifier: Dataset, options: MatchOptions, analysis: KeyAnalysis | None = None
) -> PreparedQuery:
    """Check, strip and compile one identifier (QueryError for an invalid one).

    ``analysis`` is a key analysis of an identifier with the same shape, reused as is.
    """
    if QUERY_RETRIEVE_LEVEL in identifier:
        raise query_level_refusal()
    if analysis is None:
        analysis, identifier = analyse_keys(identifier)
    elif analysis.unsupported:
        identifier = strip_keys(identifier, analysis.unsupported)
    return _prepared(analysis, compile_query(identifier, options))


def _prepared(analysis: KeyAnalysis, compiled: CompiledQuery) -> PreparedQuery:
    return PreparedQuery(
        unsupported=analysis.unsupported,
        unsupported_names=analysis.unsupported_names,
        compiled=compiled,
        plan=analysis.plan,
    )


def prepare_raw(
    elements: RawDataset, options: MatchOptions, analysis: KeyAnalysis, memo: KeyMemo
) -> PreparedQuery:
    """:func:`prepare_query` on raw elements, with the analysis of their shape."""
    if has_query_level(elements):
        raise query_level_refusal()
    if analysis.unsupported:
        elements = strip_raw(elements, analysis.unsupported)
    return _prepared(analysis, compile_raw(elements, options, memo))


class QueryCache:
    """Prepared queries, from the cheapest source that gives exactly the same answer.

    1. A bounded LRU keyed by (identifier bytes, transfer syntax): the raw bytes fully
       determine the decoded identifier, so a hit is what :func:`prepare_query` returns.
    2. Else the bytes are scanned once (:func:`aiodicom.store.worklist_query.scan_identifier`)
       into raw elements and a shape key; a shape key seen before has a :class:`ShapeTemplate`
       that compiles only the keys with a value (:class:`aiodicom.matching.raw.ShapePlan`).
    3. Else, when the elements' :data:`Shape` was analysed before, the values are compiled
       straight from them (:func:`aiodicom.matching.raw.compile_raw`), each key through a memo.
    4. Else the pydicom Dataset path, whose key analysis is kept for the shape.

    Invalid identifiers are never cached, nor requests without raw bytes (built in
    process, e.g. by tests).
    """

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._cache: OrderedDict[tuple[bytes, str], PreparedQuery] = OrderedDict()
        self._shapes: OrderedDict[Shape, KeyAnalysis] = OrderedDict()
        self._templates: OrderedDict[bytes, ShapeTemplate] = OrderedDict()
        self.memo = KeyMemo()
        self.hits = 0
        self.misses = 0

    def prepared(self, request: FindRequest, options: MatchOptions) -> PreparedQuery:
        """The prepared query of ``request``, from the cache when possible."""
        raw = request.identifier_bytes
        if not raw or len(raw) > CACHE_MAX_IDENTIFIER or self.entries <= 0:
            return prepare_query(request.identifier, options)
        key = (raw, request.transfer_syntax)
        found = self._cache.get(key)
        if found is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return found
        self.misses += 1
        prepared = self._prepare_by_shape(request, options)
        self._cache[key] = prepared
        if len(self._cache) > self.entries:
            self._cache.popitem(last=False)
        return prepared

    def _prepare_by_shape(self, request: FindRequest, options: MatchOptions) -> PreparedQuery:
        """Prepare by shape template, else from raw elements of a known shape, else via a
        Dataset; a template is kept for the scanned shape once it has an analysis."""
        data, syntax = request.identifier_bytes, request.transfer_syntax
        scanned = scan_identifier(data, syntax)
        if scanned is None:
            return self._prepare_parsed(request, options, parse_identifier(data, syntax))
        elements, shape_key = scanned
        template = self._templates.get(shape_key)
        if template is not None:
            self._templates.move_to_end(shape_key)
            return template.prepare(elements, options, self.memo)
        prepared = self._prepare_parsed(request, options, elements)
        template = ShapeTemplate.of(elements, prepared)
        if template is not None:
            self._templates[shape_key] = template
            if len(self._templates) > SHAPE_CACHE_ENTRIES:
                self._templates.popitem(last=False)
        return prepared

    def _prepare_parsed(
        self, request: FindRequest, options: MatchOptions, elements: RawDataset | None
    ) -> PreparedQuery:
        """Prepare from raw elements when their shape is known, else via a Dataset."""
        shape = None if elements is None else raw_shape(elements)
        analysis = None if shape is None else self._shapes.get(shape)
        if elements is not None and shape is not None and analysis is not None:
            self._shapes.move_to_end(shape)
            return prepare_raw(elements, options, analysis, self.memo)
        prepared = prepare_query(request.identifier, options)
        if shape is not None:
            self._shapes[shape] = KeyAnalysis(
                prepared.unsupported, prepared.unsupported_names, prepared.plan
            )
            if len(self._shapes) > SHAPE_CACHE_ENTRIES:
                self._shapes.popitem(last=False)
        return prepared

    def __len__(self) -> int:
        return len(self._cache)


class ShapeTemplate:
    """The prepared-query parts shared by every identifier of one scanned shape.

    Built from a first identifier that was prepared the general way: its key analysis
    (unsupported keys, K.4.1.1.4; response plan, C.2.2.1.3) and a :class:`ShapePlan` of
    the identifier without its unsupported keys.
    """

    __slots__ = ("analysis", "plan")

    def __init__(self, analysis: KeyAnalysis, plan: ShapePlan) -> None:
        self.analysis = analysis
        self.plan = plan

    @classmethod
    def of(cls, elements: RawDataset, prepared: PreparedQuery) -> ShapeTemplate | None:
        """The template of a prepared identifier's shape; None when unsupported keys sit
        deeper than one sequence item (the plan strips only top-level and item keys)."""
        if has_query_level(elements) or any(len(path) > 2 for path in prepared.unsupported):
            return None
        analysis = KeyAnalysis(prepared.unsupported, prepared.unsupported_names, prepared.plan)
        kept = strip_raw(elements, prepared.unsupported) if prepared.unsupported else elements
        return cls(analysis, ShapePlan(kept))

    def prepare(self, elements: RawDataset, options: MatchOptions, memo: KeyMemo) -> PreparedQuery:
        """:func:`prepare_raw` of ``elements``, which have the template's shape."""
        return _prepared(self.analysis, self.plan.compile(elements, options, memo))


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
        """The C-FIND handler (an async generator; the server closes it on C-CANCEL)."""
        started = time.perf_counter()
        worklist = self._worklist(request.called_ae)  # one snapshot for the whole query
        query = self.cache.prepared(request, self.options.matching)
        raw, syntax = request.identifier_bytes, request.transfer_syntax
        verbose = level_enabled(logging.DEBUG)  # at info the audit line is the query's line
        kept = self.answers.get(raw, syntax, worklist)
        fresh: list[bytes] | None = None
        if kept is None:
            matches, index_used = worklist.search(
                query.compiled, fuzzy_pn=self.options.matching.fuzzy_pn
            )
            self._check_limit(len(matches), query, request, index_used)
            source: Iterable[bytes] = _encode(matches, query.plan, encoding_for(syntax))
            total, fresh = len(matches), []
        else:
            source, total, index_used = kept, len(kept), "answer-cache"
        deflated = syntax == DEFLATED_LE
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


def _context(request: FindRequest, query: PreparedQuery, index: str) -> dict[str, object]:
    return {"calling_ae": request.calling_ae, "keys": list(query.keys), "index": index}


def _encode(
    matches: list[tuple[WorklistItem, MatchResult]], plan: Plan, encoding: Syntax
) -> Iterator[bytes]:
    """Each match's response identifier (PS3.4 K.4.1.1.3.2), encoded when it is sent."""
    build = builder_for(plan, encoding)
    for item, result in matches:
        yield build(item.raw, result)
