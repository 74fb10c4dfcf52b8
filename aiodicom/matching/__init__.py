"""PS3.4 C.2.2.2 attribute matching on normalized records, shared by worklist and Q/R.

Typical use::

    record = record_from_dataset(item_ds)          # once, at load time
    query = compile_query(identifier, MatchOptions())  # once per C-FIND (QueryError)
    result = query.match(record)                    # per entity: MatchResult | None
    if result is not None:
        response = project(identifier, item_ds, result)
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from aiodicom.matching.keys import DATETIME_PAIRS, KeySpec
from aiodicom.matching.model import (
    STATUS_IDENTIFIER_DOES_NOT_MATCH,
    STATUS_UNABLE_TO_PROCESS,
    MatchKind,
    MatchOptions,
    MatchResult,
    Record,
)
from aiodicom.matching.project import has_unsupported_keys, project, unsupported_keys
from aiodicom.matching.query import CompiledQuery, compile_query
from aiodicom.matching.records import record_from_dataset


def explain(query: CompiledQuery | Dataset, record: Record) -> str | None:
    """The first key that excludes ``record`` from ``query`` (PS3.4 C.2.2.2), or None.

    E.g. ``"ScheduledProcedureStepSequence>Modality: 'MR' does not match 'CT'"``.
    """
    compiled = query if isinstance(query, CompiledQuery) else compile_query(query)
    return compiled.explain(record)


__all__ = [
    "DATETIME_PAIRS",
    "STATUS_IDENTIFIER_DOES_NOT_MATCH",
    "STATUS_UNABLE_TO_PROCESS",
    "CompiledQuery",
    "KeySpec",
    "MatchKind",
    "MatchOptions",
    "MatchResult",
    "Record",
    "compile_query",
    "explain",
    "has_unsupported_keys",
    "project",
    "record_from_dataset",
    "unsupported_keys",
]
