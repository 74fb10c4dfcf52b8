"""The end of a run or a merge: thresholds judged, text printed, JSON and HTML written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .report_html import write_html
from .report_text import render_text
from .stats import LoadStats
from .thresholds import Threshold, evaluate


def finish(
    stats: LoadStats,
    thresholds: Sequence[Threshold],
    extra: dict[str, Any],
    *,
    json_path: str | None = None,
    html_path: str | None = None,
) -> dict[str, Any]:
    """The report with ``extra`` keys and threshold results; printed and written."""
    report = stats.report()
    report.update(extra)
    report["thresholds"] = evaluate(thresholds, stats)
    print(render_text(report))
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if html_path:
        write_html(report, html_path)
    return report


def thresholds_failed(report: dict[str, Any]) -> bool:
    """True when any threshold of the report failed."""
    return not all(result["passed"] for result in report["thresholds"])
