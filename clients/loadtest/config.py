"""Load test configuration: the target, a weighted query mix and the run limits.

The query mix comes from a YAML file (see config/loadtest.yaml) or from ``-k`` keys on
the command line (one query, weight 1). Keys use the findscu ``-k`` syntax; a query may
also start from a DICOM query file (``file:``). Errors name the file and the key.
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

from ..findscu.keys import build_query, load_query_file, parse_keys


@dataclass(frozen=True, slots=True)
class WeightedQuery:
    """One entry of the query mix."""

    name: str
    identifier: Dataset
    model: QueryModel
    weight: float = 1.0


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
    """Weighted random choice among the queries (seeded for reproducible runs)."""

    queries: Sequence[WeightedQuery]
    seed: int | None = None
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
        identifier = build_query(base, parse_keys(keys))
    except ConfigError as exc:
        raise ConfigError(file, f"{where}.keys", "valid -k syntax", str(exc)) from exc
    model = _model(raw.get("model", default.value), file, f"{where}.model")
    return WeightedQuery(name, identifier, model, float(weight))


def load_yaml(path: str) -> tuple[dict[str, Any], list[WeightedQuery]]:
    """Read a load test YAML file: (target settings, weighted queries)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, "<file>", "a readable YAML file", str(exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, "<file>", "valid YAML", str(exc)) from exc
    if not isinstance(data, Mapping):
        raise ConfigError(path, "<top level>", "a mapping with 'target' and 'queries'")
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
        identifier = build_query(None, parse_keys(keys))
    except AiodicomError as exc:
        raise ConfigError(None, "-k", "valid key syntax", str(exc)) from exc
    return [WeightedQuery("cli", identifier, model)]
