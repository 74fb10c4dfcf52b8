"""The worklist management HTTP API (aiohttp), served next to the MWL SCP (PS3.4 Annex K).

Items are files in the data folder (:mod:`aiodicom.store.worklist_items`); lists come from the
worklist store's snapshot (:mod:`aiodicom.webapi.listing`); the C-FIND log comes from
:class:`~aiodicom.webapi.querylog.QueryLog`. The routes are described in
``aiodicom/webapi/openapi.yaml`` (served at ``/api/openapi.yaml``).
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from aiodicom.errors import DataError
from aiodicom.matching import MatchOptions
from aiodicom.store.mpps import MppsStore
from aiodicom.store.worklist import Refresher, WorklistStore
from aiodicom.store.worklist_items import (
    ItemConflict,
    ItemFiles,
    ItemNotFound,
    PreconditionRequired,
    StoredItem,
)
from aiodicom.store.worklist_rules import STATUSES, check_transition, item_status, set_status
from aiodicom.store.worklist_validate import FieldError
from aiodicom.webapi.body import MAX_BODY, BodyTooLarge, read_json
from aiodicom.webapi.items import ItemInvalid, flat_from_dataset, item_from_body, parse_iso_date
from aiodicom.webapi.listing import FILTERS, Listing, page
from aiodicom.webapi.mpps_view import (
    by_item,
    mpps_cell,
    mpps_detail,
    mpps_summary,
    render_mpps,
    render_mpps_table,
)
from aiodicom.webapi.page import render_page, render_table
from aiodicom.webapi.querylog import QueryLog, explain_entries
from aiodicom.webapi.security import TOKEN_COOKIE, security_middleware
from aiodicom.webapi.settings import WebSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"
OPENAPI_FILE = Path(__file__).resolve().parent / "openapi.yaml"
MAX_LIMIT = 5000

API_KEY: web.AppKey[WebApi] = web.AppKey("aiodicom_webapi")


class WebApi:
    """State shared by the handlers: the store, the item files, the query log."""

    def __init__(
        self,
        store: WorklistStore,
        settings: WebSettings,
        query_log: QueryLog,
        matching: MatchOptions | None = None,
        mpps: MppsStore | None = None,
    ) -> None:
        self.store = store
        self.mpps = mpps
        self.settings = settings
        self.files = ItemFiles(store.root, settings.default_ae)
        self.listing = Listing(store)
        self.refresher = Refresher(store)
        self.query_log = query_log
        self.matching = matching or MatchOptions()


def _api(request: web.Request) -> WebApi:
    return request.app[API_KEY]


def _invalid(errors: list[FieldError]) -> web.Response:
    body = {"error": "invalid request", "errors": [error.as_dict() for error in errors]}
    return web.json_response(body, status=400)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Map the DataError family to JSON errors (400 / 404 / 409 / 413 / 428)."""
    try:
        response: web.StreamResponse = await handler(request)
    except ItemInvalid as exc:
        return _invalid(exc.errors)
    except ItemNotFound as exc:
        return web.json_response({"error": exc.reason, "id": exc.path}, status=404)
    except ItemConflict as exc:
        return web.json_response({"error": exc.reason, "id": exc.path}, status=409)
    except PreconditionRequired as exc:
        return web.json_response({"error": exc.reason, "id": exc.path}, status=428)
    except BodyTooLarge as exc:
        return web.json_response({"error": exc.reason, "limit": MAX_BODY}, status=413)
    except DataError as exc:
        return web.json_response({"error": str(exc)}, status=422)
    return response


def item_json(item: StoredItem) -> web.Response:
    """The item in both forms, with its ETag (RFC 9110 8.8.3)."""
    body = {
        "id": item.item_id,
        "ae_title": item.ae_title,
        "file": item.path.name,
        "etag": item.etag,
        "status": item_status(item.dataset),
        "flat": flat_from_dataset(item.dataset),
        "dicom": item.dataset.to_json_dict(),
    }
    return web.json_response(body, headers={"ETag": item.etag})


def _int_param(request: web.Request, name: str, default: int, high: int) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) > high:
        raise ItemInvalid([FieldError(name, f"an integer from 0 to {high}")])
    return int(text)


