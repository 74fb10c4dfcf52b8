"""Access rules of the HTTP API: bind policy, access token, Host check, CSRF header.

* The API is served on a loopback address by default. Bound anywhere else it requires
  an access token (:func:`check_bind`, a ConfigError naming ``http.host`` and the token).
* With a token, every API request carries ``Authorization: Bearer <token>`` or
  ``X-Aiodicom-Token``; the page uses an HttpOnly SameSite=Strict cookie set by
  ``/?token=...``.
* On a loopback bind the ``Host`` header must name a loopback host, which defeats DNS
  rebinding from a web page.
* Writes (POST/PUT/DELETE) need the custom header ``X-Requested-With: aiodicom``. A
  cross-site HTML form cannot set it, and a cross-site script cannot send it without a
  CORS preflight that this server never grants, so forms posted cross-site fail (403).
  A request with an ``Origin`` header must come from this server's origin: the same
  scheme, host and port (RFC 6454), so ``https://`` or another port is refused too.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from aiodicom.webapi.settings import WebSettings, is_loopback

CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "aiodicom"
TOKEN_HEADER = "X-Aiodicom-Token"
TOKEN_COOKIE = "aiodicom_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = ("/static/", "/api/health")
DEFAULT_PORTS = {"http": 80, "https": 443}
_ORIGIN = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://(\[[0-9A-Fa-f:.]+\]|[^][/?#@:\s]+)(?::(\d{1,5}))?"
)
"""RFC 6454 6.2: the serialization of an origin, ``scheme "://" host [ ":" port ]``."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _presented_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)


def token_ok(settings: WebSettings, presented: str | None) -> bool:
    if not settings.token:
        return True
    return presented is not None and hmac.compare_digest(
        presented.encode("utf-8"), settings.token.encode("utf-8")
    )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _host_ok(settings: WebSettings, request: web.Request) -> bool:
    if not is_loopback(settings.host):
        return True
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return is_loopback(host)


def _origin_ok(request: web.Request) -> bool:
    """No ``Origin``, or this server's origin: scheme, host and port (RFC 6454 4, 6.2)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        return False  # "null", a path, user info: never this server's serialized origin
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    here = request.url
    return (
        scheme == here.scheme
        and host.strip("[]") == (here.host or "").lower()
        and (int(port) if port else DEFAULT_PORTS.get(scheme)) == here.port
    )


def _csrf_ok(request: web.Request) -> bool:
    return request.headers.get(CSRF_HEADER) == CSRF_VALUE and _origin_ok(request)


def security_middleware(settings: WebSettings) -> Middleware:
    """The aiohttp middleware enforcing the rules of this module."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _host_ok(settings, request):
            return _error(421, f"Host {request.host!r} is not served here (loopback only)")
        path = request.path
        if path.startswith(OPEN_PATHS):
            return await handler(request)
        if request.method not in SAFE_METHODS and not _csrf_ok(request):
            return _error(
                403,
                f"writes need the header {CSRF_HEADER}: {CSRF_VALUE} from this origin "
                "(CSRF protection)",
            )
        if path == "/" and settings.token and token_ok(settings, request.query.get("token")):
            return await handler(request)  # the page sets the cookie and redirects
        if not token_ok(settings, _presented_token(request)):
            if path.startswith("/api/"):
                return _error(401, "missing or wrong access token (Authorization: Bearer ...)")
            return web.Response(status=401, text=LOGIN_PAGE, content_type="text/html")
        return await handler(request)

    return middleware


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>aiodicom worklist: sign in</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main><h1>Worklist</h1><form method="get" action="/">
<label for="token">Access token</label> <input id="token" name="token" type="password"
autocomplete="current-password" required> <button type="submit">Open</button></form>
</main></body></html>"""
