"""MPPS instances for the API (``/api/mpps``) and the page: flat summaries and HTML.

A summary names what a person checks of a Modality Performed Procedure Step (PS3.3
C.4.13-C.4.16): its state, patient, performed station, start and end, the performed
series (Performed Series Sequence (0040,0340)) and the worklist steps it performs.
Every value on the page goes through :func:`html.escape`.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydicom import Dataset

from aiodicom.store.mpps import MppsRecord


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def _moment(date: str, time: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` from DA and TM values (as much as is given)."""
    if len(date) != 8:
        return ""
    text = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    digits = time.split(".", maxsplit=1)[0]
    parts = [digits[i : i + 2] for i in range(0, min(len(digits), 6), 2)]
    return f"{text}T{':'.join(parts)}" if parts else text


def _series(ds: Dataset) -> list[dict[str, object]]:
    return [
        {
            "series_instance_uid": _text(item, "SeriesInstanceUID"),
            "description": _text(item, "SeriesDescription"),
            "protocol": _text(item, "ProtocolName"),
            "images": len(item.get("ReferencedImageSequence") or []),
        }
        for item in ds.get("PerformedSeriesSequence") or []
    ]


def _iso(stamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(stamp).astimezone()
    return moment.isoformat(timespec="seconds")


def mpps_summary(record: MppsRecord) -> dict[str, Any]:
    """The flat JSON of one instance (the list's row)."""
    ds = record.dataset
    return {
        "sop_instance_uid": record.sop_instance_uid,
        "status": _text(ds, "PerformedProcedureStepStatus"),
        "patient_name": _text(ds, "PatientName"),
        "patient_id": _text(ds, "PatientID"),
        "modality": _text(ds, "Modality"),
        "performed_station_ae": _text(ds, "PerformedStationAETitle"),
        "performed_station_name": _text(ds, "PerformedStationName"),
        "start": _moment(_text(ds, "PerformedProcedureStepStartDate"),
                         _text(ds, "PerformedProcedureStepStartTime")),
        "end": _moment(_text(ds, "PerformedProcedureStepEndDate"),
                       _text(ds, "PerformedProcedureStepEndTime")),
        "description": _text(ds, "PerformedProcedureStepDescription"),
        "series": _series(ds),
        "scheduled": bool(record.links),
        "worklist_steps": [link.as_dict() for link in record.links],
        "calling_ae": record.calling_ae,
        "created": _iso(record.created),
        "updated": _iso(record.updated),
    }  # fmt: skip


def mpps_detail(record: MppsRecord) -> dict[str, Any]:
    """The summary plus every attribute in the DICOM JSON model (PS3.18 F.2)."""
    return {**mpps_summary(record), "dicom": record.dataset.to_json_dict()}


def by_item(records: Iterable[MppsRecord]) -> dict[str, MppsRecord]:
    """The latest MPPS of each worklist item id it performs."""
    found: dict[str, MppsRecord] = {}
    for record in sorted(records, key=lambda r: r.updated):
        for link in record.links:
            found[link.item_id] = record
    return found


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def mpps_cell(record: MppsRecord | None) -> str:
    """The MPPS of one worklist row: state badge, station, start-end, series count."""
    if record is None:
        return '<span class="muted">-</span>'
    row = mpps_summary(record)
    state = row["status"] or "?"
    badge = state.split()[-1].lower()  # IN PROGRESS -> progress
    times = f"{row['start'][11:16]}-{row['end'][11:16]}" if row["end"] else row["start"][11:16]
    series = len(row["series"])
    return (
        f'<span class="badge badge-{_e(badge)}" title="{_e(row["sop_instance_uid"])}">'
        f"{_e(state)}</span> {_e(row['performed_station_ae'])} {_e(times)}"
        f' <span class="muted">{series} series</span>'
    )


def render_mpps(records: Sequence[MppsRecord], limit: int = 50) -> str:
    """The page's section listing the latest performed procedure steps."""
    return (
        '<section aria-labelledby="mpps-title"><h2 id="mpps-title">Performed procedure '
        f'steps (MPPS)</h2><div id="mpps-container">{render_mpps_table(records, limit)}</div>'
        "</section>"
    )


def render_mpps_table(records: Sequence[MppsRecord], limit: int = 50) -> str:
    """The table of the latest ``limit`` instances (``/?fragment=mpps``)."""
    if not records:
        body = '<p class="muted" id="mpps-empty">No performed procedure steps yet.</p>'
    else:
        rows = "".join(_mpps_row(mpps_summary(record)) for record in records[:limit])
        head = "".join(
            f'<th scope="col">{name}</th>'
            for name in ("State", "Patient", "Station", "Start", "End", "Series", "Worklist")
        )
        body = (
            f'<table id="mpps"><caption>{len(records)} performed procedure steps</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )
    return body


def _mpps_row(row: Mapping[str, Any]) -> str:
    state = row["status"]
    series = "; ".join(
        f"{s['description'] or s['series_instance_uid']} ({s['images']} images)"
        for s in row["series"]
    )
    steps = ", ".join(f"{s['item_id']}/{s['sps_id']}" for s in row["worklist_steps"])
    station = f"{row['performed_station_ae']} {row['performed_station_name']}".strip()
    cells = [
        f'<span class="badge badge-{_e(state.split()[-1].lower() if state else "")}">'
        f"{_e(state)}</span>",
        _e(row["patient_name"]), _e(station), _e(row["start"].replace("T", " ")),
        _e(row["end"].replace("T", " ")), _e(series or "-"), _e(steps or "unscheduled"),
    ]  # fmt: skip
    body = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr data-uid="{_e(row["sop_instance_uid"])}">{body}</tr>'
