"""The HTTP API token from the environment (``AIODICOM_HTTP_TOKEN``), as compose passes it.

A non-loopback ``--http-host`` without any token is refused at start-up (exit 2, the
message names ``http.token`` and the variable); with the variable set the config is
accepted and the API demands that token. An explicit ``http.token``/``--http-token``
wins over the environment. No test binds anything but 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from aiodicom.errors import ConfigError
from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi import QueryLog, WebSettings
from aiodicom.webapi.server import start_http
from aiodicom.webapi.settings import TOKEN_ENV, token_from_environment
from servers.worklist.__main__ import build_config, parse_args
from tests.clients.peers import free_port
from tests.webapi.helpers import make_data

REPO = Path(__file__).resolve().parents[2]


def _worklist(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``aiodicom-worklist`` asked for a non-loopback HTTP bind; refused before binding."""
    make_data(tmp_path, 1)
    args = ["--data", str(tmp_path), "--port", str(free_port()), "--http-host", "0.0.0.0",
            "--http-port", str(free_port()), "--no-watch"]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "servers.worklist", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("value", [None, "", "   "])
def test_non_loopback_http_host_refused_without_token(tmp_path: Path, value: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if value is not None:
        env[TOKEN_ENV] = value
    result = _worklist(tmp_path, env)
    assert result.returncode == 2, result.stderr
    assert "http.token" in result.stderr and TOKEN_ENV in result.stderr
    assert "0.0.0.0" in result.stderr
    assert "--http-host" in result.stderr  # the flag set it, so the flag is named (#14.19)


def test_env_token_accepted_for_non_loopback_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_data(tmp_path, 1)
    args = parse_args(["--data", str(tmp_path), "--http-host", "0.0.0.0"])
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"http\.token"):
        build_config(args)
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    config = build_config(args)
    assert config.http.host == "0.0.0.0" and config.http.enabled


def test_explicit_token_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, " env-token ")
    assert token_from_environment(WebSettings()).token == "env-token"
    assert token_from_environment(WebSettings(token="flag")).token == "flag"
    monkeypatch.delenv(TOKEN_ENV)
    assert token_from_environment(WebSettings()).token is None


async def test_started_api_demands_the_env_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "env-s3cret")
    store = WorklistStore(make_data(tmp_path, 1))
    server = await start_http(store, WebSettings(port=0, default_ae="WLMSCP"), QueryLog())
    url = f"http://127.0.0.1:{server.port}/api/items"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as anonymous:
                assert anonymous.status == 401
            wrong = {"Authorization": "Bearer nope"}
            async with session.get(url, headers=wrong) as refused:
                assert refused.status == 401
            right = {"Authorization": "Bearer env-s3cret"}
            async with session.get(url, headers=right) as allowed:
                assert allowed.status == 200
    finally:
        await server.stop()
