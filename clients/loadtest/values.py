"""The ``--values`` CSV file: one row per query for its ``{column}`` placeholders.

The first line names the columns. ``--values-order sequential`` (default) takes the rows
in file order, ``random`` draws them at random (seeded by ``--seed``). By default rows are
reused (sequential wraps around, random draws with replacement); ``--values-once`` uses
each row at most once (random: a shuffled pass), and the run ends when the rows run out.
With several generator processes each takes every P-th row, so ``--values-once`` still
sends each row once in all.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiodicom.errors import ConfigError

Order = Literal["sequential", "random"]


@dataclass(slots=True)
class ValueTable:
    """The rows of a CSV file and how they are drawn."""

    rows: list[dict[str, str]]
    columns: tuple[str, ...]
    order: Order = "sequential"
    reuse: bool = True
    source: str = "<values>"
    _next: int = field(default=0, init=False)
    _shuffled: list[int] | None = field(default=None, init=False)

    def check_columns(self, needed: Iterable[str], where: str) -> None:
        """Every placeholder column must be a column of the file."""
        missing = sorted(set(needed) - set(self.columns))
        if missing:
            raise ConfigError(
                self.source,
                where,
                f"columns of the values file ({', '.join(self.columns)})",
                ", ".join(missing),
            )

    def next_row(self, rng: random.Random) -> Mapping[str, str] | None:
        """The row for the next query; None when ``reuse`` is off and the rows ran out."""
        if self.order == "random" and self.reuse:
            return rng.choice(self.rows)
        if self.order == "random" and self._shuffled is None:
            self._shuffled = list(range(len(self.rows)))
            rng.shuffle(self._shuffled)
        index = self._next
        if index >= len(self.rows):
            if not self.reuse:
                return None
            index = 0
        self._next = index + 1
        return self.rows[self._shuffled[index] if self._shuffled is not None else index]

    def shard(self, index: int, count: int) -> ValueTable:
        """The rows of generator process ``index`` of ``count``: every count-th row."""
        rows = self.rows[index::count] or self.rows[:1]
        return dataclasses.replace(self, rows=rows)


def load_values(path: str, order: Order = "sequential", reuse: bool = True) -> ValueTable:
    """Read a CSV file with a header line (UTF-8; a BOM is ignored)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [dict(row) for row in reader]
            columns = tuple(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        expected = "a readable CSV file with a header line"
        raise ConfigError(path, "<file>", expected, str(exc)) from exc
    if not columns or not rows:
        raise ConfigError(path, "<file>", "a header line and at least one row")
    for number, row in enumerate(rows, start=2):
        if None in row or any(value is None for value in row.values()):
            raise ConfigError(path, f"line {number}", f"{len(columns)} fields", row)
    return ValueTable(rows, columns, order, reuse, path)
