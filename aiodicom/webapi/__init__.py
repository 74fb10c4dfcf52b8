"""Worklist management over HTTP: REST API, web page and C-FIND query log.

The data folder of the Modality Worklist SCP (PS3.4 Annex K) stays the single source of
truth: the API writes item files there and lists what the hot-reloaded store holds.
The aiohttp parts live in :mod:`aiodicom.webapi.app` (``create_app``) and
:mod:`aiodicom.webapi.server` (``start_http``, ``HttpServer``); this package import stays
aiohttp-free: those two names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiodicom.store.worklist_items import ItemFiles
from aiodicom.store.worklist_rules import STATUSES
from aiodicom.webapi.items import PRIORITIES, ItemInvalid, item_from_body, parse_iso_date
from aiodicom.webapi.listing import Listing
from aiodicom.webapi.querylog import QueryLog, logged_handlers
from aiodicom.webapi.settings import WebSettings, check_bind, is_loopback

if TYPE_CHECKING:
    from aiodicom.webapi.server import HttpServer, start_http

_LAZY = frozenset({"HttpServer", "start_http"})


def __getattr__(name: str) -> Any:
    """``HttpServer`` and ``start_http`` import aiohttp: loaded when first asked for."""
    if name in _LAZY:
        from aiodicom.webapi import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PRIORITIES",
    "STATUSES",
    "HttpServer",
    "ItemFiles",
    "ItemInvalid",
    "Listing",
    "QueryLog",
    "WebSettings",
    "check_bind",
    "is_loopback",
    "item_from_body",
    "logged_handlers",
    "parse_iso_date",
    "start_http",
]
