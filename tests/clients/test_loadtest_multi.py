"""aiodicom-loadtest --processes: splitting the run and merging the reports."""

from __future__ import annotations

import json
from pathlib import Path

from clients.loadtest.__main__ import main
from clients.loadtest.multi import split_settings
from clients.loadtest.runner import RunSettings
from clients.loadtest.stats import LoadStats
from tests.clients.bundled_worklist import AE, REPO, bundled_worklist


def test_split_settings_divides_count_rate_and_concurrency() -> None:
    shares = split_settings(RunSettings(count=1001, concurrency=9, rate=300.0, window=4), 2)
    assert [s.count for s in shares] == [501, 500]
    assert [s.concurrency for s in shares] == [5, 5]
    assert [s.rate for s in shares] == [150.0, 150.0]
    assert all(s.window == 4 for s in shares)
    assert shares[0].associations == 2  # ceil(5 / 4)
    assert len(split_settings(RunSettings(count=1), 3)) == 1


def test_merged_histogram_and_counters_cover_every_process() -> None:
    first, second = LoadStats(started=10.0), LoadStats(started=11.0)
    for latency in (0.001, 0.002):
        first.record_final("a", 0x0000, 1, latency)
    second.record_final("a", 0xA700, 0, 0.100)
    first.finished, second.finished = 12.0, 15.0
    merged = LoadStats(started=10.0)
    merged.finished = 10.0
    merged.merge(first.to_wire())
    merged.merge(second.to_wire())
    report = merged.report()
    assert report["queries"] == 3
    assert report["errors"] == 1
    assert report["statuses"] == {"0x0000": 2, "0xA700": 1}
    assert report["duration_s"] == 5.0
    assert 99.0 <= report["latency_ms"]["max"] <= 101.0
    assert 0.9 <= report["latency_ms"]["p50"] <= 2.1


def test_processes_share_the_rows_of_a_values_file(tmp_path: Path) -> None:
    """Two processes, --values-once: each row is sent once in all (each process takes
    every other row), and the merged report counts both processes."""
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path, ["--log-format", "json"]) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID={patient_id}",
                     "--values", str(REPO / "config" / "loadtest-patients.csv"),
                     "--values-once", "--processes", "2", "-n", "2", "--duration", "20",
                     "--no-progress", "--json", str(report_path)])  # fmt: skip
        lines = server.json_lines()
    report = json.loads(report_path.read_text())
    assert code == 0
    assert report["queries"] == 22
    assert report["generator"]["processes"] == 2
    asked = sorted(
        line["keys"]["match"]["PatientID"] for line in lines if line.get("event") == "audit.query"
    )
    assert asked == sorted([*(f"PID{n:07d}" for n in range(20)), "FUP0001", "WALKIN001"])
