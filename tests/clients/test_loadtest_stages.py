"""Stages and warm-up (#19.2): the level over time, the open loop's send times, the
closed loop's workers, and warm-up queries left out of the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodicom.errors import ConfigError
from clients.loadtest.__main__ import build_parser, configure, main
from clients.loadtest.multi import split_settings
from clients.loadtest.stages import Schedule, Stage, parse_duration, parse_stage
from tests.clients.bundled_worklist import AE, bundled_worklist

KEYS = ["-k", "PatientID="]


def test_durations_and_stages_parse() -> None:
    assert [parse_duration(t, "x") for t in ("30s", "2m", "500ms", "1h", "1.5")] == [
        30.0, 120.0, 0.5, 3600.0, 1.5
    ]  # fmt: skip
    assert parse_stage("30s:10") == Stage(30.0, 10.0)
    assert parse_stage("1m:250.5") == Stage(60.0, 250.5)
    for bad in ("30s", "x:10", "30s:-1", "30s:many"):
        with pytest.raises(ConfigError, match="--stage"):
            parse_stage(bad)


def test_levels_ramp_hold_and_ramp_down() -> None:
    schedule = Schedule.build([Stage(10, 20), Stage(40, 20), Stage(10, 0)], base=5)
    assert schedule.level_at(0) == 0
    assert schedule.level_at(5) == pytest.approx(10)
    assert schedule.level_at(30) == 20
    assert schedule.level_at(55) == pytest.approx(10)
    assert schedule.level_at(61) == 0
    assert (schedule.measured, schedule.peak) == (60, 20)
    warm = Schedule.build([Stage(10, 20)], base=5, warmup=3)
    assert warm.level_at(1) == 20 and warm.level_at(8) == 20  # the stage starts at its level
    assert warm.measured == 10
    plain = Schedule.build([], base=7, warmup=2)
    assert plain.level_at(1) == plain.level_at(1e6) == 7
    assert math.isinf(plain.measured)


@given(st.lists(st.tuples(st.floats(0.1, 5), st.floats(0, 200)), min_size=1, max_size=4))
def test_open_loop_send_times_follow_the_rate_integral(stages: list[tuple[float, float]]) -> None:
    schedule = Schedule.build([Stage(d, level) for d, level in stages], base=1)
    total = sum((schedule.segments[i].start + schedule.segments[i].end) / 2 * d
                for i, (d, _) in enumerate(stages))  # fmt: skip
    times = []
    n = 0
    while (due := schedule.send_time(n)) is not None and n < 5000:
        times.append(due)
        n += 1
    assert times == sorted(times)
    assert len(times) == pytest.approx(total, abs=1.01)  # the integral of the rate
    assert all(0 <= t <= schedule.measured + 1e-6 for t in times)


def test_constant_rate_sends_at_n_over_rate() -> None:
    schedule = Schedule.build([], base=200)
    assert [schedule.send_time(n) for n in (0, 1, 200)] == [0.0, 0.005, 1.0]


def test_stages_set_the_run_bounds_and_the_peak() -> None:
    def settings(*args: str) -> tuple[int | None, float | None, int, float]:
        s = configure(build_parser().parse_args(["h", "1", *KEYS, *args]))[2]
        return s.count, s.duration, s.concurrency, s.rate

    assert settings("--stage", "10s:5", "--stage", "20s:12") == (None, 30.0, 12, 100.0)
    assert settings("--mode", "open", "--stage", "1m:300")[1:] == (60.0, 10, 300.0)
    assert settings("--stage", "10s:5", "--duration", "4")[:2] == (None, 4.0)
    shares = split_settings(configure(build_parser().parse_args(
        ["h", "1", *KEYS, "--mode", "open", "--stage", "2s:300"]))[2], 3)  # fmt: skip
    assert [s.stages for s in shares] == [(Stage(2.0, 100.0),)] * 3


def test_open_loop_stages_and_warmup_against_the_server(tmp_path: Path) -> None:
    """Warm-up 1 s at 100 q/s (not counted), then 0 -> 200 q/s over 1 s and 1 s at 200:
    300 queries counted, 400 sent; the time series shows the ramp."""
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path, ["--log-format", "json"]) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, *KEYS, "--mode", "open",
                     "--warmup", "1s", "--stage", "1s:100", "--stage", "1s:200",
                     "--no-progress", "--json", str(report_path)])  # fmt: skip
        served = sum(line.get("event") == "audit.query" for line in server.json_lines())
    report = json.loads(report_path.read_text())
    assert code == 0
    assert report["queries"] == 250  # 100 for 1 s (warm-up level), then 100 -> 200 over 1 s
    assert served == 350  # plus the warm-up's 100
    assert report["settings"]["warmup"] == 1.0
    sent = [point["sent"] for point in report["timeseries"]["points"]]
    assert sum(sent) == 250
    assert 1.9 <= report["duration_s"] <= 3.0


def test_closed_loop_stage_levels_are_concurrency(tmp_path: Path) -> None:
    """A closed loop ramping 0 -> 6 in flight: the pool never opens more than 6
    associations and the first second has fewer in flight than the last."""
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, *KEYS, "--stage", "2s:6",
                     "--no-progress", "--json", str(report_path)])  # fmt: skip
    report = json.loads(report_path.read_text())
    assert code == 0
    points = report["timeseries"]["points"]
    assert max(point["associations"] for point in points) <= 6
    assert report["associations"] <= 6
    assert report["settings"]["concurrency"] == 6
    assert points[0]["associations"] < points[-1]["associations"]
