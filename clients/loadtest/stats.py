"""Load test bookkeeping: latency histograms, status counts, error classes and the report.

Statuses are counted by their code (PS3.7 Annex C); association rejects by their
PS3.8 9.3.4 reason name; aborts (PS3.8 9.3.8), timeouts and connection errors apart.
The Error Comment (0000,0902) of failed final responses is counted by status and text:
it says why the SCP refused (for aiodicom-worklist, which setting to raise).
Latencies go into HDR histograms in microseconds (:mod:`.latency`): one for the run, one
per query name, one per outcome (status code or error class), and one per interval of
the time series (:mod:`.timeseries`). :meth:`LoadStats.to_wire` carries all of them
encoded, so runs of several processes or hosts add up exactly (:meth:`LoadStats.merge`).
Start and end are wall-clock times (``time.time()``), comparable across hosts.
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from aiodicom.errors import AssociationAborted, AssociationRejected, ProtocolError
from aiodicom.proto import StatusCategory, category_of

from . import latency
from .generator import GeneratorLoad
from .timeseries import TimeSeries

PERCENTILES = latency.PERCENTILES
MAX_COMMENTS = 32
"""Distinct error comments kept; later new ones are counted under OTHER_COMMENTS."""
OTHER_COMMENTS = "(other comments)"
LIMIT_HINTS = {
    "local-limit-exceeded": "the SCP's association limits (aiodicom servers: "
    "server.max_associations, per host server.max_associations_per_address, per calling "
    "AE server.max_associations_per_calling_ae); lower -n or raise them",
}
"""What a reject reason (PS3.8 9.3.4) points at, shown under the rejects line."""

_COUNTERS = (
    "queries",
    "responses",
    "errors",
    "aborts",
    "timeouts",
    "connection_errors",
    "associations",
)
_TALLIES = (
    "statuses",
    "rejects",
    "responses_by_query",
    "queries_by_name",
    "errors_by_query",
    "other_errors",
    "error_comments",
)


def outcome_of(exc: BaseException) -> str:
    """The outcome class of a query that ended without a final response."""
    if isinstance(exc, AssociationRejected):
        return f"reject {exc.reason_name}"
    if isinstance(exc, TimeoutError):  # DicomTimeoutError too; before OSError
        return "timeout"
    if isinstance(exc, OSError | ssl.SSLError) or isinstance(exc.__cause__, OSError):
        return "connection error"
    if isinstance(exc, AssociationAborted | ProtocolError):
        return "abort"
    return type(exc).__name__


@dataclass(slots=True)
class LoadStats:
    """Counters for one load test run; :meth:`report` turns them into a plain dict."""

    histogram: HdrHistogram = field(default_factory=latency.new_histogram)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    queries: int = 0
    responses: int = 0
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    responses_by_query: Counter[str] = field(default_factory=Counter)
    queries_by_name: Counter[str] = field(default_factory=Counter)
    errors_by_query: Counter[str] = field(default_factory=Counter)
    aborts: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    other_errors: Counter[str] = field(default_factory=Counter)
    error_comments: Counter[str] = field(default_factory=Counter)
    associations: int = 0
    by_query: dict[str, HdrHistogram] = field(default_factory=dict)
    by_outcome: dict[str, HdrHistogram] = field(default_factory=dict)
    series: TimeSeries = field(default_factory=TimeSeries)
    generator: GeneratorLoad = field(default_factory=GeneratorLoad)

    def _record(self, name: str, outcome: str, seconds: float, error: bool) -> None:
        micros = latency.micros(seconds)
        self.histogram.record_value(micros)
        for table, key in ((self.by_query, name), (self.by_outcome, outcome)):
            histogram = table.get(key)
            if histogram is None:
                histogram = table[key] = latency.new_histogram()
            histogram.record_value(micros)
        self.series.completed(time.time(), micros, error)
        self.queries += 1
        self.queries_by_name[name] += 1
        if error:
            self.errors += 1
            self.errors_by_query[name] += 1

    def record_final(
        self, name: str, status: int, responses: int, latency_s: float, comment: str | None = None
    ) -> None:
        """A query that got its final response (any status) and its Error Comment;
        ``latency_s`` from its intended send time."""
        code = f"0x{status:04X}"
        failed = category_of(status) not in (StatusCategory.SUCCESS, StatusCategory.WARNING)
        self._record(name, code, latency_s, failed)
        self.responses += responses
        self.responses_by_query[name] += responses
        self.statuses[code] += 1
        if failed and comment:
            key = f"{code} {comment}"
            if key not in self.error_comments and len(self.error_comments) >= MAX_COMMENTS:
                key = OTHER_COMMENTS
            self.error_comments[key] += 1

    def record_error(self, name: str, exc: BaseException, latency_s: float) -> None:
        """A query that ended without a final response: classify the failure."""
        outcome = outcome_of(exc)
        self._record(name, outcome, latency_s, True)
        if isinstance(exc, AssociationRejected):
            self.rejects[exc.reason_name] += 1
        elif outcome == "timeout":
            self.timeouts += 1
        elif outcome == "connection error":
            self.connection_errors += 1
        elif outcome == "abort":
            self.aborts += 1
        else:
            self.other_errors[outcome] += 1

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe counters plus every histogram (compressed encodings)."""
        counters = {name: getattr(self, name) for name in _COUNTERS}
        tallies = {name: dict(getattr(self, name)) for name in _TALLIES}
        return {
            "histogram": latency.encode(self.histogram),
            "by_query": {key: latency.encode(h) for key, h in self.by_query.items()},
            "by_outcome": {key: latency.encode(h) for key, h in self.by_outcome.items()},
            "series": self.series.to_wire(),
            "generator": self.generator.to_wire(),
            "started": self.started,
            "finished": self.finished if self.finished is not None else time.time(),
            **counters,
            **tallies,
        }

    @classmethod
    def from_wires(cls, wires: list[dict[str, Any]]) -> LoadStats:
        """The sum of several :meth:`to_wire` results (processes, or hosts' reports)."""
        merged = cls(started=min(wire["started"] for wire in wires))
        merged.series.interval = wires[0]["series"]["interval"]
        merged.finished = merged.started
        for wire in wires:
            merged.merge(wire)
        return merged

    def merge(self, wire: dict[str, Any]) -> None:
        """Add another run's :meth:`to_wire` result: counts add up, histograms exactly."""
        self.histogram = latency.add_encoded(self.histogram, wire["histogram"])
        for table, name in ((self.by_query, "by_query"), (self.by_outcome, "by_outcome")):
            for key, encoded in wire[name].items():
                table[key] = latency.add_encoded(table.get(key), encoded)
        self.series.merge(wire["series"])
        self.generator.merge(wire["generator"])
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + wire[name])
        for name in _TALLIES:
            getattr(self, name).update(wire[name])
        self.started = min(self.started, wire["started"])
        self.finished = max(self.finished or wire["finished"], wire["finished"])

    def stop(self) -> None:
        """Freeze the wall-clock duration."""
        if self.finished is None:
            self.finished = time.time()

    @property
    def elapsed(self) -> float:
        """Seconds since start (until :meth:`stop`)."""
        end = self.finished if self.finished is not None else time.time()
        return max(end - self.started, 1e-9)

    @property
    def error_rate(self) -> float:
        """Failed queries / all finished queries (0 when none finished)."""
        return self.errors / self.queries if self.queries else 0.0

    def latency_ms(self) -> dict[str, float]:
        """p50/p90/p99/p99.9/max/mean in milliseconds."""
        return latency.percentiles_ms(self.histogram)

    def per_query(self) -> dict[str, dict[str, Any]]:
        """Figures of each query name: count, rate, errors, responses, percentiles."""
        elapsed = self.elapsed
        out = {}
        for name, count in sorted(self.queries_by_name.items()):
            errors = self.errors_by_query[name]
            out[name] = {
                "queries": count,
                "throughput_qps": round(count / elapsed, 2),
                "errors": errors,
                "error_rate": round(errors / count, 6) if count else 0.0,
                "responses_per_query": round(self.responses_by_query[name] / count, 3),
                "latency_ms": latency.percentiles_ms(self.by_query[name]),
            }
        return out

    def report(self) -> dict[str, Any]:
        """The final report as JSON-ready data (``raw``: :meth:`to_wire`, for ``merge``)."""
        elapsed = self.elapsed
        return {
            "started_at": round(self.started, 3),
            "duration_s": round(elapsed, 3),
            "queries": self.queries,
            "responses": self.responses,
            "throughput_qps": round(self.queries / elapsed, 2),
            "responses_per_s": round(self.responses / elapsed, 2),
            "latency_ms": self.latency_ms(),
            "latency_histogram_ms": latency.log_buckets_ms(self.histogram),
            "responses_per_query": {
                name: round(self.responses_by_query[name] / count, 3)
                for name, count in sorted(self.queries_by_name.items())
            },
            "queries_by_name": dict(sorted(self.queries_by_name.items())),
            "per_query": self.per_query(),
            "per_status": {
                key: latency.summary(histogram)
                for key, histogram in sorted(self.by_outcome.items())
            },
            "statuses": dict(sorted(self.statuses.items())),
            "rejects": dict(sorted(self.rejects.items())),
            "aborts": self.aborts,
            "timeouts": self.timeouts,
            "connection_errors": self.connection_errors,
            "other_errors": dict(sorted(self.other_errors.items())),
            "error_comments": dict(self.error_comments.most_common()),
            "associations": self.associations,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
            "timeseries": {"interval_s": self.series.interval, "points": self.series.points()},
            "generator": self.generator.report(self.queries),
            "raw": self.to_wire(),
        }
