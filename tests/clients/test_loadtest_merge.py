"""Per-query, per-status and per-interval figures (#19.4) and ``merge`` (#19.6): reports
of several generators add up to exactly the figures of one generator that recorded every
sample."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodicom.errors import AssociationAborted, DicomTimeoutError
from clients.loadtest import merge
from clients.loadtest.cli import start_time
from clients.loadtest.stats import LoadStats
from clients.loadtest.timeseries import TimeSeries

SAMPLE = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([0x0000, 0xFF00, 0xA700, -1, -2]),
    st.floats(1e-6, 30.0),
    st.integers(0, 2),
)
FIGURES = ("queries", "responses", "errors", "latency_ms", "latency_histogram_ms", "per_status",
           "statuses", "queries_by_name", "responses_per_query", "aborts", "timeouts")  # fmt: skip


def _record(stats: LoadStats, sample: tuple[str, int, float, int]) -> None:
    name, status, seconds, part = sample
    if status == -1:
        stats.record_error(name, AssociationAborted("x"), seconds)
    elif status == -2:
        stats.record_error(name, DicomTimeoutError("query", 1.0), seconds)
    else:
        stats.record_final(name, status, part, seconds)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(SAMPLE, min_size=1, max_size=60))
def test_merged_reports_equal_one_run_on_the_same_samples(
    tmp_path: Path, samples: list[tuple[str, int, float, int]]
) -> None:
    single = LoadStats(started=1000.0)
    parts = [LoadStats(started=1000.0) for _ in range(3)]
    for sample in samples:
        _record(single, sample)
        _record(parts[sample[3]], sample)
    single.finished = 1010.0
    paths = []
    for index, part in enumerate(parts):
        part.finished = 1010.0
        paths.append(tmp_path / f"host{index}.json")
        paths[-1].write_text(json.dumps({**part.report(), "target": f"h{index}"}))
    out = tmp_path / "merged.json"
    assert merge.main([*map(str, paths), "--json", str(out)]) == 0
    merged, expected = json.loads(out.read_text()), single.report()
    for key in FIGURES:
        assert merged[key] == expected[key], key
    for name, figures in expected["per_query"].items():
        assert merged["per_query"][name]["latency_ms"] == figures["latency_ms"]
    assert merged["duration_s"] == 10.0
    assert merged["merged_from"] == [str(p) for p in paths]
    completed = sum(point["completed"] for point in merged["timeseries"]["points"])
    assert completed == len(samples)


def test_time_series_line_up_on_wall_clock_slots() -> None:
    first, second = TimeSeries(), TimeSeries()
    first.sent(1000.2)
    first.completed(1000.4, 2000, False)
    first.associations(1000.4, 2)
    first.completed(1001.5, 4000, True)
    second.sent(1001.7)
    second.completed(1001.9, 1000, False)
    second.associations(1001.9, 3)
    second.completed(1003.1, 9000, False)
    first.merge(second.to_wire())
    points = first.points()
    assert [p["t"] for p in points] == [1000.0, 1001.0, 1002.0, 1003.0]
    assert [p["completed"] for p in points] == [1, 2, 0, 1]
    assert [p["errors"] for p in points] == [0, 1, 0, 0]
    assert [p["sent"] for p in points] == [1, 1, 0, 0]
    assert [p["associations"] for p in points] == [2, 3, 0, 0]  # the hosts' add up
    assert points[1]["p50_ms"] == pytest.approx(1.0, rel=0.02)
    assert points[1]["p99_ms"] == pytest.approx(4.0, rel=0.02)
    assert points[2]["p50_ms"] is None
    with pytest.raises(ValueError, match="intervals differ"):
        TimeSeries(interval=2.0).merge(second.to_wire())


def test_per_query_and_per_status_percentiles() -> None:
    stats = LoadStats(started=0.0)
    for ms in range(1, 11):
        stats.record_final("fast", 0x0000, 1, ms / 1000)
    for ms in range(100, 111):
        stats.record_final("slow", 0xA700, 0, ms / 1000)
    stats.record_error("slow", DicomTimeoutError("query", 1.0), 5.0)
    stats.finished = 2.0
    report = stats.report()
    assert report["per_query"]["fast"]["latency_ms"]["max"] == pytest.approx(10, rel=0.01)
    assert report["per_query"]["slow"]["errors"] == 12
    assert report["per_query"]["slow"]["throughput_qps"] == 6.0
    assert set(report["per_status"]) == {"0x0000", "0xA700", "timeout"}
    assert report["per_status"]["timeout"]["latency_ms"]["p50"] == pytest.approx(5000, rel=0.01)
    assert report["per_status"]["0xA700"]["count"] == 11
    assert sum(count for _, count in report["latency_histogram_ms"]) == 22


def test_merge_refuses_what_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.json").write_text('{"queries": 1}')
    with pytest.raises(SystemExit) as info:
        merge.main([str(tmp_path / "x.json")])
    assert info.value.code == 2
    assert "aiodicom-loadtest --json" in capsys.readouterr().err


def test_merge_judges_thresholds_on_the_sum(tmp_path: Path) -> None:
    paths = []
    for index, latency in enumerate((0.001, 0.200)):
        stats = LoadStats(started=0.0)
        for _ in range(50):
            stats.record_final("q", 0x0000, 1, latency)
        stats.finished = 1.0
        paths.append(tmp_path / f"{index}.json")
        paths[-1].write_text(json.dumps(stats.report()))
    assert merge.main([str(paths[0]), "--threshold", "p99<50ms"]) == 0
    assert merge.main([*map(str, paths), "--threshold", "p99<50ms"]) == 1
    assert merge.main([*map(str, paths), "--threshold", "rate>=100"]) == 0


def test_start_at_forms() -> None:
    now = time.time()
    assert start_time(str(now + 5), now) == now + 5
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now + 60))
    assert abs(start_time(moment, now) - (now + 60)) < 1.0
    clock = time.strftime("%H:%M:%S", time.localtime(now + 120))
    if clock > "00:02:00":  # not across midnight
        assert abs(start_time(clock, now) - (now + 120)) < 1.0
    with pytest.raises(Exception, match="--start-at"):
        start_time(str(now - 10), now)
    with pytest.raises(Exception, match="--start-at"):
        start_time("soon", now)
