"""The whole worklist process for end-to-end tests: MWL SCP + HTTP API in one event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiodicom.net.server import ServerConfig, serve
from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi import QueryLog, WebSettings, logged_handlers
from aiodicom.webapi.server import start_http
from aiodicom.worklist.service import WorklistService


@dataclass(slots=True)
class Stack:
    dicom_port: int
    http_port: int
    store: WorklistStore
    query_log: QueryLog

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@asynccontextmanager
async def worklist_stack(root: Path) -> AsyncIterator[Stack]:
    """Serve ``root`` over DICOM and HTTP (both on free loopback ports), watching files."""
    store = WorklistStore(root)
    service = WorklistService(store)
    query_log = QueryLog(50)
    config = ServerConfig(ae_title="WLMSCP", accept_called_ae=store.has_ae)
    handlers = logged_handlers(service, query_log)
    async with serve(config, handlers, "127.0.0.1", 0, shutdown_deadline=2.0) as server:
        store.start_watching(poll_interval=0.2)
        http = await start_http(store, WebSettings(port=0, default_ae="WLMSCP"), query_log)
        try:
            yield Stack(server.port, http.port, store, query_log)
        finally:
            await http.stop()
            await store.stop_watching()
