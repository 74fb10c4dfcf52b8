"""The generator's own ceiling (#19.7): warnings when the generator, not the SCP, was the
bottleneck; open-loop latencies never shorter than the query; ``--start-at``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from clients.loadtest import latency
from clients.loadtest.__main__ import main
from clients.loadtest.generator import GeneratorLoad
from tests.clients.bundled_worklist import AE, REPO, bundled_worklist

PATIENTS = str(REPO / "config" / "loadtest-patients.csv")


def test_a_busy_core_and_late_sends_are_warned_about() -> None:
    load = GeneratorLoad(processes=[[0.2, 1.0], [0.95, 1.0]])
    for _ in range(98):
        load.record_lag(0.0001)
    assert [w.split(" used")[0] for w in load.warnings()] == ["generator process 1"]
    for _ in range(3):
        load.record_lag(0.050)
    warnings = load.warnings()
    assert len(warnings) == 2
    assert "3 of 101 sends" in warnings[1] and "could not keep the offered rate" in warnings[1]
    merged = GeneratorLoad()
    merged.merge(load.to_wire())
    merged.merge(load.to_wire())
    assert merged.report(100)["late_sends"] == 6
    assert merged.report(100)["processes"] == 4


def test_an_offered_rate_beyond_the_generator_is_reported(tmp_path: Path) -> None:
    """20,000 parameterised queries/s offered for 1 s: one Python process cannot, and
    the report says so instead of presenting the figures as the SCP's."""
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path) as server:
        main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID={patient_id}",
              "--values", PATIENTS, "--mode", "open", "--rate", "20000", "--duration", "0.5",
              "--drain", "1", "--timeout", "5", "--no-progress",
              "--json", str(report_path)])  # fmt: skip
    generator = json.loads(report_path.read_text())["generator"]
    assert generator["late_sends"] > 0
    assert any("could not keep the offered rate" in w for w in generator["warnings"])
    assert generator["send_lag_ms"]["p99"] > 10


def test_open_loop_latency_is_never_below_the_query_itself(tmp_path: Path) -> None:
    """uvloop's millisecond timers may wake the loop before a query's time; such a
    query's latency runs from when it was sent, never from a later intended time (which
    recorded 1 us latencies)."""
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID=",
                     "--mode", "open", "--rate", "400", "--duration", "1", "--no-progress",
                     "--json", str(report_path)])  # fmt: skip
    report = json.loads(report_path.read_text())
    assert code == 0
    histogram = latency.decode(report["raw"]["histogram"])
    assert histogram.get_min_value() >= 20  # microseconds: a loopback C-FIND takes more


def test_start_at_waits_for_the_wall_clock_time(tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path) as server:
        begin = time.time() + 1.5
        code = main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID=",
                     "--count", "20", "--start-at", f"{begin:.3f}", "--no-progress",
                     "--json", str(report_path)])  # fmt: skip
    report = json.loads(report_path.read_text())
    assert code == 0
    assert report["started_at"] >= begin - 0.01
    assert report["timeseries"]["points"][0]["t"] >= int(begin) - 1
