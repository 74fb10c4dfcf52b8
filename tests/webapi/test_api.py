"""REST API: CRUD, validation errors, 404, ETag / If-Match conflicts, status transitions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from tests.webapi.helpers import WRITE, api_client, flat_item, make_data, today_da


async def test_list_filters_and_paging(tmp_path: Path) -> None:
    make_data(tmp_path, 8)
    async with api_client(tmp_path) as (client, _store):
        response = await client.get("/api/items", params={"date": "today", "limit": "3"})
        assert response.status == 200
        body = await response.json()
        assert body["total"] == 8 and len(body["items"]) == 3
        assert all(item["date"] == today_da() for item in body["items"])
        rest = await (await client.get("/api/items", params={"offset": "3"})).json()
        assert len(rest["items"]) == 5
        ct = await (await client.get("/api/items", params={"modality": "ct"})).json()
        assert ct["total"] == sum(1 for i in body["items"] + rest["items"] if i["modality"] == "CT")
        assert all(item["modality"] == "CT" for item in ct["items"])
        other_day = await (await client.get("/api/items", params={"date": "2001-01-01"})).json()
        assert other_day["total"] == 0
        bad = await client.get("/api/items", params={"date": "yesterday-ish", "limit": "x"})
        assert bad.status == 400
        fields = {error["field"] for error in (await bad.json())["errors"]}
        assert fields == {"date"}  # the first bad parameter is reported


async def test_create_get_update_delete(tmp_path: Path) -> None:
    make_data(tmp_path, 2)
    async with api_client(tmp_path) as (client, _store):
        created = await client.post("/api/items", json=flat_item(id="anna-1"), headers=WRITE)
        assert created.status == 201, await created.text()
        body = await created.json()
        assert created.headers["Location"] == "/api/items/anna-1"
        assert body["flat"]["accession_number"] and body["flat"]["sps_id"]
        assert body["dicom"]["0020000D"]["Value"][0].startswith("1.2.")
        file = tmp_path / "WLMSCP" / "anna-1.yaml"
        document = yaml.safe_load(file.read_text())
        assert document["PatientName"] == "Testpatient^Anna"
        assert document["ScheduledProcedureStepSequence"][0]["Modality"] == "CT"
        listed = await (await client.get("/api/items", params={"patient": "testpatient"})).json()
        assert [item["id"] for item in listed["items"]] == ["anna-1"]

        got = await client.get("/api/items/anna-1")
        etag = got.headers["ETag"]
        accession = (await got.json())["flat"]["accession_number"]
        update = flat_item(description="CT HEAD WITH CONTRAST", station_ae="CT02")
        put = await client.put(
            "/api/items/anna-1", json=update, headers={**WRITE, "If-Match": etag}
        )
        assert put.status == 200, await put.text()
        updated = await put.json()
        assert updated["flat"]["station_ae"] == "CT02"
        assert updated["flat"]["accession_number"] == accession  # kept, not regenerated
        assert updated["etag"] != etag

        stale = await client.delete("/api/items/anna-1", headers={**WRITE, "If-Match": etag})
        assert stale.status == 409
        deleted = await client.delete(
            "/api/items/anna-1", headers={**WRITE, "If-Match": updated["etag"]}
        )
        assert deleted.status == 204 and not file.exists()
        assert (await client.get("/api/items/anna-1")).status == 404


async def test_dicom_json_body(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    dicom = {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]},
        "00100020": {"vr": "LO", "Value": ["JSON1"]},
        "00400100": {"vr": "SQ", "Value": [{
            "00080060": {"vr": "CS", "Value": ["MR"]},
            "00400001": {"vr": "AE", "Value": ["MR01"]},
            "00400002": {"vr": "DA", "Value": [today_da()]},
            "00400003": {"vr": "TM", "Value": ["101500"]},
        }]},
    }  # fmt: skip
    async with api_client(tmp_path) as (client, _store):
        response = await client.post("/api/items", json={"id": "json-1", "dicom": dicom},
                                     headers=WRITE)  # fmt: skip
        assert response.status == 201, await response.text()
        body = await response.json()
        assert body["flat"]["patient_name"] == "Müller^Jürgen"
        assert body["dicom"]["00080005"]["Value"] == ["ISO_IR 192"]
        bare = await client.post("/api/items", json=dicom, headers=WRITE)
        assert bare.status == 201
        wrong_vr = {**dicom, "00100020": {"vr": "DA", "Value": ["X"]}}
        refused = await client.post("/api/items", json=wrong_vr, headers=WRITE)
        assert refused.status == 400
        assert (await refused.json())["errors"][0]["field"] == "PatientID"


async def test_validation_names_each_field(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    body = flat_item(
        patient_id="",
        birth_date="1980-02-30",
        sex="X",
        modality="ct!",
        station_ae="A" * 17,
        start="tomorrow at nine",
        colour="blue",
    )
    async with api_client(tmp_path) as (client, _store):
        response = await client.post("/api/items", json=body, headers=WRITE)
        assert response.status == 400
        errors = {e["field"]: e["rule"] for e in (await response.json())["errors"]}
        assert set(errors) >= {"patient_id", "birth_date", "sex", "start", "colour"}
        # VR rules apply once the structure is right: CS repertoire and AE length
        vr_body = flat_item(modality="ct!", station_ae="A" * 17, accession_number="X" * 17)
        vr = await client.post("/api/items", json=vr_body, headers=WRITE)
        vr_errors = {e["field"]: e["rule"] for e in (await vr.json())["errors"]}
        assert "CS" in vr_errors["modality"]
        assert "16" in vr_errors["station_ae"] and "16" in vr_errors["accession_number"]
        not_json = await client.post("/api/items", data=b"{oops", headers=WRITE)
        assert not_json.status == 400
        assert not list((tmp_path / "WLMSCP").glob("*.yaml"))


async def test_status_transitions(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        await client.post("/api/items", json=flat_item(id="st-1"), headers=WRITE)

        async def move(status: str) -> int:
            etag = (await client.get("/api/items/st-1")).headers["ETag"]
            response = await client.post("/api/items/st-1/status", json={"status": status},
                                         headers={**WRITE, "If-Match": etag})  # fmt: skip
            return response.status

        assert await move("ARRIVED") == 200
        assert await move("SCHEDULED") == 409  # backwards
        assert await move("COMPLETED") == 409  # needs STARTED
        assert await move("STARTED") == 200
        assert await move("COMPLETED") == 200
        assert await move("DISCONTINUED") == 409  # final
        assert await move("PAUSED") == 400
        item = await (await client.get("/api/items/st-1")).json()
        assert item["status"] == "COMPLETED"
        no_match = await client.post("/api/items/st-1/status", json={"status": "STARTED"},
                                     headers=WRITE)  # fmt: skip
        assert no_match.status == 428


async def test_concurrent_writers_one_wins(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        await client.post("/api/items", json=flat_item(id="race"), headers=WRITE)
        etag = (await client.get("/api/items/race")).headers["ETag"]
        headers = {**WRITE, "If-Match": etag}
        results = await asyncio.gather(*(
            client.put("/api/items/race", json=flat_item(description=f"V{n}"), headers=headers)
            for n in range(5)
        ))  # fmt: skip
        statuses = sorted(r.status for r in results)
        assert statuses == [200, 409, 409, 409, 409]


async def test_hand_written_file_and_404s(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, store):
        (tmp_path / "WLMSCP" / "by-hand.yaml").write_text(
            "PatientName: Hand^Written\nPatientID: HAND1\nScheduledProcedureStepSequence:\n"
            f"  - Modality: US\n    ScheduledProcedureStepStartDate: '{today_da()}'\n"
        )
        await store.reload_async()  # what the watcher does in the server
        listed = await (await client.get("/api/items", params={"patient": "HAND1"})).json()
        assert [item["id"] for item in listed["items"]] == ["by-hand"]
        item = await (await client.get("/api/items/by-hand")).json()
        assert item["flat"]["modality"] == "US" and item["status"] == "SCHEDULED"
        for bad in ("..%2F..%2Fetc%2Fpasswd", "a.b", "x" * 65, "%2e%2e"):
            response = await client.get(f"/api/items/{bad}")
            assert response.status == 404, bad
        assert (await client.get("/api/items/nothing-here")).status == 404


async def test_queries_and_openapi(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        assert (await (await client.get("/api/queries")).json()) == {"queries": []}
        spec = await client.get("/api/openapi.yaml")
        assert spec.status == 200
        document = yaml.safe_load(await spec.text())
        served_paths = {
            resource.canonical.replace("{id}", "{id}")
            for resource in client.app.router.resources()
            if resource.canonical.startswith("/api/")
        }
        assert served_paths == set(document["paths"])
        health = await (await client.get("/api/health")).json()
        assert health["status"] == "ok" and health["items"] == 1
