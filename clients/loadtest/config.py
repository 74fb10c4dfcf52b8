"""Load test configuration: the target, a weighted query mix and the run limits.

The query mix comes from a YAML file (see config/loadtest.yaml) or from ``-k`` keys on
the command line (one query, weight 1). Keys use the findscu ``-k`` syntax; a query may
also start from a DICOM query file (``file:``). Key values may hold placeholders filled
per query (:mod:`.placeholders`, rows of :mod:`.values`). Thresholds apply to the run
(YAML ``thresholds``) or to one query (its own ``thresholds``, :mod:`.thresholds`).
Errors name the file and the key.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydicom.dataset import Dataset

from aiodicom.errors import AiodicomError, ConfigError
from aiodicom.proto import QueryModel

from ..findscu.keys import OverrideKey, build_query, load_query_file, parse_keys
from .placeholders import Draw, QueryTemplate, query_template
from .thresholds import Threshold, parse_threshold
from .values import ValueTable


@dataclass(frozen=True, slots=True)
class WeightedQuery:
    """One entry of the query mix."""

    name: str
    identifier: Dataset
    model: QueryModel
    weight: float = 1.0
    template: QueryTemplate | None = None
    """Set when key values hold placeholders: the query is built anew for each send."""
    thresholds: tuple[Threshold, ...] = ()


@dataclass(slots=True)
class Target:
    """The SCP under load."""

    host: str = "127.0.0.1"
    port: int = 104
    called_ae: str = "ANY-SCP"
    calling_ae: str = "LOADTEST"
    model: QueryModel = QueryModel.WORKLIST


@dataclass(slots=True)
class QueryMix:
    """Weighted random choice among the queries (seeded for reproducible runs), and the
    values their placeholders draw (generator process ``shard`` of ``shards``)."""

    queries: Sequence[WeightedQuery]
    seed: int | None = None
    values: ValueTable | None = None
    shard: int = 0
    shards: int = 1
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if not self.queries:
            raise ConfigError(None, "queries", "at least one query (YAML 'queries' or -k)")
        self._random = random.Random(self.seed)

    def pick(self) -> WeightedQuery:
        """A query drawn with probability proportional to its weight."""
        if len(self.queries) == 1:
            return self.queries[0]
        weights = [query.weight for query in self.queries]
        return self._random.choices(self.queries, weights=weights, k=1)[0]

    def draw(self, query: WeightedQuery) -> tuple[str | None, ...] | None:
        """The key values of one send of a parameterised query; None when the values
        file ran out (``--values-once``)."""
        assert query.template is not None, "only parameterised queries are drawn"
        row = None
        if query.template.columns:
            assert self.values is not None, "checked by check_values"
            row = self.values.next_row(self._random)
            if row is None:
                return None
        return query.template.draw(Draw(self._random, row, self.shard, self.shards))

    def render(self, query: WeightedQuery) -> Dataset | None:
        """The identifier of one send of a parameterised query (None: no rows left)."""
        filled = self.draw(query)
        return None if filled is None or query.template is None else query.template.build(filled)

    def split(self, index: int, count: int) -> QueryMix:
        """The mix of generator process ``index`` of ``count`` (own seed, own rows)."""
        return QueryMix(
            self.queries,
            None if self.seed is None else self.seed + index,
            None if self.values is None else self.values.shard(index, count),
            index,
            count,
        )

    def check_values(self) -> None:
        """Every ``{column}`` placeholder needs a ``--values`` file with that column."""
        for query in self.queries:
            if query.template is None or not query.template.columns:
                continue
            where = f"query {query.name!r}"
            if self.values is None:
                columns = ", ".join(sorted(query.template.columns))
                raise ConfigError(None, "--values", f"a CSV file for {where} ({columns})")
            self.values.check_columns(query.template.columns, where)


def _model(value: object, file: str, key: str) -> QueryModel:
    try:
        return QueryModel.parse(str(value))
    except ValueError as exc:
        names = ", ".join(model.value for model in QueryModel)
        raise ConfigError(file, key, f"one of {names}", value) from exc


def _query_from_yaml(raw: object, index: int, file: str, default: QueryModel) -> WeightedQuery:
    where = f"queries[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(file, where, "a mapping with name, weight, keys", raw)
    name = str(raw.get("name", f"q{index}"))
    weight = raw.get("weight", 1)
    if not isinstance(weight, int | float) or weight <= 0:
        raise ConfigError(file, f"{where}.weight", "a positive number", weight)
    keys = raw.get("keys", [])
    if isinstance(keys, Mapping):
        keys = [f"{k}={'' if v is None else v}" for k, v in keys.items()]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(file, f"{where}.keys", "a list of -k strings or a mapping", keys)
    base = None
    if "file" in raw:
        base_path = Path(file).parent / str(raw["file"])
        base = load_query_file(base_path)
    try:
        identifier, template = _build(base, parse_keys(keys), f"{where}.keys")
    except ConfigError as exc:
        raise ConfigError(file, f"{where}.keys", "valid -k syntax", str(exc)) from exc
    model = _model(raw.get("model", default.value), file, f"{where}.model")
    thresholds = _thresholds(raw.get("thresholds", []), file, f"{where}.thresholds", name)
    return WeightedQuery(name, identifier, model, float(weight), template, thresholds)


def _build(
    base: Dataset | None, keys: list[OverrideKey], where: str
) -> tuple[Dataset, QueryTemplate | None]:
    """The identifier, and the template when values hold placeholders (then the
    identifier has those keys as return keys: it only stands for the query's shape)."""
    template = query_template(base, keys, where)
    if template is None:
        return build_query(base, keys), None
    shape = [
        key if value is None else OverrideKey(key.text, key.path, None)
        for key, value in zip(keys, template.values, strict=True)
    ]
    return build_query(base, shape), template


def _thresholds(raw: object, file: str, where: str, scope: str | None) -> tuple[Threshold, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ConfigError(file, where, "a list of thresholds such as 'p99<50ms'", raw)
    try:
        return tuple(parse_threshold(item, scope, where) for item in raw)
    except ConfigError as exc:
        raise ConfigError(file, exc.key, exc.expected, exc.got) from exc


def load_thresholds(path: str) -> tuple[Threshold, ...]:
    """The run-wide ``thresholds`` of a load test YAML file."""
    data = _read(path)
    return _thresholds(data.get("thresholds", []), path, "thresholds", None)


def _read(path: str) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, "<file>", "a readable YAML file", str(exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, "<file>", "valid YAML", str(exc)) from exc
    if not isinstance(data, Mapping):
        raise ConfigError(path, "<top level>", "a mapping with 'target' and 'queries'")
    return data


def load_yaml(path: str) -> tuple[dict[str, Any], list[WeightedQuery]]:
    """Read a load test YAML file: (target settings, weighted queries)."""
    data = _read(path)
    target = data.get("target", {}) or {}
    if not isinstance(target, Mapping):
        raise ConfigError(path, "target", "a mapping (host, port, called_ae, ...)", target)
    default_model = _model(target.get("model", "worklist"), path, "target.model")
    raw_queries = data.get("queries", [])
    if not isinstance(raw_queries, list):
        raise ConfigError(path, "queries", "a list of queries", raw_queries)
    queries = [
        _query_from_yaml(raw, index, path, default_model) for index, raw in enumerate(raw_queries)
    ]
    return dict(target), queries


def apply_target(target: Target, values: Mapping[str, Any], file: str) -> None:
    """Copy YAML ``target`` values onto ``target``, checking their types."""
    for key, value in values.items():
        if key == "model":
            target.model = _model(value, file, "target.model")
        elif key == "port":
            if not isinstance(value, int) or not 1 <= value <= 65535:
                raise ConfigError(file, "target.port", "a port number 1..65535", value)
            target.port = value
        elif key in ("host", "called_ae", "calling_ae"):
            setattr(target, key, str(value))
        else:
            raise ConfigError(file, f"target.{key}", "host, port, called_ae, calling_ae, model")


def queries_from_keys(keys: Sequence[str], model: QueryModel) -> list[WeightedQuery]:
    """The ``-k`` query as a one-entry mix."""
    try:
        identifier, template = _build(None, parse_keys(keys), "-k")
    except AiodicomError as exc:
        raise ConfigError(None, "-k", "valid key syntax", str(exc)) from exc
    return [WeightedQuery("cli", identifier, model, template=template)]
