"""Pass/fail thresholds: ``--threshold 'p99<50ms'``, ``'error_rate<0.1%'``, ``'rate>500'``.

A threshold is ``[QUERY:]METRIC OP VALUE``:

* METRIC: ``pN`` (any percentile, ``p99``, ``p99.9``), ``mean`` or ``max`` latency, with a
  unit ``us``, ``ms`` (the default) or ``s``; ``error_rate`` (a fraction, or a percentage
  with ``%``); ``errors`` (a count); ``rate`` (completed queries per second).
* OP: ``<``, ``<=``, ``>``, ``>=``.
* ``QUERY:`` limits it to one query name of the mix (YAML: a query's own ``thresholds``).

The run exits 1 when any threshold fails; the report lists each with its measured value.
A latency threshold on a query that never completed fails (nothing was measured).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiodicom.errors import ConfigError

from . import latency
from .stats import LoadStats

_SYNTAX = re.compile(
    r"^\s*(?:(?P<scope>[^<>=]+?)\s*:\s*)?"
    r"(?P<metric>p\d+(?:\.\d+)?|mean|max|error_rate|errors|rate)\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>us|ms|s|%)?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, None: 1.0}
EXAMPLES = "e.g. p99<50ms, error_rate<0.1%, rate>500, NAME:p95<=20ms"


@dataclass(frozen=True, slots=True)
class Threshold:
    """One condition on the run (``scope`` None) or on one query name."""

    text: str
    metric: str
    op: str
    limit: float
    """Milliseconds for latencies, a fraction for error_rate, q/s for rate."""
    scope: str | None = None

    def passes(self, value: float | None) -> bool:
        """True when ``value`` satisfies the condition (None: nothing measured)."""
        return value is not None and _OPS[self.op](value, self.limit)


def parse_threshold(text: str, scope: str | None = None, where: str = "--threshold") -> Threshold:
    """Parse ``text``; ``scope`` applies when the text names no query."""
    match = _SYNTAX.match(text)
    if not match:
        raise ConfigError(None, where, f"METRIC<VALUE ({EXAMPLES})", text)
    metric, unit, value = match["metric"], match["unit"], float(match["value"])
    latency = metric.startswith("p") or metric in ("mean", "max")
    if latency and unit not in _TO_MS:
        raise ConfigError(None, where, "a latency unit us, ms or s", text)
    if (not latency and unit not in (None, "%")) or (unit == "%" and metric != "error_rate"):
        raise ConfigError(None, where, f"no unit for {metric} (error_rate may take %)", text)
    if metric.startswith("p") and not 0 < float(metric[1:]) <= 100:
        raise ConfigError(None, where, "a percentile p0 < N <= p100", text)
    if latency:
        value *= _TO_MS[unit]
    elif unit == "%":
        value /= 100.0
    return Threshold(text.strip(), metric, match["op"], value, match["scope"] or scope)


def _measure(threshold: Threshold, stats: LoadStats) -> float | None:
    name = threshold.scope
    queries = stats.queries if name is None else stats.queries_by_name.get(name, 0)
    errors = stats.errors if name is None else stats.errors_by_query.get(name, 0)
    metric = threshold.metric
    if metric == "rate":
        return queries / stats.elapsed
    if metric == "errors":
        return float(errors)
    if metric == "error_rate":
        return errors / queries if queries else 0.0
    histogram = stats.histogram if name is None else stats.by_query.get(name)
    if histogram is None or histogram.get_total_count() == 0:
        return None
    if metric == "max":
        return float(histogram.get_max_value()) / 1000.0
    if metric == "mean":
        return latency.mean_us(histogram) / 1000.0
    return float(histogram.get_value_at_percentile(float(metric[1:]))) / 1000.0


def evaluate(thresholds: Iterable[Threshold], stats: LoadStats) -> list[dict[str, Any]]:
    """Each threshold with its measured value and whether it passed."""
    results = []
    for threshold in thresholds:
        value = _measure(threshold, stats)
        results.append(
            {
                "threshold": threshold.text,
                "query": threshold.scope,
                "metric": threshold.metric,
                "value": None if value is None else round(value, 6),
                "passed": threshold.passes(value),
            }
        )
    return results


def describe(result: dict[str, Any]) -> str:
    """One line of the text report: PASS/FAIL, the condition and the measured value."""
    metric, value = result["metric"], result["value"]
    if value is None:
        shown = "nothing measured"
    elif metric == "error_rate":
        shown = f"{value:.4%}"
    elif metric == "rate":
        shown = f"{value:.1f} q/s"
    elif metric == "errors":
        shown = f"{value:.0f}"
    else:
        shown = f"{value:.3f} ms"
    verdict = "PASS" if result["passed"] else "FAIL"
    named = result["query"] and ":" not in result["threshold"]
    scope = f" (query {result['query']})" if named else ""
    return f"threshold {verdict} {result['threshold']}{scope}: measured {shown}"


def check_scopes(thresholds: Iterable[Threshold], names: Iterable[str]) -> None:
    """A threshold's query name must be a query of the mix."""
    known = set(names)
    for threshold in thresholds:
        if threshold.scope is not None and threshold.scope not in known:
            raise ConfigError(
                None,
                "--threshold",
                f"a query name of the mix ({', '.join(sorted(known))})",
                threshold.text,
            )