def list_filters(query: Any) -> dict[str, str]:
    """The list filters of a query string; ``date`` becomes YYYYMMDD (``today`` allowed)."""
    filters = {name: str(query.get(name, "")) for name in FILTERS if query.get(name)}
    if "date" in filters:
        text = filters["date"]
        date = datetime.date.today().strftime("%Y%m%d") if text == "today" else None
        date = date or parse_iso_date(text)
        if date is None:
            raise ItemInvalid([FieldError("date", "a date YYYY-MM-DD, YYYYMMDD or 'today'")])
        filters["date"] = date
    return filters


async def list_items(request: web.Request) -> web.Response:
    api = _api(request)
    filters = list_filters(request.query)
    offset = _int_param(request, "offset", 0, 10**9)
    limit = _int_param(request, "limit", 100, MAX_LIMIT)
    await api.refresher.fresh()
    rows = api.listing.select(filters)
    body = {
        "total": len(rows),
        "offset": offset,
        "limit": limit,
        "items": page(rows, offset, limit),
    }
    return web.json_response(body)


async def get_item(request: web.Request) -> web.Response:
    return item_json(_api(request).files.read(request.match_info["id"]))


async def create_item(request: web.Request) -> web.Response:
    api = _api(request)
    ds, meta = item_from_body(await read_json(request))
    item_id = meta.get("id") or ItemFiles.new_id()
    create_ae = request.query.get("create_ae", "").lower() in {"1", "true", "yes"}
    item = await api.files.create(ds, item_id, meta.get("ae_title"), create_ae)
    api.refresher.request()
    response = item_json(item)
    response.set_status(201)
    response.headers["Location"] = f"/api/items/{item_id}"
    return response


async def replace_item(request: web.Request) -> web.Response:
    api = _api(request)
    item_id = request.match_info["id"]
    previous = api.files.read(item_id)
    ds, meta = item_from_body(await read_json(request), previous.dataset)
    problems = []
    if meta.get("id", item_id) != item_id:
        problems.append(FieldError("id", "differs from the id in the URL"))
    if meta.get("ae_title", previous.ae_title) != previous.ae_title:
        problems.append(FieldError("ae_title", "an item cannot move to another AE folder"))
    if problems:
        raise ItemInvalid(problems)
    item = await api.files.replace(item_id, ds, request.headers.get("If-Match"))
    api.refresher.request()
    return item_json(item)


async def delete_item(request: web.Request) -> web.Response:
    api = _api(request)
    await api.files.delete(request.match_info["id"], request.headers.get("If-Match"))
    api.refresher.request()
    return web.Response(status=204)


async def change_status(request: web.Request) -> web.Response:
    """POST {"status": "ARRIVED"}: PS3.3 C.4.10 Scheduled Procedure Step Status."""
    api = _api(request)
    item_id = request.match_info["id"]
    body = await read_json(request)
    new = str(body.get("status", "")).strip().upper() if isinstance(body, dict) else ""
    if new not in STATUSES:
        raise ItemInvalid([FieldError("status", "one of " + ", ".join(STATUSES))])

    def apply(ds: Any) -> Any:
        reason = check_transition(item_status(ds), new)
        if reason is not None:
            raise ItemConflict(item_id, f"illegal status change: {reason}")
        set_status(ds, new)
        return ds

    item = await api.files.update(item_id, request.headers.get("If-Match"), apply)
    api.refresher.request()
    return item_json(item)


async def list_queries(request: web.Request) -> web.Response:
    api = _api(request)
    limit = _int_param(request, "limit", 50, 1000)
    since = _int_param(request, "since", 0, 10**12)
    entries = api.query_log.latest_all(limit, since)
    return web.json_response({"queries": explain_entries(entries, api.store, api.matching)})


def _mpps_store(request: web.Request) -> MppsStore:
    mpps = _api(request).mpps
    if mpps is None:
        raise web.HTTPNotFound(text="the MPPS SCP is off (mpps.enabled: false)")
    return mpps


async def list_mpps(request: web.Request) -> web.Response:
    """The MPPS instances (PS3.4 Annex F), the most recently changed first."""
    records = _mpps_store(request).all()
    status = request.query.get("status", "").strip().upper()
    if status:
        records = [r for r in records if mpps_summary(r)["status"] == status]
    return web.json_response({"total": len(records), "mpps": [mpps_summary(r) for r in records]})


