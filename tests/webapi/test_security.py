"""Security: token on non-loopback binds, CSRF header on writes, Host check, path-like ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiodicom.errors import ConfigError
from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi import QueryLog, WebSettings, check_bind
from aiodicom.webapi.server import start_http
from tests.webapi.helpers import WRITE, api_client, flat_item, make_data


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_non_loopback_bind_needs_token(host: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_bind(WebSettings(host=host), "worklist.yaml")
    assert raised.value.key == "http.host" and "worklist.yaml" in str(raised.value)
    assert "http.token" in str(raised.value)
    check_bind(WebSettings(host=host, token="s3cret"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_bind_needs_no_token(host: str) -> None:
    check_bind(WebSettings(host=host))


async def test_start_http_refuses_open_bind(tmp_path: Path) -> None:
    store = WorklistStore(make_data(tmp_path, 1))
    with pytest.raises(ConfigError, match=r"http\.token"):
        await start_http(store, WebSettings(host="0.0.0.0", port=0), QueryLog())


async def test_writes_need_csrf_header(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        plain = await client.post("/api/items", json=flat_item(id="x1"))
        assert plain.status == 403
        form = await client.post("/api/items", data={"patient_id": "P"})
        assert form.status == 403
        foreign = await client.post(
            "/api/items", json=flat_item(id="x1"),
            headers={**WRITE, "Origin": "http://evil.example"},
        )  # fmt: skip
        assert foreign.status == 403
        assert not (tmp_path / "WLMSCP" / "x1.yaml").exists()
        same_origin = f"http://{client.host}:{client.port}"
        ok = await client.post("/api/items", json=flat_item(id="x1"),
                               headers={**WRITE, "Origin": same_origin})  # fmt: skip
        assert ok.status == 201
        etag = ok.headers["ETag"]
        no_csrf = await client.delete("/api/items/x1", headers={"If-Match": etag})
        assert no_csrf.status == 403 and (tmp_path / "WLMSCP" / "x1.yaml").exists()


async def test_token_required_when_configured(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    settings = WebSettings(token="s3cret", default_ae="WLMSCP")
    async with api_client(tmp_path, settings) as (client, _store):
        assert (await client.get("/api/items")).status == 401
        assert (await client.get("/api/items", headers={"X-Aiodicom-Token": "nope"})).status == 401
        bearer = {"Authorization": "Bearer s3cret"}
        assert (await client.get("/api/items", headers=bearer)).status == 200
        assert (await client.get("/api/health")).status == 200
        assert (await client.get("/")).status == 401
        # the page login sets an HttpOnly cookie, which then authorizes the page and API
        login = await client.get("/", params={"token": "s3cret"}, allow_redirects=False)
        assert login.status == 303 and "HttpOnly" in login.headers["Set-Cookie"]
        assert (await client.get("/")).status == 200
        assert (await client.get("/api/queries")).status == 200
        created = await client.post("/api/items", json=flat_item(id="tok"), headers=WRITE)
        assert created.status == 201


async def test_host_header_checked_on_loopback(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        rebound = await client.get("/api/items", headers={"Host": "attacker.example:8080"})
        assert rebound.status == 421
        assert (await client.get("/api/items", headers={"Host": "localhost:8080"})).status == 200


@pytest.mark.parametrize(
    "item_id", ["..", "..%2F..%2Fconfig", "%2e%2e%2fx", "a%00b", "WLMSCP%2Fitem_000000", "a b"]
)
async def test_path_like_ids_refused(tmp_path: Path, item_id: str) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        got = await client.get(f"/api/items/{item_id}")
        assert got.status in {400, 404}
        deleted = await client.delete(f"/api/items/{item_id}", headers={**WRITE, "If-Match": "*"})
        assert deleted.status in {400, 404}
        created = await client.post("/api/items", json=flat_item(id="../evil"), headers=WRITE)
        assert created.status == 400
    assert _names(tmp_path) == ["WLMSCP"]
    assert len(_names(tmp_path / "WLMSCP")) == 2  # item + lockfile untouched


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_origin_compared_with_scheme_host_and_port(tmp_path: Path) -> None:
    """RFC 6454 4: an origin is scheme, host and port; all three must be this server's."""
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        port = client.port
        assert port is not None
        here = f"{client.host}:{port}"
        for origin in (f"https://{here}", f"ws://{here}", f"http://{client.host}",
                       f"http://{client.host}:{port + 1}", f"http://{here}.evil.example",
                       f"http://{here}/", "null", "http://"):  # fmt: skip
            refused = await client.post("/api/items", json=flat_item(id="o1"),
                                        headers={**WRITE, "Origin": origin})  # fmt: skip
            assert refused.status == 403, origin
        assert not (tmp_path / "WLMSCP" / "o1.yaml").exists()
        for n, origin in enumerate((f"http://{here}", f"HTTP://{here.upper()}")):
            ok = await client.post("/api/items", json=flat_item(id=f"o{n}"),
                                   headers={**WRITE, "Origin": origin})  # fmt: skip
            assert ok.status == 201, origin
