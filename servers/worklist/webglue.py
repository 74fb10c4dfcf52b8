"""Glue between ``aiodicom-worklist`` and the worklist management HTTP API.

Kept out of ``__main__`` so the server module only gains a few clearly marked calls:
command-line flags for the ``http:`` config section, the C-FIND query log around the
service's handlers, and starting/stopping the API in the server's event loop.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from aiodicom.config import WorklistServerConfig
from aiodicom.errors import ListenError
from aiodicom.matching import MatchOptions
from aiodicom.net import FindHandler
from aiodicom.store import MppsStore, WorklistStore
from aiodicom.webapi import QueryLog, WebSettings, logged_handlers
from aiodicom.worklist import WorklistService

if TYPE_CHECKING:  # aiohttp is imported only when the API is on (~0.1 s of start-up)
    from aiodicom.webapi import HttpServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("worklist management HTTP API")
    group.add_argument("--http-host", help="address of the HTTP API (default 127.0.0.1)")
    group.add_argument("--http-port", type=int, help="port of the HTTP API (default 8080)")
    group.add_argument("--http-token", help="access token (required off loopback)")
    group.add_argument("--no-http", action="store_true", help="do not serve the HTTP API")


def apply_arguments(config: WorklistServerConfig, args: argparse.Namespace) -> WorklistServerConfig:
    """Flags on top of the ``http:`` section (validated later with the whole config)."""
    changes = {
        key: value
        for key, value in (
            ("host", args.http_host),
            ("port", args.http_port),
            ("token", args.http_token),
        )
        if value is not None
    }
    if args.no_http:
        changes["enabled"] = False
    return dataclasses.replace(config, http=dataclasses.replace(config.http, **changes))


def handlers(
    config: WorklistServerConfig, service: WorklistService
) -> tuple[QueryLog, dict[str, FindHandler]]:
    """The service's handlers, recording every C-FIND in a query log for ``/api/queries``."""
    query_log = QueryLog(config.http.query_log_size)
    return query_log, logged_handlers(service, query_log)


async def start(
    config: WorklistServerConfig,
    store: WorklistStore,
    query_log: QueryLog,
    mpps: MppsStore | None = None,
) -> HttpServer | None:
    """Start the API when enabled (ConfigError naming ``http.token`` if unsafe)."""
    http = config.http
    if not http.enabled:
        return None
    from aiodicom.webapi import start_http  # imported here: see TYPE_CHECKING above

    settings = WebSettings(
        host=http.host,
        port=http.port,
        token=http.token,
        default_ae=config.server.ae_title,
        query_log_size=http.query_log_size,
    )
    matching = MatchOptions(
        pn_case_sensitive=config.matching.pn_case_sensitive, fuzzy_pn=config.matching.fuzzy_pn
    )
    try:
        return await start_http(
            store, settings, query_log, matching, config_file=config.source, mpps=mpps
        )
    except OSError as exc:  # the port is taken, privileged, or the address is not ours
        setting = "HTTP API port: --http-port or http.port"
        raise ListenError(setting, http.host, http.port, exc) from None
