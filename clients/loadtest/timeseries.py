"""Per-interval figures of a load test run: what happened second by second.

Intervals are wall-clock slots (``floor(time.time() / interval)``), so runs of several
processes or several hosts started together line up on the same slots when merged. A
slot counts queries sent (by send time), completed and failed (by completion time), the
most associations open at once, and a coarse HDR histogram of the completed queries'
latencies, from which its p50/p99 come. Only the current slot keeps a live histogram;
a finished slot keeps its compressed encoding (a long run stays small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from . import latency


@dataclass(slots=True)
class Slot:
    """The figures of one interval."""

    sent: int = 0
    completed: int = 0
    errors: int = 0
    associations: int = 0
    live: HdrHistogram | None = None
    frozen: str | None = None

    def histogram(self) -> HdrHistogram:
        """The slot's latencies (decoded when the slot is finished)."""
        if self.live is not None:
            return self.live
        if self.frozen is not None:
            return latency.decode(self.frozen)
        return latency.new_histogram(latency.COARSE_DIGITS)

    def freeze(self) -> None:
        """Keep only the encoding of the histogram."""
        if self.live is not None:
            self.frozen = latency.encode(self.live)
            self.live = None

    def to_wire(self) -> list[Any]:
        encoded = latency.encode(self.live) if self.live is not None else self.frozen
        return [self.sent, self.completed, self.errors, self.associations, encoded]


@dataclass(slots=True)
class TimeSeries:
    """Slots of ``interval`` seconds keyed by their wall-clock index."""

    interval: float = 1.0
    slots: dict[int, Slot] = field(default_factory=dict)
    _current: int | None = None

    def _slot(self, now: float) -> Slot:
        index = math.floor(now / self.interval)
        slot = self.slots.get(index)
        if slot is None:
            slot = self.slots[index] = Slot()
        if index != self._current:
            if self._current is not None and self._current in self.slots:
                self.slots[self._current].freeze()
            self._current = index
        return slot

    def sent(self, now: float) -> None:
        """A query was sent at wall-clock time ``now``."""
        self._slot(now).sent += 1

    def completed(self, now: float, micros: int, error: bool) -> None:
        """A query ended at ``now`` after ``micros`` microseconds."""
        slot = self._slot(now)
        slot.completed += 1
        slot.errors += error
        if slot.live is None:
            slot.live = latency.new_histogram(latency.COARSE_DIGITS)
            if slot.frozen is not None:  # the clock stepped back into a finished slot
                slot.live.add(latency.decode(slot.frozen))
                slot.frozen = None
        slot.live.record_value(micros)

    def associations(self, now: float, count: int) -> None:
        """``count`` associations were open at ``now`` (the slot keeps the highest)."""
        slot = self._slot(now)
        slot.associations = max(slot.associations, count)

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe slots (histograms encoded)."""
        return {
            "interval": self.interval,
            "slots": {str(index): slot.to_wire() for index, slot in sorted(self.slots.items())},
        }

    def merge(self, wire: dict[str, Any]) -> None:
        """Add another run's :meth:`to_wire` (same interval): slots add up one by one."""
        if not math.isclose(wire["interval"], self.interval):
            raise ValueError(
                f"time series intervals differ: {wire['interval']} s and {self.interval} s"
            )
        for key, (sent, completed, errors, associations, encoded) in wire["slots"].items():
            slot = self.slots.setdefault(int(key), Slot())
            slot.sent += sent
            slot.completed += completed
            slot.errors += errors
            slot.associations += associations  # hosts' associations add up
            if encoded is not None:
                slot.live = latency.add_encoded(slot.histogram(), encoded)
                slot.frozen = None
                slot.freeze()

    def points(self) -> list[dict[str, Any]]:
        """One dict per interval, in time order, from the first slot to the last (empty
        intervals in between included, so a stall shows as zeros)."""
        if not self.slots:
            return []
        first, last = min(self.slots), max(self.slots)
        points = []
        for index in range(first, last + 1):
            slot = self.slots.get(index, Slot())
            histogram = slot.histogram()
            points.append(
                {
                    "t": round(index * self.interval, 3),
                    "sent": slot.sent,
                    "completed": slot.completed,
                    "errors": slot.errors,
                    "p50_ms": latency.percentile_ms(histogram, 50.0),
                    "p99_ms": latency.percentile_ms(histogram, 99.0),
                    "associations": slot.associations,
                }
            )
        return points
