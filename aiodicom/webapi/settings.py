"""Settings of the worklist management HTTP API and its bind policy (no aiohttp import).

The API listens on a loopback address by default; bound anywhere else it must have an
access token, or the server refuses to start (ConfigError naming ``http.token``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiodicom.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


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


def check_bind(settings: WebSettings, file: str | None = None) -> None:
    """Refuse a non-loopback bind without a token (ConfigError naming ``http.token``)."""
    if not is_loopback(settings.host) and not (settings.token or "").strip():
        raise ConfigError(
            file,
            "http.token",
            f"an access token: required when http.host ({settings.host}) is not a loopback address",
        )
