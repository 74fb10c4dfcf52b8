"""Stages and warm-up: the load level over time.

``--stage DURATION:LEVEL`` (several in a row) moves the level linearly from where the
previous stage left it to LEVEL over DURATION (k6's ramping stages): the level is the
number of queries in flight in a closed loop, the rate in queries/s in an open loop.
The first stage starts from 0, so ``--stage 10s:20 --stage 40s:20 --stage 10s:0`` ramps
up, holds and ramps down; a ``0s`` stage jumps. Without stages the level is ``-n`` or
``--rate`` throughout.

``--warmup DURATION`` runs before the stages (or the run) at their first level (the
first stage's LEVEL, which the first stage then starts from); queries sent during it are
not counted.

An open loop sends query *n* when the integral of the rate since the start reaches *n*
(:meth:`Schedule.send_time`); with a constant rate that is ``n / rate``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiodicom.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, where: str) -> float:
    """Seconds from ``500ms``, ``30s``, ``2m``, ``1h`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(None, where, "a duration such as 30s, 2m, 500ms", text)
    return float(match.group(1)) * _SECONDS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Stage:
    """Reach ``level`` over ``duration`` seconds."""

    duration: float
    level: float


def parse_stage(text: str) -> Stage:
    """``DURATION:LEVEL``, e.g. ``30s:10``."""
    duration_text, sep, level_text = text.rpartition(":")
    if not sep:
        raise ConfigError(None, "--stage", "DURATION:LEVEL, e.g. 30s:10", text)
    duration = parse_duration(duration_text, "--stage")
    try:
        level = float(level_text)
    except ValueError as exc:
        expected = "a number after ':' (concurrency or rate)"
        raise ConfigError(None, "--stage", expected, text) from exc
    if level < 0 or not math.isfinite(level):
        raise ConfigError(None, "--stage", "a level >= 0", text)
    return Stage(duration, level)


@dataclass(frozen=True, slots=True)
class Segment:
    """``duration`` seconds going linearly from ``start`` to ``end``."""

    duration: float
    start: float
    end: float

    def level_at(self, t: float) -> float:
        if math.isinf(self.duration) or self.duration == 0:
            return self.end
        return self.start + (self.end - self.start) * t / self.duration

    @property
    def area(self) -> float:
        """Queries an open loop sends during the segment."""
        if math.isinf(self.duration):
            return math.inf if self.end > 0 else 0.0
        return (self.start + self.end) / 2 * self.duration

    def time_of(self, m: float) -> float:
        """Seconds into the segment at which ``m`` queries (m <= area) were due."""
        slope = 0.0 if math.isinf(self.duration) else (self.end - self.start) / self.duration
        # the root of start*t + slope*t^2/2 = m, in the form that holds for slope 0 too
        root = math.sqrt(max(self.start * self.start + 2 * slope * m, 0.0))
        denominator = self.start + root
        return 2 * m / denominator if denominator > 0 else 0.0


class Schedule:
    """The level at any time of the run, from its segments (warm-up included)."""

    def __init__(self, segments: Sequence[Segment], warmup: float = 0.0) -> None:
        self.segments = tuple(segments)
        self.warmup = warmup

    @classmethod
    def build(cls, stages: Sequence[Stage], base: float, warmup: float = 0.0) -> Schedule:
        """Stages after an optional warm-up; without stages, ``base`` for ever."""
        segments = []
        level = stages[0].level if stages else base
        if warmup > 0:
            segments.append(Segment(warmup, level, level))
        if not stages:
            return cls([*segments, Segment(math.inf, base, base)], warmup)
        previous = level if warmup > 0 else 0.0
        for stage in stages:
            segments.append(Segment(stage.duration, previous, stage.level))
            previous = stage.level
        return cls(segments, warmup)

    @property
    def measured(self) -> float:
        """Seconds after the warm-up (inf without stages)."""
        return sum(s.duration for s in self.segments) - self.warmup

    @property
    def peak(self) -> float:
        """The highest level of the run."""
        return max(max(s.start, s.end) for s in self.segments)

    def level_at(self, t: float) -> float:
        """The level ``t`` seconds after the start (0 after the last stage)."""
        for segment in self.segments:
            if t < segment.duration:
                return segment.level_at(t)
            t -= segment.duration
        return 0.0

    def send_time(self, n: int) -> float | None:
        """Seconds after the start at which query ``n`` (from 0) is due; None when the
        schedule ends before it."""
        offset, m = 0.0, float(n)
        for segment in self.segments:
            area = segment.area
            if m < area:
                return offset + segment.time_of(m)
            m -= area
            offset += segment.duration
        return None
