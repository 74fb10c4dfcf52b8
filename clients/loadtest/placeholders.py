"""Parameterised queries: ``-k`` values and YAML keys with ``{placeholders}``.

A key value may hold placeholders filled anew for every query sent, so that an SCP's
answer cache does not turn the load test into a cache test:

* ``{column}``: a column of the ``--values`` CSV file; every column of one query comes
  from the same row (``PatientID={patient_id}`` with ``PatientName={patient_name}``);
* ``{date:LO..HI}``: a random date (DA, YYYYMMDD) from LO to HI inclusive; each bound is
  YYYYMMDD or ``today``, ``today+N``, ``today-N`` (days);
* ``{choice:A|B|C}``: a random item of the list;
* ``{int:LO..HI}`` and ``{int:LO..HI:FORMAT}``: a random integer (FORMAT is a Python
  format spec, ``07d`` pads to 7 digits);
* ``{counter:START}``, ``{counter:START..END}`` (wraps after END) and
  ``{counter:START..END:FORMAT}``: 0, 1, 2, ... from START; with several generator
  processes each takes every P-th value, so no value repeats across them.

``{{`` and ``}}`` are literal braces. A query with placeholders is encoded for each send
(a fixed query is encoded once); the report gives the cost (``encode_us_per_query``).
"""

from __future__ import annotations

import datetime
import itertools
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from aiodicom.errors import ConfigError

from ..findscu.keys import OverrideKey, build_query

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
_RANGE = re.compile(r"^\s*([^.]+?)\s*\.\.\s*([^.:]+?)\s*(?::(.*))?$")
_TODAY = re.compile(r"^today(?:([+-])(\d+))?$")


@dataclass(frozen=True, slots=True)
class Draw:
    """What a placeholder draws from: the run's random source, the CSV row of this
    query, and which generator process this is (``shard`` of ``shards``)."""

    rng: random.Random
    row: Mapping[str, str] | None = None
    shard: int = 0
    shards: int = 1


Generator = Callable[[Draw], str]


def _error(where: str, expected: str, got: object) -> ConfigError:
    return ConfigError(None, where, expected, got)


def _day(text: str, where: str) -> datetime.date:
    relative = _TODAY.match(text)
    if relative:
        sign, days = relative.groups()
        offset = int(days or 0) * (-1 if sign == "-" else 1)
        return datetime.date.today() + datetime.timedelta(days=offset)
    try:
        return datetime.datetime.strptime(text, "%Y%m%d").date()
    except ValueError as exc:
        raise _error(where, "a date YYYYMMDD or today[+-N]", text) from exc


def _range(args: str, where: str) -> tuple[str, str, str]:
    match = _RANGE.match(args)
    if not match:
        raise _error(where, "LO..HI (optionally :FORMAT)", args)
    low, high, fmt = match.groups()
    return low, high, fmt or "d"


def _int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise _error(where, "an integer", text) from exc


def _formatter(fmt: str, where: str) -> Callable[[int], str]:
    try:
        format(0, fmt)
    except ValueError as exc:
        raise _error(where, "a Python integer format spec such as 07d", fmt) from exc
    return lambda value: format(value, fmt)


def _date_generator(args: str, where: str) -> Generator:
    low_text, high_text, _ = _range(args, where)
    low, high = _day(low_text, where), _day(high_text, where)
    if high < low:
        raise _error(where, "LO..HI with LO <= HI", args)
    span = (high - low).days
    return lambda draw: (low + datetime.timedelta(days=draw.rng.randint(0, span))).strftime(
        "%Y%m%d"
    )


def _choice_generator(args: str, where: str) -> Generator:
    items = args.split("|")
    return lambda draw: draw.rng.choice(items)


def _int_generator(args: str, where: str) -> Generator:
    low_text, high_text, fmt = _range(args, where)
    low, high = _int(low_text, where), _int(high_text, where)
    if high < low:
        raise _error(where, "LO..HI with LO <= HI", args)
    show = _formatter(fmt, where)
    return lambda draw: show(draw.rng.randint(low, high))


