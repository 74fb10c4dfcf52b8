"""Pass/fail thresholds (#19.3): syntax, the measured values, YAML and per-query
thresholds, and the exit status of a run that misses one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiodicom.errors import AssociationAborted, ConfigError
from clients.loadtest.__main__ import build_parser, main
from clients.loadtest.cli import configure, thresholds
from clients.loadtest.report_text import render_text
from clients.loadtest.stats import LoadStats
from clients.loadtest.thresholds import Threshold, evaluate, parse_threshold
from tests.clients.bundled_worklist import AE, REPO, bundled_worklist


def test_syntax_and_units() -> None:
    assert parse_threshold("p99<50ms") == Threshold("p99<50ms", "p99", "<", 50.0)
    assert parse_threshold("p99.9 <= 0.2s").limit == 200.0
    assert parse_threshold("max<1500us").limit == pytest.approx(1.5)
    assert parse_threshold("mean<3").limit == 3.0  # ms by default
    assert parse_threshold("error_rate<0.1%").limit == pytest.approx(0.001)
    assert parse_threshold("error_rate<0.01").limit == 0.01
    assert parse_threshold("rate>500") == Threshold("rate>500", "rate", ">", 500.0)
    assert parse_threshold("ct-steps:p95<=20ms").scope == "ct-steps"
    assert parse_threshold("p99<1s", scope="q").scope == "q"
    for bad in ("p99", "p99<", "rate>5ms", "p99<5%", "errors<1s", "p0<1", "p101<1", "lat<1"):
        with pytest.raises(ConfigError, match="--threshold"):
            parse_threshold(bad)


def _stats() -> LoadStats:
    stats = LoadStats(started=100.0)
    for index in range(1, 101):  # 1..100 ms
        stats.record_final("fast", 0x0000, 1, index / 1000)
    stats.record_final("slow", 0xA700, 0, 2.0)
    stats.record_error("slow", AssociationAborted("x"), 3.0)
    stats.finished = 110.0
    return stats


def test_values_are_measured_on_the_run_and_on_one_query() -> None:
    texts = ["p50<52ms", "p99<50ms", "fast:p99<=100ms", "slow:p50>1s", "error_rate<1%",
             "fast:error_rate<=0", "errors<2", "rate>=10.2", "max<2s", "mean<40ms"]  # fmt: skip
    results = evaluate([parse_threshold(t) for t in texts], _stats())
    by_text = {r["threshold"]: (r["passed"], r["value"]) for r in results}
    assert by_text["p50<52ms"][0] and by_text["p50<52ms"][1] == pytest.approx(51, abs=0.1)
    assert by_text["p99<50ms"] == (False, pytest.approx(2000, rel=0.01))
    assert by_text["fast:p99<=100ms"] == (True, pytest.approx(99, rel=0.01))
    assert by_text["slow:p50>1s"][0]
    assert by_text["error_rate<1%"] == (False, pytest.approx(2 / 102, abs=1e-6))
    assert by_text["fast:error_rate<=0"] == (True, 0.0)
    assert by_text["errors<2"] == (False, 2.0)
    assert by_text["rate>=10.2"] == (True, pytest.approx(10.2))
    assert by_text["max<2s"][0] is False
    assert by_text["mean<40ms"][0] is False


def test_a_query_that_never_completed_fails_its_latency_threshold() -> None:
    (result,) = evaluate([parse_threshold("p99<1s", scope="ghost")], _stats())
    assert (result["passed"], result["value"]) == (False, None)
    assert "nothing measured" in render_text({**_stats().report(), "thresholds": [result]})


def test_yaml_thresholds_and_unknown_query_names(tmp_path: Path) -> None:
    config = tmp_path / "lt.yaml"
    config.write_text(
        "thresholds: ['p99<80ms']\n"
        "queries:\n  - name: a\n    keys: ['PatientID=']\n    thresholds: ['p50<5ms', 'rate>1']\n"
    )
    ns = build_parser().parse_args(["h", "1", "-c", str(config), "--threshold", "a:max<1s"])
    found = thresholds(ns, configure(ns)[1])
    assert [(t.text, t.scope) for t in found] == [
        ("a:max<1s", "a"), ("p99<80ms", None), ("p50<5ms", "a"), ("rate>1", "a")
    ]  # fmt: skip
    ns = build_parser().parse_args(["h", "1", "-c", str(config), "--threshold", "b:max<1s"])
    with pytest.raises(ConfigError, match="a query name"):
        thresholds(ns, configure(ns)[1])
    config.write_text("queries:\n  - name: a\n    thresholds: ['p99 under 5']\n")
    with pytest.raises(ConfigError) as info:
        configure(build_parser().parse_args(["h", "1", "-c", str(config)]))
    assert info.value.file == str(config)
    assert info.value.key == "queries[0].thresholds"


def test_a_missed_threshold_fails_the_run_and_names_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "r.json"
    with bundled_worklist(tmp_path) as server:
        base = ["127.0.0.1", str(server.port), "-aec", AE, "-c",
                str(REPO / "config" / "loadtest.yaml"), "--count", "60", "--no-progress",
                "--json", str(report_path)]  # fmt: skip
        failing = main([*base, "--threshold", "p99<1us", "--threshold", "error_rate<1%",
                        "--threshold", "ct-steps:rate>100000"])  # fmt: skip
        report = json.loads(report_path.read_text())
        passing = main([*base, "--threshold", "p99<30s", "--threshold", "error_rate<=0"])
    out = capsys.readouterr().out
    assert failing == 1
    assert passing == 0
    verdicts = {r["threshold"]: r["passed"] for r in report["thresholds"]}
    assert verdicts == {"p99<1us": False, "error_rate<1%": True, "ct-steps:rate>100000": False}
    assert "threshold FAIL p99<1us: measured " in out
    assert "threshold PASS error_rate<1%: measured 0.0000%" in out
