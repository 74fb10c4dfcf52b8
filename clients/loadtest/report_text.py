"""The text report of ``aiodicom-loadtest`` (printed at the end of a run or a merge)."""

from __future__ import annotations

from typing import Any

from .stats import LIMIT_HINTS
from .thresholds import describe


def _latency(figures: dict[str, float]) -> str:
    return "  ".join(f"{key}={value:.3f}" for key, value in figures.items())


def render_text(report: dict[str, Any]) -> str:
    """A human-readable multi-line summary of a report (:meth:`LoadStats.report`)."""
    latency = report["latency_ms"]
    lines = [
        f"duration      {report['duration_s']:.3f} s",
        f"queries       {report['queries']}  ({report['throughput_qps']:.1f}/s)",
        f"responses     {report['responses']}  ({report['responses_per_s']:.1f}/s)",
        f"associations  {report['associations']}",
    ]
    if latency:
        lines.append(f"latency ms    {_latency(latency)}")
    per_query = report.get("per_query", {})
    for name, mean in report["responses_per_query"].items():
        count = report["queries_by_name"][name]
        lines.append(f"query {name}: {count} sent, {mean:.2f} responses each")
        figures = per_query.get(name, {}).get("latency_ms")
        if figures:
            lines.append(f"  latency ms  {_latency(figures)}")
    statuses = ", ".join(f"{code}: {n}" for code, n in report["statuses"].items())
    lines.append(f"statuses      {statuses or '-'}")
    rejects = ", ".join(f"{reason}: {n}" for reason, n in report["rejects"].items())
    lines.append(f"rejects       {rejects or '0'}")
    lines.extend(
        f"  {reason}: {LIMIT_HINTS[reason]}"
        for reason in report["rejects"]
        if reason in LIMIT_HINTS
    )
    lines.append(
        f"aborts {report['aborts']}  timeouts {report['timeouts']}  "
        f"connection errors {report['connection_errors']}"
    )
    if report["other_errors"]:
        lines.append(f"other errors  {report['other_errors']}")
    for comment, count in report.get("error_comments", {}).items():
        lines.append(f"error comment {comment}: {count}")
    lines.append(f"errors        {report['errors']}  (rate {report['error_rate']:.4%})")
    generator = report.get("generator", {})
    if generator.get("encode_us_per_query") is not None:
        lines.append(
            f"generator     {generator['encode_us_per_query']:.1f} us to build and encode "
            f"each parameterised query, {generator['cpu_us_per_query']} us CPU per query"
        )
    lines.extend(f"WARNING       {warning}" for warning in generator.get("warnings", []))
    lines.extend(describe(result) for result in report.get("thresholds", []))
    return "\n".join(lines)
