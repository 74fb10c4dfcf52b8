"""Turn a Q/R C-FIND identifier into a storage-neutral query plan (no SQL here).

PS3.4 C.4.1.3.1 (hierarchical search) and C.4.1.3.2 (relational search) decide which keys
take part in matching; PS3.4 C.2.2.2 decides how each key matches. The plan lists the
keys a database can decide on indexed columns ("push-down"): single value and wildcard
matching of AE/CS/LO/SH and of plain ASCII person names, DA values and ranges, and UID
lists. Every
pushed-down predicate also admits rows whose column is NULL (absent, empty or irregular
values), so the database returns a superset and Python matching stays the judge.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.errors import QueryError
from aiodicom.matching.keys import KeySpec
from aiodicom.matching.model import MatchKind, MatchOptions
from aiodicom.matching.query import CompiledQuery, compile_query
from aiodicom.store.qr_files import text_of
from aiodicom.store.qr_model import (
    KEYS_BY_TAG,
    MODEL_LEVELS,
    QUERY_RETRIEVE_LEVEL,
    SPECIFIC_CHARACTER_SET,
    UNIQUE_KEYS,
    KeyDef,
    Level,
    Model,
    key_level,
)
from aiodicom.store.qr_store import Op, Predicate, QueryPlan

IDENTIFIER_DOES_NOT_MATCH = 0xA900
MISSING_UNIQUE_KEY = 0xC001

_DATE_LEN = 8
_PUSHABLE_TEXT_VRS = frozenset({"AE", "CS", "LO", "SH"})


def parse_level(identifier: Dataset, model: Model) -> Level:
    """Read and check Query/Retrieve Level (0008,0052) for ``model``.

    PS3.4 C.4.1.1.3.1: the identifier shall contain the level; PS3.4 C.6.x.1.1: it must be
    one of the model's levels. Either failure is 0xA900 (identifier does not match SOP
    class).
    """
    elem = identifier.get(QUERY_RETRIEVE_LEVEL)
    text = text_of(elem).strip() if elem is not None else ""
    if not text:
        raise QueryError(
            IDENTIFIER_DOES_NOT_MATCH, comment="Query/Retrieve Level (0008,0052) is missing"
        )
    level = Level.parse(text)
    if level is None or level not in MODEL_LEVELS[model]:
        raise QueryError(
            IDENTIFIER_DOES_NOT_MATCH,
            comment=f"level {text!r} is not a level of the {model.name} model",
        )
    return level


def _check_unique_keys(identifier: Dataset, model: Model, level: Level) -> None:
    """PS3.4 C.4.1.3.1: hierarchical search needs the unique key of every level above."""
    for upper in MODEL_LEVELS[model]:
        if upper >= level:
            break
        tag = UNIQUE_KEYS[upper]
        elem = identifier.get(tag)
        if elem is None or not text_of(elem).strip():
            raise QueryError(
                MISSING_UNIQUE_KEY,
                comment=(
                    f"hierarchical {level.name} query needs the {upper.name} unique key "
                    f"({tag >> 16:04X},{tag & 0xFFFF:04X}) with a value"
                ),
            )


def _takes_part(model: Model, level: Level, relational: bool, tag: int) -> bool:
    """Whether ``tag`` is matched (PS3.4 C.4.1.3.1 / C.4.1.3.2).

    Keys below the query level never match. Relational search matches every key at or
    above the level; hierarchical search matches the query level plus the unique keys above.
    """
    at = key_level(model, tag)
    if at > level:
        return False
    if relational or at == level:
        return True
    return UNIQUE_KEYS.get(at) == tag


def _universal(elem: DataElement) -> DataElement:
    """The same key with a zero-length value (universal matching, PS3.4 C.2.2.2.3)."""
    if elem.VR == "SQ":
        return DataElement(elem.tag, "SQ", Sequence())
    return DataElement(elem.tag, elem.VR, None)


def matching_identifier(identifier: Dataset, model: Model, level: Level, rel: bool) -> Dataset:
    """The identifier given to the matching engine: non-participating keys made universal.

    Query/Retrieve Level and Specific Character Set are not matched (PS3.4 C.4.1.1.3.1).
    """
    out = Dataset()
    for elem in identifier:
        tag = int(elem.tag)
        if tag in (QUERY_RETRIEVE_LEVEL, SPECIFIC_CHARACTER_SET) or tag >> 16 == 0:
            continue
        out.add(elem if _takes_part(model, level, rel, tag) else _universal(elem))
    if SPECIFIC_CHARACTER_SET in identifier:
        out.add(identifier[SPECIFIC_CHARACTER_SET])
    return out


def glob_pattern(value: str) -> str:
    """Translate a DICOM wildcard value (PS3.4 C.2.2.2.4) into an SQLite GLOB pattern."""
    return "".join("[[]" if ch == "[" else "[]]" if ch == "]" else ch for ch in value)


def _is_date(text: str) -> bool:
    return len(text) == _DATE_LEN and text.isdigit()


def like_pattern(value: str) -> str:
    """A DICOM wildcard value as an SQL LIKE pattern with escape character backslash."""
    out = []
    for ch in value:
        if ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append({"*": "%", "?": "_"}.get(ch, ch))
    return "".join(out)


def _pn_predicate(key: KeyDef, spec: KeySpec, options: MatchOptions) -> Predicate | None:
    """PS3.4 C.2.2.2.1: plain ASCII names in one component group (the only ones with a
    column value) compare like SQL LIKE (case-insensitive) or GLOB (case-sensitive)."""
    text = spec.text
    if not text or not text.isascii() or "=" in text or "\\" in text:
        return None
    if spec.kind not in (MatchKind.SINGLE, MatchKind.WILDCARD):
        return None
    if options.pn_case_sensitive:
        if spec.kind is MatchKind.SINGLE:
            return Predicate(key, Op.EQ, (text,))
        return Predicate(key, Op.GLOB, (glob_pattern(text),))
    return Predicate(key, Op.LIKE, (like_pattern(text),))


def predicate_for(
    key: KeyDef, spec: KeySpec, options: MatchOptions | None = None
) -> Predicate | None:
    """The push-down predicate for one classified key, or None if SQL can't decide it.

    Uses the matching engine's classification (PS3.4 C.2.2.2) so both sides agree.
    TM/DT/IS/DS (no lexical order), EMPTY (C.2.2.2.1.5), non-ASCII or grouped PN and
    multi-valued keys other than UID lists stay with Python matching.
    """
    values = spec.values
    if key.vr == "PN" and spec.vr == "PN":
        return _pn_predicate(key, spec, options or MatchOptions())
    if key.vr == "UI" and spec.kind in (MatchKind.SINGLE, MatchKind.UID_LIST) and values:
        return Predicate(key, Op.IN if len(values) > 1 else Op.EQ, tuple(values))
    if len(values) != 1 or spec.vr != key.vr:
        return None
    if key.vr == "DA":
        if spec.kind is MatchKind.RANGE and spec.bounds is not None:
            low, high = spec.bounds
            if all(_is_date(b) for b in (low, high) if b) and (low or high):
                return Predicate(key, Op.RANGE, (low, high))
        if spec.kind is MatchKind.SINGLE and _is_date(values[0]):
            return Predicate(key, Op.EQ, values)
        return None
    if key.vr not in _PUSHABLE_TEXT_VRS:
        return None
    if spec.kind is MatchKind.WILDCARD:
        return Predicate(key, Op.GLOB, (glob_pattern(values[0]),))
    if spec.kind is MatchKind.SINGLE:
        return Predicate(key, Op.EQ, values)
    return None


def plan_predicates(compiled: CompiledQuery) -> tuple[Predicate, ...]:
    """Push-down predicates for the matching keys that have an indexed column."""
    predicates: list[Predicate] = []
    for tag in compiled.matching_keys:
        key = KEYS_BY_TAG.get(tag)
        spec = compiled.keys.get(tag)
        if key is None or spec is None:
            continue
        predicate = predicate_for(key, spec, compiled.options)
        if predicate is not None:
            predicates.append(predicate)
    return tuple(predicates)


def build_plan(
    identifier: Dataset, model: Model, relational: bool, options: MatchOptions
) -> tuple[QueryPlan, CompiledQuery]:
    """Validate ``identifier`` for ``model``, compile it, and derive the store's plan.

    Raises :class:`QueryError` with 0xA900 (bad or missing level, or a malformed key) or
    0xC001 (hierarchical search without a unique key above the level, PS3.4 C.4.1.3.1).
    """
    level = parse_level(identifier, model)
    if not relational:
        _check_unique_keys(identifier, model, level)
    matching = matching_identifier(identifier, model, level, relational)
    compiled = compile_query(matching, options)
    predicates = plan_predicates(compiled)
    plan = QueryPlan(
        model=model,
        level=level,
        relational=relational,
        matching=matching,
        predicates=predicates,
        pushed=frozenset(p.key.tag for p in predicates),
    )
    return plan, compiled
