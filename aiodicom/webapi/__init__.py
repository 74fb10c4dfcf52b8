"""Worklist management over HTTP: REST API, web page and C-FIND query log.

The data folder of the Modality Worklist SCP (PS3.4 Annex K) stays the single source of
truth: the API writes item files there and lists what the hot-reloaded store holds.
The aiohttp parts live in :mod:`aiodicom.webapi.app` (``create_app``) and
:mod:`aiodicom.webapi.server` (``start_http``); this package import stays aiohttp-free.
"""

from __future__ import annotations

from aiodicom.webapi.querylog import QueryLog, logged_handlers
from aiodicom.webapi.settings import WebSettings, check_bind, is_loopback

__all__ = ["QueryLog", "WebSettings", "check_bind", "is_loopback", "logged_handlers"]
