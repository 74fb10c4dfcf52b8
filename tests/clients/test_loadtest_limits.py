"""aiodicom-loadtest reports what the SCP said when a limit refused it (#14.23): the Error
Comment (0000,0902) of failed final responses, and which setting an association limit
reject points at."""

from __future__ import annotations

import json
from pathlib import Path

from aiodicom.errors import AssociationRejected
from clients.loadtest.__main__ import main
from clients.loadtest.report_text import render_text
from clients.loadtest.stats import LoadStats
from tests.clients.bundled_worklist import AE, bundled_worklist


def test_error_comments_are_counted_and_shown() -> None:
    stats = LoadStats()
    comment = "22 matches > worklist.max_matches=5 (--max-matches)"
    stats.record_final("a", 0xA700, 0, 0.01, comment)
    stats.record_final("a", 0xA700, 0, 0.01, comment)
    stats.record_final("b", 0x0000, 3, 0.01, None)
    stats.stop()
    report = stats.report()
    assert report["error_comments"] == {f"0xA700 {comment}": 2}
    assert f"0xA700 {comment}: 2" in render_text(report)


def test_error_comments_merge_across_processes() -> None:
    first, second = LoadStats(), LoadStats()
    first.record_final("a", 0xA700, 0, 0.01, "too many")
    second.record_final("a", 0xA700, 0, 0.01, "too many")
    first.merge(second.to_wire())
    assert first.report()["error_comments"] == {"0xA700 too many": 2}


def test_local_limit_reject_names_the_server_setting() -> None:
    stats = LoadStats()
    stats.record_error("a", AssociationRejected(2, 3, 2), 0.01)  # transient, local limit
    stats.stop()
    text = render_text(stats.report())
    assert "local-limit-exceeded: 1" in text
    assert "server.max_associations," in text
    assert "server.max_associations_per_address" in text  # one host meets this one first


def test_a700_comment_reaches_the_report(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    run = ["-k", "PatientName=", "--count", "3", "-n", "1", "--no-progress"]
    with bundled_worklist(tmp_path, ["--max-matches", "5"]) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, *run, "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert code == 1
    assert report["statuses"] == {"0xA700": 3}
    (comment,) = report["error_comments"]
    assert "worklist.max_matches=5" in comment and "--max-matches" in comment


def test_refused_workers_back_off(tmp_path: Path) -> None:
    """Over the SCP's association limit, closed-loop workers wait (10 ms doubling to 1 s)
    before trying again: refusals are measured, not hammered at the SCP (thousands a
    second before)."""
    report_path = tmp_path / "report.json"
    run = ["-k", "PatientID=PID0000001", "-n", "6", "--duration", "1.5", "--no-progress"]
    with bundled_worklist(tmp_path, ["--max-associations", "1"]) as server:
        main(["127.0.0.1", str(server.port), "-aec", AE, *run, "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    rejected = report["rejects"]
    assert 5 <= sum(rejected.values()) <= 5 * 12  # five refused workers, about 8 tries each
    assert report["statuses"].get("0x0000", 0) > 0  # the one admitted worker keeps working
