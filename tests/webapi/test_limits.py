"""Request body limits: size (413) and JSON nesting depth (400), each naming its limit (#15.4).

Deeply nested JSON used to raise RecursionError in the JSON parser or in the YAML writer
(HTTP 500); the depth is now measured without recursion before anything is parsed.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from aiodicom.webapi.body import MAX_BODY, MAX_DEPTH
from tests.webapi.helpers import WRITE, api_client, flat_item, make_data

SEQUENCE = "00081110"  # Referenced Study Sequence: any SQ attribute nests


def nested_sequences(levels: int) -> str:
    """A DICOM JSON item whose SPS item holds ``levels`` sequences nested in each other."""
    inner = '{"00080060": {"vr": "CS", "Value": ["CT"]}}'
    for _ in range(levels):
        inner = f'{{"{SEQUENCE}": {{"vr": "SQ", "Value": [{inner}]}}}}'
    return (
        '{"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Deep^Nest"}]},'
        ' "00100020": {"vr": "LO", "Value": ["DEEP1"]},'
        f' "00400100": {{"vr": "SQ", "Value": [{inner}]}}}}'
    )


async def _still_serving(client: TestClient) -> None:  # type: ignore[type-arg]
    health = await client.get("/api/health")
    assert health.status == 200
    created = await client.post("/api/items", json=flat_item(), headers=WRITE)
    assert created.status == 201, await created.text()


async def _post(client: TestClient, data: str | bytes) -> tuple[int, dict[str, object]]:  # type: ignore[type-arg]
    headers = {**WRITE, "Content-Type": "application/json"}
    response = await client.post("/api/items", data=data, headers=headers)
    return response.status, await response.json()


async def test_deep_nesting_is_400_naming_the_limit(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        for body in ("[" * 100_000, "{" * 50_000, '{"a":' * 30_000):
            status, answer = await _post(client, body)
            assert status == 400, answer
            assert answer["errors"] == [
                {
                    "field": "body",
                    "rule": f"JSON nested deeper than the limit of {MAX_DEPTH} levels",
                }
            ]
        status, answer = await _post(client, nested_sequences(240))
        assert status == 400, answer
        assert str(MAX_DEPTH) in str(answer["errors"])
        await _still_serving(client)


async def test_nesting_within_the_limit_is_served(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        levels = (MAX_DEPTH - 6) // 3  # 3 levels per sequence, 6 around them
        status, answer = await _post(client, nested_sequences(levels))
        assert status == 201, answer
        steps = answer["dicom"]["00400100"]["Value"]  # type: ignore[index]
        depth = 0
        item = steps[0]
        while SEQUENCE in item:
            item = item[SEQUENCE]["Value"][0]
            depth += 1
        assert depth == levels
        # brackets inside strings do not count
        quoted = flat_item(description="[" * 60, patient_id="{{{{")
        status, answer = await _post(client, json.dumps(quoted))
        assert status == 201, answer


async def test_oversized_body_is_413_naming_the_limit(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        padding = "x" * (MAX_BODY + 1)
        status, answer = await _post(client, f'{{"description": "{padding}"}}')
        assert status == 413
        assert answer == {"error": f"request body larger than the limit of {MAX_BODY} bytes",
                          "limit": MAX_BODY}  # fmt: skip
        await _still_serving(client)
