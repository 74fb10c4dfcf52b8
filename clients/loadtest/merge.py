"""``aiodicom-loadtest merge A.json B.json ...``: one report from several generator hosts.

Each ``--json`` report carries its raw figures (``raw``: counters and HDR histograms,
encoded); merging adds them up, so the merged percentiles are those of every query of
every host, exactly as if one generator had recorded them all. Time-series slots are
wall-clock intervals and line up across hosts (start them together with ``--start-at``;
their clocks should be NTP-synchronised). Thresholds can be judged on the merged figures.
Exit status: 0, 1 when a threshold fails, 2 on usage errors or unreadable reports.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiodicom.errors import ConfigError

from .output import finish, thresholds_failed
from .stats import LoadStats
from .thresholds import parse_threshold


def build_parser() -> argparse.ArgumentParser:
    """The ``merge`` sub-command's parser."""
    parser = argparse.ArgumentParser(
        prog="aiodicom-loadtest merge",
        description="add up JSON reports of load generators run together",
        allow_abbrev=False,
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument("--json", metavar="FILE", help="write the merged report as JSON")
    parser.add_argument("--report-html", metavar="FILE", help="write a self-contained HTML page")
    parser.add_argument(
        "--threshold", action="append", default=[], metavar="EXPR", help="as for a run"
    )
    return parser


def read_report(path: str) -> dict[str, Any]:
    """A ``--json`` report with its raw figures."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        expected = "a readable aiodicom-loadtest JSON report"
        raise ConfigError(path, "<file>", expected, str(exc)) from exc
    if not isinstance(report, dict) or not isinstance(report.get("raw"), dict):
        raise ConfigError(path, "raw", "a report written by aiodicom-loadtest --json")
    return report


def merge_reports(reports: Sequence[dict[str, Any]]) -> LoadStats:
    """The sum of the reports' raw figures."""
    try:
        return LoadStats.from_wires([report["raw"] for report in reports])
    except (KeyError, ValueError) as exc:
        expected = "reports of the same version and interval"
        raise ConfigError(None, "raw", expected, str(exc)) from exc


def main(argv: Sequence[str]) -> int:
    """Entry point of ``aiodicom-loadtest merge``."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        reports = [read_report(path) for path in ns.reports]
        thresholds = [parse_threshold(text) for text in ns.threshold]
        stats = merge_reports(reports)
    except ConfigError as exc:
        parser.error(str(exc))
    extra = {
        "target": " + ".join(sorted({str(r.get("target", "?")) for r in reports})),
        "merged_from": list(ns.reports),
        "interrupted": any(r.get("interrupted", False) for r in reports),
    }
    report = finish(stats, thresholds, extra, json_path=ns.json, html_path=ns.report_html)
    return 1 if thresholds_failed(report) else 0
