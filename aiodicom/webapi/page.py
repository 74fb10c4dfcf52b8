"""The server-rendered worklist page (no build step): HTML here, a little JS in static/.

The table shows the Scheduled Procedure Steps of one day (PS3.4 Table K.6-1: start
date/time, modality, scheduled station AE title, status), grouped by station or by
modality. Every value goes through :func:`html.escape`; the page holds no secret.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from itertools import groupby

from aiodicom.store.worklist_rules import STATUSES
from aiodicom.webapi.items import PRIORITIES
from aiodicom.webapi.listing import Summary

MODALITIES = ("CT", "MR", "US", "CR", "DX", "MG", "NM", "PT", "XA", "RF", "OT")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _status_select(row: Summary) -> str:
    """The status as a dropdown, coloured like the read-only badge, that changes it."""
    current = row.fields["status"]
    options = "".join(
        f'<option value="{s}"{" selected" if s == current else ""}>{s}</option>' for s in STATUSES
    )
    label = f"Status of {row.fields['patient_name'] or row.item_id}"
    return (
        f'<select class="status-select badge-{_e(current.lower())}" '
        f'data-id="{_e(row.item_id)}" aria-label="{_e(label)}">{options}</select>'
    )


def _row(row: Summary, mpps: Mapping[str, str] | None = None) -> str:
    """One procedure. Column classes drive wrapping (app.css): ``name``/``text`` wrap
    anywhere, ``code`` keeps IDs whole, ``fixed`` never wraps (time, status, actions)."""
    fields = row.fields
    status = fields["status"]
    time = fields["start"][11:16] if len(fields["start"]) > 10 else ""
    if row.item_id is None:
        state = f'<span class="badge badge-{_e(status.lower())}">{_e(status)}</span>'
        actions = '<span class="muted">read-only file name</span>'
    else:
        state = _status_select(row)
        actions = (
            f'<button type="button" class="edit" data-id="{_e(row.item_id)}">Edit</button> '
            f'<button type="button" class="delete" data-id="{_e(row.item_id)}" '
            f'data-name="{_e(fields["patient_name"])}">Delete</button>'
        )
    cells = [
        ("fixed", time), ("name", fields["patient_name"]), ("code", fields["patient_id"]),
        ("code", fields["modality"]), ("code", fields["station_ae"]),
        ("text", fields["description"]), ("code", fields["accession_number"]),
    ]  # fmt: skip
    body = "".join(f'<td class="{kind}">{_e(cell)}</td>' for kind, cell in cells)
    last = ""
    if mpps is not None:  # the step's MPPS (PS3.4 Annex F), pre-rendered HTML
        none = '<span class="muted">-</span>'
        last = f'<td class="mpps">{mpps.get(row.item_id or "", none)}</td>'
    return (
        f'<tr data-id="{_e(row.item_id or "")}" data-file="{_e(row.file)}">{body}'
        f'<td class="fixed">{state}</td><td class="fixed">{actions}</td>{last}</tr>'
    )


def render_table(rows: Sequence[Summary], group: str, mpps: Mapping[str, str] | None = None) -> str:
    """The table of ``rows`` grouped by ``group`` (``station_ae`` or ``modality``);
    ``mpps`` (item id -> cell HTML) adds the MPPS column."""
    if not rows:
        return '<p id="empty" class="muted">No procedures scheduled for this day.</p>'
    ordered = sorted(rows, key=lambda r: (r.fields[group], r.fields["start"]))
    head = "".join(
        f'<th scope="col">{name}</th>'
        for name in (
            "Time",
            "Patient",
            "Patient ID",
            "Modality",
            "Station",
            "Procedure",
            "Accession",
            "Status",
            "Actions",
            *(("MPPS",) if mpps is not None else ()),
        )
    )
    columns = 9 if mpps is None else 10
    parts = [f'<table id="worklist"><caption>{len(rows)} procedures</caption>'
             f"<thead><tr>{head}</tr></thead>"]  # fmt: skip
    label = "Station" if group == "station_ae" else "Modality"
    for key, members in groupby(ordered, key=lambda r: r.fields[group]):
        items = list(members)
        parts.append(
            f'<tbody class="group"><tr class="group-head"><th colspan="{columns}" '
            'scope="rowgroup">'
            f'{label} {_e(key or "(none)")} <span class="muted">({len(items)})</span></th></tr>'
        )
        parts.extend(_row(row, mpps) for row in items)
        parts.append("</tbody>")
    parts.append("</table>")
    return "".join(parts)


def _input(name: str, label: str, kind: str = "text", extra: str = "") -> str:
    return (
        f'<div class="field"><label for="f-{name}">{label}</label>'
        f'<input id="f-{name}" name="{name}" type="{kind}" {extra} '
        f'aria-describedby="err-{name}"><span class="error" id="err-{name}" '
        f'aria-live="polite"></span></div>'
    )


def _select(name: str, label: str, options: Sequence[str], blank: bool = True) -> str:
    choices = ('<option value=""></option>' if blank else "") + "".join(
        f'<option value="{_e(o)}">{_e(o)}</option>' for o in options
    )
    return (
        f'<div class="field"><label for="f-{name}">{label}</label>'
        f'<select id="f-{name}" name="{name}" aria-describedby="err-{name}">{choices}</select>'
        f'<span class="error" id="err-{name}" aria-live="polite"></span></div>'
    )


def render_form(ae_titles: Sequence[str]) -> str:
    """The add/edit form; the JS posts it as the flat JSON form with the CSRF header."""
    fields = [
        _input("patient_name", "Patient name (Family^Given)", extra="required maxlength=64"),
        _input("patient_id", "Patient ID", extra="required maxlength=64"),
        _input("birth_date", "Birth date", "date"),
        _select("sex", "Sex", ("M", "F", "O")),
        _input("modality", "Modality", extra='required maxlength=16 list="modalities"'),
        _input("station_ae", "Station AE title", extra="maxlength=16"),
        _input("start", "Start", "datetime-local", "required"),
        _input("description", "Procedure description", extra="maxlength=64"),
        _input("accession_number", "Accession number (generated if empty)", extra="maxlength=16"),
        _select("priority", "Priority", PRIORITIES),
        _select("ae_title", "Worklist (called AE)", ae_titles, blank=False),
    ]
    datalist = "".join(f'<option value="{m}">' for m in MODALITIES)
    return (
        '<section aria-labelledby="form-title"><h2 id="form-title">Add procedure</h2>'
        '<form id="item-form" novalidate>' + "".join(fields)
        + f'<datalist id="modalities">{datalist}</datalist>'
        '<p class="error" id="err-form" role="alert"></p>'
        '<button type="submit" id="save">Save</button> '
        '<button type="button" id="cancel-edit" hidden>Cancel edit</button></form></section>'
    )  # fmt: skip


def _filters(filters: Mapping[str, str], group: str) -> str:
    date = filters.get("date", "")
    iso = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else ""
    groups = "".join(
        f'<option value="{v}"{" selected" if v == group else ""}>{t}</option>'
        for v, t in (("station_ae", "station"), ("modality", "modality"))
    )
    statuses = '<option value=""></option>' + "".join(
        f"<option{' selected' if filters.get('status') == s else ''}>{s}</option>" for s in STATUSES
    )
    text = "".join(
        f'<label for="q-{name}">{label}</label><input id="q-{name}" name="{name}" '
        f'value="{_e(filters.get(name, ""))}" size="10">'
        for name, label in (
            ("modality", "Modality"),
            ("station_ae", "Station"),
            ("patient", "Patient"),
        )
    )
    return (
        '<form id="filters" method="get" action="/" role="search">'
        f'<label for="q-date">Day</label><input id="q-date" name="date" type="date" '
        f'value="{iso}"><label for="q-group">Group by</label>'
        f'<select id="q-group" name="group">{groups}</select>{text}'
        f'<label for="q-status">Status</label><select id="q-status" name="status">'
        f'{statuses}</select><button type="submit">Show</button></form>'
    )


def render_page(
    rows: Sequence[Summary],
    filters: Mapping[str, str],
    group: str,
    generation: int,
    ae_titles: Sequence[str],
    *,
    mpps: tuple[Mapping[str, str], str] | None = None,
) -> str:
    """The whole page: filters, grouped table, form, live C-FIND panel; ``mpps`` (the
    MPPS cells by item id, the MPPS section's HTML) adds the performed procedure steps."""
    cells, section = mpps if mpps is not None else (None, "")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>aiodicom worklist</title>"
        '<link rel="stylesheet" href="/static/app.css">'
        '<script src="/static/app.js" defer></script></head>'
        f'<body data-generation="{generation}"><header><h1>Modality Worklist</h1>'
        f'{_filters(filters, group)}</header><div class="layout">'
        '<main id="main"><section aria-labelledby="table-title">'
        '<h2 id="table-title">Scheduled procedures</h2>'
        f'<div id="table-container" aria-live="polite">{render_table(rows, group, cells)}</div>'
        f"</section>{section}</main><aside>"
        f"{render_form(ae_titles)}"
        '<section aria-labelledby="queries-title"><h2 id="queries-title">Latest C-FIND '
        'queries and MPPS N-CREATE / N-SET</h2><p class="muted">Updated every second. '
        "Zero-match queries show why the closest items were excluded.</p>"
        '<ol id="queries" aria-live="polite"></ol>'
        "</section></aside></div></body></html>"
    )
