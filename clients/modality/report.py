"""What ``aiodicom-modality`` records: each step, each operation's latency, each failure.

The JSON report (``--report FILE``, format in docs/clients.md) lists every step with
the latencies of its C-FIND, N-CREATE and N-SET, HDR percentiles per operation, and
every failure with the peer's status (PS3.7 Annex C) and Error Comment (0000,0902).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from aiodicom.errors import DimseStatusError
from aiodicom.proto import describe

from ..loadtest.latency import micros, new_histogram, summary
from .steps import ScheduledStep

OPERATIONS = ("C-FIND", "N-CREATE", "N-SET")


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed operation: the peer's status and Error Comment when it answered one."""

    station_ae: str
    operation: str
    error: str
    status: int | None = None
    error_comment: str | None = None
    step: int | None = None

    def as_json(self) -> dict[str, Any]:
        status = self.status
        return {
            "station_ae": self.station_ae,
            "operation": self.operation,
            "step": self.step,
            "status": status,
            "status_hex": None if status is None else f"0x{status:04X}",
            "meaning": None if status is None else describe(status),
            "error_comment": self.error_comment,
            "error": self.error,
        }


def failure_of(exc: BaseException, station_ae: str, operation: str, step: int | None) -> Failure:
    """A :class:`Failure` from the exception an operation raised."""
    if isinstance(exc, DimseStatusError):
        return Failure(station_ae, operation, str(exc), exc.status, exc.comment, step)
    return Failure(station_ae, operation, f"{type(exc).__name__}: {exc}", step=step)


@dataclass(slots=True)
class StepRecord:
    """One step a modality took: what it was, how it ended, how long each part took."""

    index: int
    station_ae: str
    step: ScheduledStep
    mpps_sop_instance_uid: str
    planned: str
    """COMPLETED or DISCONTINUED: how the exam is meant to end."""
    started: str = field(default_factory=lambda: datetime.datetime.now().isoformat())
    outcome: str = "IN PROGRESS"
    """IN PROGRESS, then COMPLETED, DISCONTINUED or FAILED."""
    seconds: dict[str, float] = field(default_factory=dict)
    series: tuple[str, ...] = ()
    images: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "station_ae": self.station_ae,
            **self.step.summary(),
            "mpps_sop_instance_uid": self.mpps_sop_instance_uid,
            "planned": self.planned,
            "outcome": self.outcome,
            "started": self.started,
            "latency_ms": {op: round(s * 1000.0, 3) for op, s in self.seconds.items()},
            "series_instance_uids": list(self.series),
            "images": self.images,
        }


class RunRecord:
    """Steps, failures and the latency histograms of one run."""

    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.failures: list[Failure] = []
        self.histograms: dict[str, HdrHistogram] = {op: new_histogram() for op in OPERATIONS}

    def timed(self, operation: str, seconds: float) -> None:
        """One successful operation took ``seconds``."""
        self.histograms[operation].record_value(micros(seconds))

    def failed(self, failure: Failure) -> None:
        self.failures.append(failure)
        if failure.step is not None:
            self.steps[failure.step].outcome = "FAILED"

    def begin(self, station_ae: str, step: ScheduledStep, uid: str, planned: str) -> StepRecord:
        record = StepRecord(len(self.steps), station_ae, step, uid, planned)
        self.steps.append(record)
        return record

    def count(self, outcome: str) -> int:
        return sum(1 for step in self.steps if step.outcome == outcome)

    def totals(self) -> dict[str, int]:
        return {
            "steps": len(self.steps),
            "completed": self.count("COMPLETED"),
            "discontinued": self.count("DISCONTINUED"),
            "failed": self.count("FAILED"),
            "failures": len(self.failures),
        }

    def as_json(self, run: dict[str, Any], elapsed: float) -> dict[str, Any]:
        """The whole report; ``run`` describes targets and settings."""
        return {
            "tool": "aiodicom-modality",
            **run,
            "elapsed_s": round(elapsed, 3),
            "totals": self.totals(),
            "operations": {op: summary(h) for op, h in self.histograms.items()},
            "steps": [step.as_json() for step in self.steps],
            "failures": [failure.as_json() for failure in self.failures],
        }

    def text(self, elapsed: float) -> list[str]:
        """The closing summary lines printed on stdout."""
        totals = self.totals()
        lines = [
            f"{totals['steps']} steps in {elapsed:.1f} s: {totals['completed']} completed, "
            f"{totals['discontinued']} discontinued, {totals['failed']} failed"
        ]
        for op, histogram in self.histograms.items():
            figures = summary(histogram)["latency_ms"]
            if figures:
                lines.append(
                    f"{op}: {histogram.get_total_count()} ok, p50 {figures['p50']} ms, "
                    f"p99 {figures['p99']} ms, max {figures['max']} ms"
                )
        for failure in self.failures:
            if failure.status is None:
                why = failure.error
            else:
                why = describe(failure.status)
                why += f": {failure.error_comment}" if failure.error_comment else ""
            lines.append(f"FAILED {failure.station_ae} {failure.operation} {why}")
        return lines


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write the JSON report to ``path``."""
    path.write_text(json.dumps(report, indent=2) + "\n")
