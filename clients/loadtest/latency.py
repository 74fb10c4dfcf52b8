"""HDR latency histograms of the load tester: one shape, recorded in microseconds.

Every histogram of a run (the whole run, per query name, per status, per time-series
interval) records microseconds from 1 us to 1 h, so any two of them add up exactly
(``HdrHistogram.add``): that is how processes and hosts merge (``merge``). The whole-run
ones keep 3 significant digits; the per-interval ones 2, which keeps a long time series
small.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
MAX_LATENCY_US = 3_600_000_000
FINE_DIGITS = 3
COARSE_DIGITS = 2
_BUCKET_BASE = 1.25
"""Width ratio of the log-scale histogram buckets in the report (25 % per bucket)."""
_FIRST_BUCKET_US = 10


def new_histogram(digits: int = FINE_DIGITS) -> HdrHistogram:
    """An empty histogram of latencies in microseconds (1 us .. 1 h)."""
    return HdrHistogram(1, MAX_LATENCY_US, digits)


def micros(seconds: float) -> int:
    """``seconds`` as whole microseconds, clamped to the histograms' range."""
    return max(1, min(int(seconds * 1_000_000), MAX_LATENCY_US))


def encode(histogram: HdrHistogram) -> str:
    """The histogram's compressed encoding as text (JSON-safe)."""
    return str(histogram.encode().decode("ascii"))


def decode(text: str) -> HdrHistogram:
    """A histogram from :func:`encode`."""
    return HdrHistogram.decode(text.encode("ascii"))


def add_encoded(target: HdrHistogram | None, text: str) -> HdrHistogram:
    """``target`` plus the encoded histogram (a decoded copy when ``target`` is None)."""
    other = decode(text)
    if target is None:
        return other
    target.add(other)
    return target


def percentiles_ms(histogram: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in milliseconds (empty when nothing was recorded)."""
    if histogram.get_total_count() == 0:
        return {}
    out = {f"p{pct:g}": histogram.get_value_at_percentile(pct) / 1000.0 for pct in PERCENTILES}
    out["max"] = histogram.get_max_value() / 1000.0
    out["mean"] = mean_us(histogram) / 1000.0
    return {key: round(value, 3) for key, value in out.items()}


def mean_us(histogram: HdrHistogram) -> float:
    """The mean in microseconds, each count taken at the middle of its bucket (as
    ``get_mean_value``, whose recorded-value iterator is a hundred times slower)."""
    total = histogram.get_total_count()
    if not total:
        return 0.0
    weighted = 0
    for index, count in enumerate(histogram.counts):
        if count:
            low = histogram.get_lowest_equivalent_value(histogram.get_value_from_index(index))
            high = histogram.get_highest_equivalent_value(low)
            weighted += count * (low + (high - low + 1) // 2)
    return float(weighted) / float(total)


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    """One percentile in milliseconds (None when nothing was recorded)."""
    if histogram.get_total_count() == 0:
        return None
    return round(float(histogram.get_value_at_percentile(percentile)) / 1000.0, 3)


def log_buckets_ms(histogram: HdrHistogram) -> list[list[float]]:
    """[[upper bound ms, count], ...] in log-scale buckets, from the first to the last
    non-empty one: the latency distribution, not just its percentiles."""
    if histogram.get_total_count() == 0:
        return []
    rows: list[list[float]] = []
    for step in histogram.get_log_iterator(_FIRST_BUCKET_US, _BUCKET_BASE):
        rows.append([round(step.value_iterated_to / 1000.0, 4), step.count_added_in_this_iter_step])
    while rows and rows[0][1] == 0:
        rows.pop(0)
    return rows


def summary(histogram: HdrHistogram) -> dict[str, Any]:
    """Count and percentiles of one histogram, for the report."""
    return {"count": histogram.get_total_count(), "latency_ms": percentiles_ms(histogram)}
