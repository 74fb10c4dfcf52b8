"""``--report-html``: one self-contained HTML page to look at a run (or a merge).

The page holds plotly's JavaScript inline (no network needed to view it) and four
pictures of the JSON report: latency over time (p50, p99 per interval), throughput over
time (sent, completed, errors, open associations), the latency histogram (the HDR
histogram in log-scale buckets, log axis) and the per-query and per-status table, with
the thresholds' verdicts and the generator's warnings above them.
"""

from __future__ import annotations

import datetime
import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

_CONFIG = {"displaylogo": False, "responsive": True}
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.fail{color:#b00020;font-weight:bold}.pass{color:#0a7d28}.warn{color:#a35a00}
.plot{min-height:360px}"""
_COLUMNS = ("queries", "throughput_qps", "errors", "p50", "p90", "p99", "p99.9", "max", "mean")


def _times(points: list[dict[str, Any]]) -> list[str]:
    return [
        datetime.datetime.fromtimestamp(p["t"], datetime.UTC).isoformat(timespec="milliseconds")
        for p in points
    ]


def latency_figure(report: dict[str, Any]) -> go.Figure:
    """p50 and p99 latency of each interval."""
    points = report["timeseries"]["points"]
    x = _times(points)
    figure = go.Figure()
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        figure.add_trace(
            go.Scatter(
                x=x, y=[p[key] for p in points], mode="lines+markers", name=label, connectgaps=False
            )
        )
    figure.update_layout(
        title="Latency over time",
        xaxis_title="time (UTC)",
        yaxis_title="ms",
        yaxis_rangemode="tozero",
    )
    return figure


def throughput_figure(report: dict[str, Any]) -> go.Figure:
    """Queries sent, completed and failed per second, and associations open."""
    points = report["timeseries"]["points"]
    interval = report["timeseries"]["interval_s"]
    x = _times(points)
    figure = go.Figure()
    for key in ("sent", "completed", "errors"):
        rates = [p[key] / interval for p in points]
        figure.add_trace(go.Scatter(x=x, y=rates, mode="lines", name=f"{key}/s"))
    figure.add_trace(
        go.Scatter(
            x=x,
            y=[p["associations"] for p in points],
            mode="lines",
            name="associations",
            yaxis="y2",
            line={"dash": "dot"},
        )
    )
    figure.update_layout(
        title="Throughput over time",
        xaxis_title="time (UTC)",
        yaxis={"title": {"text": "queries/s"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "associations"},
            "overlaying": "y",
            "side": "right",
            "tickformat": "d",
            "rangemode": "tozero",
        },
    )
    return figure


def histogram_figure(report: dict[str, Any]) -> go.Figure:
    """The latency distribution: queries per log-scale latency bucket, drawn as steps
    (each bucket as wide as it is on the log axis)."""
    rows = report["latency_histogram_ms"]
    figure = go.Figure(
        go.Scatter(
            x=[r[0] for r in rows],
            y=[r[1] for r in rows],
            mode="lines+markers",
            line={"shape": "vh"},
            fill="tozeroy",
            name="queries",
        )
    )
    figure.update_layout(
        title="Latency histogram (HDR, log scale)",
        xaxis={"type": "log", "title": {"text": "latency ms (bucket top)"}},
        yaxis_title="queries",
    )
    return figure


def _row(name: str, figures: dict[str, Any]) -> str:
    latency = figures.get("latency_ms", {})
    cells = [html.escape(name)]
    for column in _COLUMNS:
        value = figures.get(column, latency.get(column, ""))
        cells.append(html.escape(str(value)))
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def table(report: dict[str, Any]) -> str:
    """Per-query and per-status figures as an HTML table."""
    head = "".join(f"<th>{c}</th>" for c in ("query", *_COLUMNS[:3])) + "".join(
        f"<th>{c} ms</th>" for c in _COLUMNS[3:]
    )
    rows = [_row(name, figures) for name, figures in report["per_query"].items()]
    rows.append(_row("(all)", {**report, "queries": report["queries"]}))
    statuses = [
        _row(key, {"queries": figures["count"], **figures})
        for key, figures in report["per_status"].items()
    ]
    status_head = head.replace("<th>query</th>", "<th>status</th>", 1)
    return (
        f'<table id="per-query"><tr>{head}</tr>{"".join(rows)}</table>'
        f'<table id="per-status"><tr>{status_head}</tr>{"".join(statuses)}</table>'
    )


def _verdicts(report: dict[str, Any]) -> str:
    items = []
    for result in report.get("thresholds", []):
        verdict = "pass" if result["passed"] else "fail"
        items.append(
            f'<li class="{verdict}">{verdict.upper()} {html.escape(result["threshold"])}: '
            f"measured {html.escape(str(result['value']))}</li>"
        )
    for warning in report.get("generator", {}).get("warnings", []):
        items.append(f'<li class="warn">WARNING {html.escape(warning)}</li>')
    return f'<ul id="verdicts">{"".join(items)}</ul>' if items else ""


def render_html(report: dict[str, Any]) -> str:
    """The whole page."""
    figures = [
        ("latency-over-time", latency_figure(report)),
        ("throughput-over-time", throughput_figure(report)),
        ("latency-histogram", histogram_figure(report)),
    ]
    plots = [
        pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=index == 0,
            div_id=name,
            config=_CONFIG,
            default_height="380px",
        )
        for index, (name, figure) in enumerate(figures)
    ]
    summary = (
        f"{report['queries']} queries in {report['duration_s']:.1f} s "
        f"({report['throughput_qps']:.1f}/s), {report['errors']} errors "
        f"({report['error_rate']:.4%}); latency ms "
        + ", ".join(f"{k} {v}" for k, v in report["latency_ms"].items())
    )
    target = html.escape(str(report.get("target", "")))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>aiodicom-loadtest report</title><style>{_STYLE}</style></head><body>"
        f'<h1>aiodicom-loadtest</h1><p>{target}</p><p id="summary">{html.escape(summary)}</p>'
        f"{_verdicts(report)}"
        + "".join(f'<div class="plot">{plot}</div>' for plot in plots)
        + f"<h2>Per query and per status</h2>{table(report)}</body></html>\n"
    )


def write_html(report: dict[str, Any], path: str) -> None:
    """Write :func:`render_html` to ``path``."""
    Path(path).write_text(render_html(report), encoding="utf-8")
