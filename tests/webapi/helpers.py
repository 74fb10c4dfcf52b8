"""Shared helpers of the web API tests: a data folder, an app client, request headers."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi import QueryLog, WebSettings
from aiodicom.webapi.app import create_app
from aiodicom.worklist.sample import SampleOptions, write_folder

WRITE = {"X-Requested-With": "aiodicom"}
TODAY = datetime.date.today()


def today_da() -> str:
    return TODAY.strftime("%Y%m%d")


def make_data(root: Path, count: int = 6) -> Path:
    """``root/WLMSCP`` with ``count`` sample items, all scheduled today."""
    options = SampleOptions(base_date=int(today_da()), days=1, max_steps=1)
    write_folder(root, "WLMSCP", count, seed=3, options=options)
    return root


def flat_item(**overrides: str) -> dict[str, str]:
    body = {
        "patient_name": "Testpatient^Anna",
        "patient_id": "WEB0001",
        "birth_date": "1980-02-29",
        "sex": "F",
        "modality": "CT",
        "station_ae": "CT01",
        "start": f"{TODAY.isoformat()}T09:30",
        "description": "CT HEAD",
    }
    body.update(overrides)
    return body


@asynccontextmanager
async def api_client(
    root: Path, settings: WebSettings | None = None, query_log: QueryLog | None = None
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], WorklistStore]]:
    store = WorklistStore(root)
    app = create_app(store, settings or WebSettings(default_ae="WLMSCP"), query_log)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, store