async def get_mpps(request: web.Request) -> web.Response:
    uid = request.match_info["uid"]
    record = _mpps_store(request).get(uid)
    if record is None:
        return web.json_response({"error": "no such MPPS instance", "uid": uid}, status=404)
    return web.json_response(mpps_detail(record))


def _mpps_parts(api: WebApi) -> tuple[dict[str, str], str] | None:
    """The page's MPPS cells by item id and its MPPS section (None: MPPS is off)."""
    if api.mpps is None:
        return None
    records = api.mpps.all()
    cells = {item_id: mpps_cell(record) for item_id, record in by_item(records).items()}
    return cells, render_mpps(records)


async def health(request: web.Request) -> web.Response:
    snapshot = _api(request).store.snapshot
    body = {"status": "ok", "generation": snapshot.generation, "items": snapshot.item_count}
    return web.json_response(body)


async def openapi(_request: web.Request) -> web.StreamResponse:
    if not OPENAPI_FILE.is_file():
        raise web.HTTPNotFound(text="aiodicom/webapi/openapi.yaml is not installed")
    return web.FileResponse(OPENAPI_FILE, headers={"Content-Type": "application/yaml"})


async def index(request: web.Request) -> web.Response:
    """The worklist page (server-rendered; ``?fragment=table`` returns only the table)."""
    api = _api(request)
    if api.settings.token and "token" in request.query:
        response = web.HTTPSeeOther("/")
        response.set_cookie(TOKEN_COOKIE, request.query["token"], httponly=True,
                            samesite="Strict", path="/")  # fmt: skip
        raise response
    try:
        filters = list_filters(request.query)
    except ItemInvalid:
        filters = {}
    filters.setdefault("date", datetime.date.today().strftime("%Y%m%d"))
    group = "modality" if request.query.get("group") == "modality" else "station_ae"
    await api.refresher.fresh()
    rows = api.listing.select(filters)
    if request.query.get("fragment") == "mpps" and api.mpps is not None:
        return web.Response(text=render_mpps_table(api.mpps.all()), content_type="text/html")
    mpps = _mpps_parts(api)
    if request.query.get("fragment") == "table":
        cells = mpps[0] if mpps is not None else None
        return web.Response(text=render_table(rows, group, cells), content_type="text/html")
    generation = api.store.snapshot.generation
    titles = sorted(api.store.snapshot.worklists)
    html = render_page(rows, filters, group, generation, titles, mpps=mpps)
    return web.Response(text=html, content_type="text/html")


def create_app(
    store: WorklistStore,
    settings: WebSettings | None = None,
    query_log: QueryLog | None = None,
    matching: MatchOptions | None = None,
    mpps: MppsStore | None = None,
) -> web.Application:
    """The aiohttp application; the caller runs it (:func:`aiodicom.webapi.start_http`).
    ``mpps``: the MPPS instances to list (``/api/mpps``, the page's MPPS section)."""
    chosen = settings or WebSettings()
    app = web.Application(
        middlewares=[security_middleware(chosen), error_middleware], client_max_size=MAX_BODY
    )
    log = query_log if query_log is not None else QueryLog(chosen.query_log_size)
    api = WebApi(store, chosen, log, matching, mpps)
    app[API_KEY] = api

    async def close(_app: web.Application) -> None:
        await api.refresher.close()

    async def sweep(_app: web.Application) -> None:
        await asyncio.to_thread(api.files.sweep_stale_temps)

    app.on_startup.append(sweep)
    app.on_cleanup.append(close)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/openapi.yaml", openapi)
    app.router.add_get("/api/items", list_items)
    app.router.add_post("/api/items", create_item)
    app.router.add_get("/api/items/{id}", get_item)
    app.router.add_put("/api/items/{id}", replace_item)
    app.router.add_delete("/api/items/{id}", delete_item)
    app.router.add_post("/api/items/{id}/status", change_status)
    app.router.add_get("/api/queries", list_queries)
    app.router.add_get("/api/mpps", list_mpps)
    app.router.add_get("/api/mpps/{uid}", get_mpps)
    return app