def _counter_generator(args: str, where: str) -> Generator:
    if ".." in args:
        low_text, high_text, fmt = _range(args, where)
        start, end = _int(low_text, where), _int(high_text, where)
        if end < start:
            raise _error(where, "START..END with START <= END", args)
        span: int | None = end - start + 1
    else:
        start_text, _, fmt = args.partition(":")
        start, span, fmt = _int(start_text or "0", where), None, fmt or "d"
    show = _formatter(fmt, where)
    steps: Iterator[int] = itertools.count()

    def draw_next(draw: Draw) -> str:
        offset = next(steps) * draw.shards + draw.shard
        return show(start + (offset % span if span else offset))

    return draw_next


_GENERATORS: dict[str, Callable[[str, str], Generator]] = {
    "date": _date_generator,
    "choice": _choice_generator,
    "int": _int_generator,
    "counter": _counter_generator,
}


def _column(name: str) -> Generator:
    def from_row(draw: Draw) -> str:
        assert draw.row is not None, "a query with columns draws a row"
        return draw.row[name]

    return from_row


@dataclass(frozen=True, slots=True)
class TextTemplate:
    """A key value split into literal text and placeholders."""

    parts: tuple[str | Generator, ...]
    columns: frozenset[str]

    def render(self, draw: Draw) -> str:
        return "".join(part if isinstance(part, str) else part(draw) for part in self.parts)


def parse_text(text: str, where: str) -> TextTemplate | None:
    """The template of ``text``; None when it holds no placeholder (nor escaped brace)."""
    parts: list[str | Generator] = []
    columns: set[str] = set()
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[position : match.start()])
        position = match.end()
        token, (name, args) = match.group(0), match.groups()
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif args is None:
            columns.add(name)
            parts.append(_column(name))
        elif name in _GENERATORS:
            parts.append(_GENERATORS[name](args, f"{where} {token}"))
        else:
            raise _error(f"{where} {token}", f"a generator ({', '.join(_GENERATORS)})", name)
    if position == 0:
        if "{" in text or "}" in text:
            raise _error(where, "placeholders like {column} or {date:LO..HI}", text)
        return None
    parts.append(text[position:])
    return TextTemplate(tuple(part for part in parts if part != ""), frozenset(columns))


@dataclass(frozen=True, slots=True)
class QueryTemplate:
    """A query whose key values hold placeholders: :meth:`draw` fills them, :meth:`build`
    makes the identifier of one set of filled values."""

    base: Dataset | None
    keys: tuple[OverrideKey, ...]
    values: tuple[TextTemplate | None, ...]
    columns: frozenset[str]

    def draw(self, draw: Draw) -> tuple[str | None, ...]:
        """The value of each key for one send (None for keys without placeholders)."""
        return tuple(None if value is None else value.render(draw) for value in self.values)

    def build(self, filled: tuple[str | None, ...]) -> Dataset:
        """A new identifier with the values of :meth:`draw`."""
        keys = [
            key if value is None else OverrideKey(key.text, key.path, value)
            for key, value in zip(self.keys, filled, strict=True)
        ]
        return build_query(self.base, keys)

    def render(self, draw: Draw) -> Dataset:
        """A new identifier with every placeholder filled from ``draw``."""
        return self.build(self.draw(draw))


def query_template(
    base: Dataset | None, keys: Sequence[OverrideKey], where: str
) -> QueryTemplate | None:
    """The template of a query, or None when no key value holds a placeholder."""
    values = tuple(
        None if key.value is None else parse_text(key.value, f"{where} {key.text!r}")
        for key in keys
    )
    if all(value is None for value in values):
        return None
    columns = frozenset().union(*(value.columns for value in values if value is not None))
    return QueryTemplate(base, tuple(keys), values, columns)
