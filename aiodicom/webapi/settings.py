"""Settings of the worklist management HTTP API and its bind policy (no aiohttp import).

The API listens on a loopback address by default; bound anywhere else it must have an
access token, or the server refuses to start (ConfigError naming ``http.token``).
The token is ``http.token`` / ``--http-token`` or, when neither is set, the environment
variable ``AIODICOM_HTTP_TOKEN`` (how docker-compose.yml passes it: kept out of the
config file and the process command line).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass

from aiodicom.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
TOKEN_ENV = "AIODICOM_HTTP_TOKEN"


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Where the API listens and who may use it (the ``http:`` config section)."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    default_ae: str = "WLMSCP"
    query_log_size: int = 200


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and 127.0.0.0/8 / ::1 literals."""
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_from_environment(settings: WebSettings) -> WebSettings:
    """``settings`` with the token of ``$AIODICOM_HTTP_TOKEN`` when none is configured.

    A configured token (``http.token`` or ``--http-token``) wins; a blank variable
    counts as unset.
    """
    if (settings.token or "").strip():
        return settings
    value = os.environ.get(TOKEN_ENV, "").strip()
    return dataclasses.replace(settings, token=value) if value else settings


def check_bind(settings: WebSettings, file: str | None = None) -> None:
    """Refuse a non-loopback bind without a token (ConfigError naming ``http.host``, the
    setting that asks for the token, so that ``--http-host`` is named when it set it)."""
    token = token_from_environment(settings).token
    if not is_loopback(settings.host) and not (token or "").strip():
        raise ConfigError(
            file,
            "http.host",
            "a loopback address, or an access token (http.token, --http-token or "
            f"${TOKEN_ENV}) to serve the API on another address",
            settings.host,
        )
