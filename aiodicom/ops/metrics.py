"""Optional Prometheus metrics (``pip install aiodicom[metrics]``).

Counters for associations (by outcome), rejections (by PS3.8 9.3.4 reason), aborts, C-FIND
queries (by model and final status, PS3.7 Annex C), matches, and a latency histogram of
whole C-FIND operations. Each :class:`Metrics` owns its registry, so several servers (or
tests) in one process never collide.
"""

from __future__ import annotations

from typing import Any

from aiodicom.errors import ConfigError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The server's Prometheus instruments; :meth:`serve` exposes them over HTTP."""

    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise ConfigError(
                None, "metrics", "prometheus-client installed (pip install 'aiodicom[metrics]')"
            ) from exc
        self._prom: Any = prom
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.associations = prom.Counter(
            "aiodicom_associations", "Connections by outcome", ["outcome"], registry=r
        )
        self.active = prom.Gauge(
            "aiodicom_active_associations", "Associations established now", registry=r
        )
        self.rejects = prom.Counter(
            "aiodicom_rejects", "A-ASSOCIATE-RJ sent, by reason", ["reason"], registry=r
        )
        self.aborts = prom.Counter(
            "aiodicom_aborts", "Associations ended by A-ABORT", ["by"], registry=r
        )
        self.queries = prom.Counter(
            "aiodicom_queries",
            "C-FIND operations by model and status",
            ["model", "status"],
            registry=r,
        )
        self.matches = prom.Counter("aiodicom_matches", "Pending C-FIND responses", registry=r)
        self.latency = prom.Histogram(
            "aiodicom_query_seconds",
            "C-FIND duration",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on ``host:port`` (a daemon thread of prometheus-client)."""
        self._prom.start_http_server(port, addr=host, registry=self.registry)

    def render(self) -> str:
        """The text exposition format (what ``/metrics`` returns)."""
        data: bytes = self._prom.generate_latest(self.registry)
        return data.decode()

    def association_ended(self, outcome: str) -> None:
        self.associations.labels(outcome=outcome.partition(":")[0]).inc()
        if outcome.startswith("aborted"):
            self.aborts.labels(by=outcome.partition(":")[2] or "unknown").inc()

    def rejected(self, reason: str) -> None:
        self.rejects.labels(reason=reason).inc()

    def query_done(self, model: str, status: int | None, matches: int, seconds: float) -> None:
        label = "none" if status is None else f"0x{status:04X}"
        self.queries.labels(model=model, status=label).inc()
        self.matches.inc(matches)
        self.latency.labels(model=model).observe(seconds)
