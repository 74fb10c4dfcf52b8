"""Load test bookkeeping: latency histogram, status counts, error classes and the report.

Statuses are counted by their code (PS3.7 Annex C); association rejects by their
PS3.8 9.3.4 reason name; aborts (PS3.8 9.3.8), timeouts and connection errors apart.
The Error Comment (0000,0902) of failed final responses is counted by status and text:
it says why the SCP refused (for aiodicom-worklist, which setting to raise).
Latencies go into an HDR histogram in microseconds (1 us .. 1 h, 3 significant digits).
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from aiodicom.errors import (
    AssociationAborted,
    AssociationRejected,
    ProtocolError,
)
from aiodicom.proto import StatusCategory, category_of

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
MAX_COMMENTS = 32
"""Distinct error comments kept; later new ones are counted under OTHER_COMMENTS."""
OTHER_COMMENTS = "(other comments)"
LIMIT_HINTS = {
    "local-limit-exceeded": "the SCP's association limits (aiodicom servers: "
    "server.max_associations, per host server.max_associations_per_address, per calling "
    "AE server.max_associations_per_calling_ae); lower -n or raise them",
}
"""What a reject reason (PS3.8 9.3.4) points at, shown under the rejects line."""
_MAX_LATENCY_US = 3_600_000_000


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
    "other_errors",
    "error_comments",
)


@dataclass(slots=True)
class LoadStats:
    """Counters for one load test run; :meth:`report` turns them into a plain dict."""

    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, _MAX_LATENCY_US, 3))
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    queries: int = 0
    responses: int = 0
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    responses_by_query: Counter[str] = field(default_factory=Counter)
    queries_by_name: Counter[str] = field(default_factory=Counter)
    aborts: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    other_errors: Counter[str] = field(default_factory=Counter)
    error_comments: Counter[str] = field(default_factory=Counter)
    associations: int = 0

    def record_latency(self, seconds: float) -> None:
        """Add one query latency (from its intended send time in open-loop mode)."""
        micros = max(1, min(int(seconds * 1_000_000), _MAX_LATENCY_US))
        self.histogram.record_value(micros)

    def record_final(
        self, name: str, status: int, responses: int, latency: float, comment: str | None = None
    ) -> None:
        """A query that got its final response (any status) and its Error Comment."""
        self.queries += 1
        self.queries_by_name[name] += 1
        self.responses += responses
        self.responses_by_query[name] += responses
        self.statuses[f"0x{status:04X}"] += 1
        if category_of(status) not in (StatusCategory.SUCCESS, StatusCategory.WARNING):
            self.errors += 1
            if comment:
                key = f"0x{status:04X} {comment}"
                if key not in self.error_comments and len(self.error_comments) >= MAX_COMMENTS:
                    key = OTHER_COMMENTS
                self.error_comments[key] += 1
        self.record_latency(latency)

    def record_error(self, name: str, exc: BaseException, latency: float) -> None:
        """A query that ended without a final response: classify the failure."""
        self.queries += 1
        self.queries_by_name[name] += 1
        self.errors += 1
        self.record_latency(latency)
        if isinstance(exc, AssociationRejected):
            self.rejects[exc.reason_name] += 1
        elif isinstance(exc, TimeoutError):  # DicomTimeoutError too; before OSError
            self.timeouts += 1
        elif isinstance(exc, OSError | ssl.SSLError) or isinstance(exc.__cause__, OSError):
            self.connection_errors += 1
        elif isinstance(exc, AssociationAborted | ProtocolError):
            self.aborts += 1
        else:
            self.other_errors[type(exc).__name__] += 1

    def to_wire(self) -> dict[str, Any]:
        """Picklable counters plus the HDR histogram (its compressed encoding)."""
        counters = {name: getattr(self, name) for name in _COUNTERS}
        tallies = {name: dict(getattr(self, name)) for name in _TALLIES}
        return {
            "histogram": self.histogram.encode(),
            "started": self.started,
            "finished": self.finished if self.finished is not None else time.perf_counter(),
            **counters,
            **tallies,
        }

    def merge(self, wire: dict[str, Any]) -> None:
        """Add another process's :meth:`to_wire` result (perf_counter is system-wide)."""
        self.histogram.add(HdrHistogram.decode(wire["histogram"]))
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + wire[name])
        for name in _TALLIES:
            getattr(self, name).update(wire[name])
        self.started = min(self.started, wire["started"])
        self.finished = max(self.finished or wire["finished"], wire["finished"])

    def stop(self) -> None:
        """Freeze the wall-clock duration."""
        if self.finished is None:
            self.finished = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since start (until :meth:`stop`)."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return max(end - self.started, 1e-9)

    @property
    def error_rate(self) -> float:
        """Failed queries / all finished queries (0 when none finished)."""
        return self.errors / self.queries if self.queries else 0.0

    def latency_ms(self) -> dict[str, float]:
        """p50/p90/p99/p99.9/max/mean in milliseconds."""
        if self.histogram.get_total_count() == 0:
            return {}
        out = {
            f"p{pct:g}": self.histogram.get_value_at_percentile(pct) / 1000.0 for pct in PERCENTILES
        }
        out["max"] = self.histogram.get_max_value() / 1000.0
        out["mean"] = self.histogram.get_mean_value() / 1000.0
        return out

    def report(self) -> dict[str, Any]:
        """The final report as JSON-ready data."""
        elapsed = self.elapsed
        return {
            "duration_s": round(elapsed, 3),
            "queries": self.queries,
            "responses": self.responses,
            "throughput_qps": round(self.queries / elapsed, 2),
            "responses_per_s": round(self.responses / elapsed, 2),
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms().items()},
            "responses_per_query": {
                name: round(self.responses_by_query[name] / count, 3)
                for name, count in sorted(self.queries_by_name.items())
            },
            "queries_by_name": dict(sorted(self.queries_by_name.items())),
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
        }


def render_text(report: dict[str, Any]) -> str:
    """A human-readable multi-line summary of :meth:`LoadStats.report`."""
    latency = report["latency_ms"]
    lines = [
        f"duration      {report['duration_s']:.3f} s",
        f"queries       {report['queries']}  ({report['throughput_qps']:.1f}/s)",
        f"responses     {report['responses']}  ({report['responses_per_s']:.1f}/s)",
        f"associations  {report['associations']}",
    ]
    if latency:
        parts = "  ".join(f"{key}={value:.3f}" for key, value in latency.items())
        lines.append(f"latency ms    {parts}")
    for name, mean in report["responses_per_query"].items():
        count = report["queries_by_name"][name]
        lines.append(f"query {name}: {count} sent, {mean:.2f} responses each")
    statuses = ", ".join(f"{code}: {n}" for code, n in report["statuses"].items())
    lines.append(f"statuses      {statuses or '-'}")
    rejects = ", ".join(f"{reason}: {n}" for reason, n in report["rejects"].items())
    lines.append(f"rejects       {rejects or '0'}")
    lines.extend(
        f"  {reason}: {LIMIT_HINTS[reason]}"
        for reason in report["rejects"]
        if reason in LIMIT_HINTS
    )
    lines.append(
        f"aborts {report['aborts']}  timeouts {report['timeouts']}  "
        f"connection errors {report['connection_errors']}"
    )
    if report["other_errors"]:
        lines.append(f"other errors  {report['other_errors']}")
    for comment, count in report.get("error_comments", {}).items():
        lines.append(f"error comment {comment}: {count}")
    lines.append(f"errors        {report['errors']}  (rate {report['error_rate']:.4%})")
    return "\n".join(lines)
