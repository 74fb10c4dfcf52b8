"""The load generator's own figures: is the generator, not the SCP, the bottleneck?

As wrk2 warns when it cannot keep its schedule, the report warns when

* a generator process kept its core busy (CPU time / wall time of the process near 1:
  one asyncio process runs on one core, so it cannot offer more), or
* in an open loop, sends fell behind their intended times (the event loop dispatched
  queries late because it had no time left: the offered rate was not offered).

It also gives the client's cost per query: CPU microseconds per completed query, and
for parameterised queries the time spent filling the placeholders and encoding each
identifier (:mod:`.placeholders`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from . import latency

BUSY_CORE = 0.85
"""CPU time / wall time of a process above which it is called CPU-bound."""
LATE_MS = 10.0
"""An open-loop send dispatched this much after its intended time is late."""
LATE_SHARE = 0.01
"""Warn when more than this share of the sends were late."""


@dataclass(slots=True)
class GeneratorLoad:
    """CPU use of each generator process, send lag and per-query encoding cost."""

    processes: list[list[float]] = field(default_factory=list)
    """[cpu seconds, wall seconds] of each process."""
    lag: HdrHistogram = field(default_factory=lambda: latency.new_histogram(latency.COARSE_DIGITS))
    late: int = 0
    encode_s: float = 0.0
    encoded: int = 0
    built: int = 0
    _cpu0: float = 0.0
    _wall0: float = 0.0

    def start(self) -> None:
        """Begin measuring this process."""
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    def finish(self) -> None:
        """Record this process's CPU and wall time since :meth:`start`."""
        cpu = time.process_time() - self._cpu0
        wall = max(time.perf_counter() - self._wall0, 1e-9)
        self.processes.append([round(cpu, 4), round(wall, 4)])

    def record_lag(self, seconds: float) -> None:
        """An open-loop send dispatched ``seconds`` after its intended time."""
        self.lag.record_value(latency.micros(seconds))
        self.late += seconds * 1000.0 > LATE_MS

    def record_encode(self, seconds: float, built: bool) -> None:
        """One parameterised query filled (and, when ``built``, built and encoded rather
        than taken from the cache) in ``seconds`` of CPU time."""
        self.encode_s += seconds
        self.encoded += 1
        self.built += built

    def to_wire(self) -> dict[str, Any]:
        return {
            "processes": self.processes,
            "lag": latency.encode(self.lag),
            "late": self.late,
            "encode_s": self.encode_s,
            "encoded": self.encoded,
            "built": self.built,
        }

    def merge(self, wire: dict[str, Any]) -> None:
        self.processes.extend(wire["processes"])
        self.lag = latency.add_encoded(self.lag, wire["lag"])
        self.late += wire["late"]
        self.encode_s += wire["encode_s"]
        self.encoded += wire["encoded"]
        self.built += wire["built"]

    def warnings(self) -> list[str]:
        """Why the figures may describe the generator rather than the SCP."""
        out = []
        for index, (cpu, wall) in enumerate(self.processes):
            share = cpu / wall if wall else 0.0
            if share >= BUSY_CORE:
                out.append(
                    f"generator process {index} used {share:.0%} of a core: the generator may "
                    "be the bottleneck (add --processes, or more hosts and merge)"
                )
        sends = self.lag.get_total_count()
        late = self.late
        if sends and late / sends > LATE_SHARE:
            p99 = self.lag.get_value_at_percentile(99.0) / 1000.0
            out.append(
                f"{late} of {sends} sends ({late / sends:.1%}) left more than {LATE_MS:g} ms "
                f"after their scheduled time (p99 {p99:.1f} ms): the generator could not "
                "keep the offered rate (add --processes, or more hosts and merge)"
            )
        return out

    def report(self, queries: int) -> dict[str, Any]:
        """The generator section of the report."""
        cpu = sum(cpu for cpu, _ in self.processes)
        return {
            "processes": len(self.processes),
            "cpu_s": round(cpu, 3),
            "core_share": [round(cpu / wall, 3) if wall else 0.0 for cpu, wall in self.processes],
            "cpu_us_per_query": round(cpu / queries * 1e6, 1) if queries else None,
            "encoded_queries": self.encoded,
            "built_queries": self.built,
            "encode_us_per_query": (
                round(self.encode_s / self.encoded * 1e6, 1) if self.encoded else None
            ),
            "send_lag_ms": latency.percentiles_ms(self.lag),
            "late_sends": self.late,
            "warnings": self.warnings(),
        }
