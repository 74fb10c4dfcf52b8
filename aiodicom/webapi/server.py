"""Run the HTTP API in the event loop of the DICOM server (one process, one loop)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from aiodicom.matching import MatchOptions
from aiodicom.store.mpps import MppsStore
from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi.app import create_app
from aiodicom.webapi.querylog import QueryLog
from aiodicom.webapi.settings import WebSettings, check_bind, token_from_environment


@dataclass(slots=True)
class HttpServer:
    """A started API: its runner and the bound port (``port=0`` picks a free one)."""

    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_http(
    store: WorklistStore,
    settings: WebSettings,
    query_log: QueryLog,
    matching: MatchOptions | None = None,
    *,
    config_file: str | None = None,
    mpps: MppsStore | None = None,
) -> HttpServer:
    """Check the bind policy (ConfigError naming ``http.token``), then listen.

    Without a configured token, ``$AIODICOM_HTTP_TOKEN`` is the token (see settings).
    """
    settings = token_from_environment(settings)
    check_bind(settings, config_file)
    app = create_app(store, settings, query_log, matching, mpps)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    server = site._server  # aiohttp keeps the asyncio server here; no public accessor
    sockets = getattr(server, "sockets", None) or ()
    port = int(sockets[0].getsockname()[1]) if sockets else settings.port
    return HttpServer(runner, port)
