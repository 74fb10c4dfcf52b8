"""MWL query preparation, and its caches: from identifier bytes to a prepared query.

PS3.4 K.4.1.1 / K.6.1.1: check the identifier (no Query/Retrieve Level in the MWL model),
drop keys outside Table K.6-1 (answered with pending status 0xFF01, K.4.1.1.4), compile
the matching keys (C.2.2.2) and plan the response keys (C.2.2.1.3). Identifier bytes are
read by :mod:`aiodicom.dicom.scan` (fast scan mode, then the general reader) and compiled
by :mod:`aiodicom.matching.raw` without a pydicom Dataset; anything unusual takes the
Dataset path, which gives the precise error. :class:`QueryCache` holds the four layers of
caching, from the cheapest source that gives exactly the same prepared query.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeAlias

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.dicom.identifier import check_identifier, decode_identifier
from aiodicom.dicom.reader import MutableRaw, RawDataset
from aiodicom.dicom.scan import parse_identifier, scan_identifier, vr_is_certain
from aiodicom.dicom.syntax import SPECIFIC_CHARACTER_SET, vr_of
from aiodicom.errors import QueryError
from aiodicom.matching import CompiledQuery, MatchOptions, compile_query, unsupported_keys
from aiodicom.matching.raw import KeyMemo, ShapePlan, compile_raw
from aiodicom.net.types import FindRequest
from aiodicom.worklist.keys import SUPPORTED_TAGS

IDENTIFIER_DOES_NOT_MATCH = 0xA900
CACHE_ENTRIES = 1024
"""Prepared queries kept per service (modalities poll with byte-identical identifiers)."""
CACHE_MAX_IDENTIFIER = 4096
"""Identifiers longer than this (bytes) are prepared every time, never cached."""
SHAPE_CACHE_ENTRIES = 256
"""Identifier shapes (keys and VRs, values ignored) whose key analysis is kept."""

QUERY_RETRIEVE_LEVEL = 0x00080052

Shape: TypeAlias = tuple[tuple[int, str, tuple["Shape", ...] | None], ...]
"""Tags, VRs and sequence item shapes of an identifier, in order; values left out."""


def raw_shape(raw: RawDataset) -> Shape | None:
    """The :data:`Shape` of raw elements; None when a VR is unknown or not certain.

    Identifiers of one shape have the same unsupported keys (PS3.4 K.4.1.1.4) and the same
    response plan (C.2.2.1.3), so the service analyses each shape once.
    """
    shape: list[tuple[int, str, tuple[Shape, ...] | None]] = []
    for tag, (vr, value) in raw.items():
        if vr == "UN" or not vr_is_certain(tag):
            return None
        items: tuple[Shape, ...] | None = None
        if isinstance(value, tuple):
            nested = [raw_shape(item) for item in value]
            if any(item is None for item in nested):
                return None
            items = tuple(item for item in nested if item is not None)
        shape.append((tag, vr, items))
    return tuple(shape)


def has_query_level(raw: RawDataset) -> bool:
    """True when the identifier carries Query/Retrieve Level (0008,0052): not MWL (K.6.1.1)."""
    return QUERY_RETRIEVE_LEVEL in raw


def strip_raw(raw: RawDataset, paths: Collection[tuple[int, ...]]) -> RawDataset:
    """A copy of ``raw`` without the given (possibly nested) key paths."""
    drop = {path[0] for path in paths if len(path) == 1}
    out: MutableRaw = {}
    for tag, (vr, value) in raw.items():
        if tag in drop:
            continue
        nested = [path[1:] for path in paths if len(path) > 1 and path[0] == tag]
        if nested and isinstance(value, tuple):
            out[tag] = (vr, tuple(strip_raw(item, nested) for item in value))
        else:
            out[tag] = (vr, value)
    return out


FULL = "full"
"""Sub-plan marker: a sequence requested with no item or one empty item (universal)."""

IF_PRESENT = "if-present"
"""Sub-plan marker: add the element only when the item has it (Specific Character Set)."""

Plan: TypeAlias = "tuple[tuple[int, str, Plan | str | None], ...]"
"""Requested keys in tag order: (tag, VR, None for a leaf | sub-plan | FULL | IF_PRESENT)."""


def plan_from_query(query: Dataset) -> Plan:
    """Requested keys of an identifier, nested sequences included (PS3.4 C.2.2.1.3)."""
    plan: list[tuple[int, str, Plan | str | None]] = []
    for element in query:
        tag = int(element.tag)
        if tag & 0xFFFF == 0 or tag == SPECIFIC_CHARACTER_SET:
            continue
        vr = str(element.VR) if element.VR else vr_of(tag)
        if vr == "SQ":
            items = element.value if isinstance(element.value, Sequence) else []
            if not items or len(items[0]) == 0:
                plan.append((tag, "SQ", FULL))
            else:
                plan.append((tag, "SQ", plan_from_query(items[0])))
        else:
            plan.append((tag, vr.split(" or ", maxsplit=1)[0], None))
    # PS3.4 K.4.1.1.3.2: the character set goes back when requested or when the item has one
    charset = None if SPECIFIC_CHARACTER_SET in query else IF_PRESENT
    plan.append((SPECIFIC_CHARACTER_SET, "CS", charset))
    plan.sort(key=lambda entry: entry[0])
    return tuple(plan)


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


def _identifier(request: FindRequest) -> Dataset:
    """The identifier as a Dataset: decoded from its bytes, which were checked
    (:meth:`QueryCache.prepared`); a request built in process may carry it as such."""
    raw = request.identifier_bytes
    if not raw:
        return request.identifier
    return decode_identifier(raw, request.transfer_syntax, materialize=False)


class QueryCache:
    """Prepared queries, from the cheapest source that gives exactly the same answer.

    1. A bounded LRU keyed by (identifier bytes, transfer syntax): the raw bytes fully
       determine the decoded identifier, so a hit is what :func:`prepare_query` returns.
    2. Else the bytes are scanned once (:func:`aiodicom.dicom.scan.scan_identifier`)
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
        """The prepared query of ``request``, from the cache when possible.

        Identifier bytes not seen before are first checked (PS3.5 7: a data set whose
        structure is sound; DataError, answered 0xC000, when it is not): the first step
        of PS3.4 K.4.1.2.2, for which the server relies on this service
        (``HandlerTraits.checks_identifier``). Bytes in the cache were checked already.
        """
        raw = request.identifier_bytes
        if not raw or len(raw) > CACHE_MAX_IDENTIFIER or self.entries <= 0:
            if raw:
                check_identifier(raw, request.transfer_syntax)
            return prepare_query(_identifier(request), options)
        key = (raw, request.transfer_syntax)
        found = self._cache.get(key)
        if found is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return found
        self.misses += 1
        check_identifier(raw, request.transfer_syntax)
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
        prepared = prepare_query(_identifier(request), options)
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
