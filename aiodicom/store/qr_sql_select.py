"""The SELECT of a Q/R query plan, for both index backends (SQLite and PostgreSQL).

One builder, two dialects: the same joins (patient .. query level, PS3.4 C.6) and the
same pushed-down predicates (PS3.4 C.2.2.2: single value, wildcard, range, UID list),
so both backends push the same work into SQL. Only the spelling differs: placeholders
(``?`` / ``$n``), the wildcard operators (SQLite GLOB and LIKE; PostgreSQL LIKE and
ILIKE on ``COLLATE "C"`` columns, which fold ASCII only, like SQLite's LIKE), UID lists
(``IN (...)`` / ``= ANY(array)``), and PostgreSQL orders rows the way SQLite's plans
return them (:func:`sqlite_order`), so both send the same answer streams.
"""

from __future__ import annotations

from enum import StrEnum

from aiodicom.store.qr_model import Level
from aiodicom.store.qr_sql_schema import (
    ALIASES,
    COMPUTED_COLUMNS,
    INDEXED_COLUMNS,
    PARENT_REF,
    TABLES,
)
from aiodicom.store.qr_store import Op, Predicate, QueryPlan

Param = str | list[str]


class Dialect(StrEnum):
    """The SQL spelling of one backend."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class _Params:
    """Collects parameters; hands out the placeholder of each."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Param] = []

    def add(self, value: Param) -> str:
        self.values.append(value)
        return "?" if self.dialect is Dialect.SQLITE else f"${len(self.values)}"


def glob_to_like(pattern: str) -> str:
    """An SQLite GLOB pattern of :func:`aiodicom.qr.query.glob_pattern` as a LIKE pattern
    (escape character backslash): ``*`` -> ``%``, ``?`` -> ``_``, ``[c]`` -> ``c``."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "[" and i + 2 < len(pattern) and pattern[i + 2] == "]":
            ch, i = pattern[i + 1], i + 2
        elif ch in "*?":
            out.append("%" if ch == "*" else "_")
            i += 1
            continue
        out.append("\\" + ch if ch in "%_\\" else ch)
        i += 1
    return "".join(out)


def _match_sql(pred: Predicate, col: str, params: _Params) -> str:
    """The comparison of one predicate (without the NULL escape)."""
    sqlite = params.dialect is Dialect.SQLITE
    if pred.op is Op.EQ:
        return f"{col} = {params.add(pred.values[0])}"
    if pred.op is Op.IN:
        if sqlite:
            return f"{col} IN ({', '.join(params.add(v) for v in pred.values)})"
        return f"{col} = ANY({params.add(list(pred.values))}::text[])"
    if pred.op is Op.GLOB:
        if sqlite:
            return f"{col} GLOB {params.add(pred.values[0])}"
        return f"{col} LIKE {params.add(glob_to_like(pred.values[0]))} ESCAPE '\\'"
    if pred.op is Op.LIKE:
        operator = "LIKE" if sqlite else "ILIKE"
        return f"{col} {operator} {params.add(pred.values[0])} ESCAPE '\\'"
    low, high = pred.values
    parts = []
    if low:
        parts.append(f"{col} >= {params.add(low)}")
    if high:
        parts.append(f"{col} <= {params.add(high)}")
    return f"({' AND '.join(parts)})"


def predicate_sql(pred: Predicate, alias: str, params: _Params) -> str:
    """SQL for one pushed-down predicate; NULL columns always pass (Python decides)."""
    col = f"{alias}.{pred.key.column}"
    return f"({_match_sql(pred, col, params)} OR {col} IS NULL)"


def chain(plan: QueryPlan) -> list[Level]:
    """The entity tables joined for ``plan``: patient .. query level (PS3.4 C.6)."""
    return [lvl for lvl in Level if lvl <= plan.level]


def from_clause(levels: list[Level]) -> str:
    """The joins of the entity chain ``levels`` (each child on its parent's id)."""
    sql = f"{TABLES[levels[0]]} {ALIASES[levels[0]]}"
    for level in levels[1:]:
        parent = Level(level - 1)
        sql += (
            f" JOIN {TABLES[level]} {ALIASES[level]}"
            f" ON {ALIASES[level]}.{PARENT_REF[level]} = {ALIASES[parent]}.id"
        )
    return sql


def _where(plan: QueryPlan, params: _Params) -> str:
    clauses = [predicate_sql(p, ALIASES[p.key.level], params) for p in plan.predicates]
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def count_sql(plan: QueryPlan, dialect: Dialect) -> tuple[str, list[Param]]:
    """``SELECT count(*)`` of the candidate rows of ``plan``."""
    params = _Params(dialect)
    where = _where(plan, params)
    return f"SELECT count(*) FROM {from_clause(chain(plan))}{where}", params.values


def select_sql(
    plan: QueryPlan, decided_keys: frozenset[int], dialect: Dialect = Dialect.SQLITE
) -> tuple[str, list[Param]]:
    """The SELECT for ``plan``: blobs top first, computed columns, then the decided flag."""
    levels = chain(plan)
    yes, no = ("1", "0") if dialect is Dialect.SQLITE else ("TRUE", "FALSE")
    cols = [f"{ALIASES[lvl]}.attrs" for lvl in levels]
    cols += [f"{ALIASES[lvl]}.{col}" for lvl in levels for _, col in COMPUTED_COLUMNS[lvl]]
    if decided_keys <= plan.pushed:
        checks = [f"{ALIASES[p.key.level]}.{p.key.column} IS NOT NULL" for p in plan.predicates]
        cols.append(" AND ".join(checks) if checks else yes)
    else:
        cols.append(no)
    params = _Params(dialect)
    where = _where(plan, params)
    sql = f"SELECT {', '.join(cols)} FROM {from_clause(levels)}{where}"
    if dialect is Dialect.POSTGRESQL:
        sql += " ORDER BY " + ", ".join(sqlite_order(plan))
    # SQLite: no ORDER BY. C-FIND responses have no order (PS3.4 C.4.1.3), and a sort
    # would delay the first row until the whole result is known.
    return sql, params.values


_INDEX_USE = {Op.EQ: 0, Op.IN: 0, Op.GLOB: 1, Op.RANGE: 2}


def _driving(plan: QueryPlan) -> Predicate | None:
    """The predicate whose index SQLite's planner drives the query by (first of the most
    selective kind on an indexed column: equality, then a GLOB with a literal prefix, then
    a range); None when it scans the tables in id order."""
    usable = [
        p
        for p in plan.predicates
        if p.key.column in INDEXED_COLUMNS
        and p.op in _INDEX_USE
        and not (p.op is Op.GLOB and p.values[0][:1] in ("*", "?", "["))
    ]
    return min(usable, key=lambda p: _INDEX_USE[p.op], default=None)


def sqlite_order(plan: QueryPlan) -> list[str]:
    """ORDER BY terms giving the row order of SQLite's plan for ``plan`` (indexed key
    order, matching rows before NULL ones, then ids; else the ids top level first), so
    that both backends send the same answer stream."""
    levels = chain(plan)
    driving = _driving(plan)
    if driving is None:
        return [f"{ALIASES[lvl]}.id" for lvl in levels]
    alias = ALIASES[driving.key.level]
    below = [f"{ALIASES[lvl]}.id" for lvl in levels if lvl > driving.key.level]
    return [f"{alias}.{driving.key.column} NULLS LAST", f"{alias}.id", *below]
