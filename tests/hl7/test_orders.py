"""Each order control (NW, XO, CA, DC) and each ACK error, over MLLP to a live listener."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from pydicom import Dataset

from aiodicom.hl7 import ListenerSettings
from aiodicom.store import ItemFiles
from aiodicom.store.worklist_rules import set_status
from tests.hl7.feed import err, msa, order_feed
from tests.hl7.messages import omi, orm, today_dtm


def _only(items: dict[str, str]) -> dict[str, object]:
    assert len(items) == 1, items
    document = yaml.safe_load(next(iter(items.values())))
    assert isinstance(document, dict)
    return document


async def test_nw_maps_the_ihe_fields(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        ack = await feed.send(orm())
        assert msa(ack) == "AA"
        assert str(ack.segment("MSA")(2)) == str(ack.segment("MSA")(2))  # echoes MSH-10
        item = _only(feed.items())
        assert feed.store.snapshot.item_count == 1  # reloaded before the ACK
    assert item["PatientName"] == "Doe^Jane^Q"
    assert item["PatientID"] == "PAT1001" and item["IssuerOfPatientID"] == "HOSP"
    assert item["PatientBirthDate"] == "19700101" and item["PatientSex"] == "F"
    assert item["ReferringPhysicianName"] == "Referrer^Rita"  # PV1-8 (XCN)
    assert item["AdmissionID"] == "V555"  # PV1-19
    assert item["AccessionNumber"] == "ACC1001"  # OBR-18
    assert item["RequestedProcedureID"] == "RP1001"  # OBR-19
    assert item["StudyInstanceUID"] == "1.2.826.0.1.3680043.10.1234.1"  # ZDS-1
    assert item["PlacerOrderNumberImagingServiceRequest"] == "PL1001"  # ORC-2
    assert item["FillerOrderNumberImagingServiceRequest"] == "FL1001"  # ORC-3
    assert item["RequestingPhysician"] == "Orderer^Otto"  # OBR-16
    assert item["RequestedProcedurePriority"] == "ROUTINE"  # ORC-7.6 R
    assert "SpecificCharacterSet" not in item  # MSH-18 empty: ASCII, the default
    step = item["ScheduledProcedureStepSequence"][0]  # type: ignore[index]
    assert step["Modality"] == "CT"  # OBR-24
    assert step["ScheduledProcedureStepID"] == "SPS1001"  # OBR-20
    assert step["ScheduledProcedureStepStartDate"] == today_dtm()[:8]  # ORC-7.4
    assert step["ScheduledProcedureStepStartTime"] == "093000"
    assert step["ScheduledProcedureStepStatus"] == "SCHEDULED"
    assert step["ScheduledProtocolCodeSequence"] == [
        {"CodeValue": "PR1", "CodingSchemeDesignator": "LOCAL", "CodeMeaning": "CT head protocol"}
    ]  # OBR-4.4-6


async def test_omi_one_item_per_ipc_step(tmp_path: Path) -> None:
    steps = (("SPS-A", "MR", "MR01"), ("SPS-B", "CT", "CT01"))
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(omi(steps=steps))) == "AA"
        documents = [yaml.safe_load(text) for text in feed.items().values()]
    by_step = {
        d["ScheduledProcedureStepSequence"][0]["ScheduledProcedureStepID"]: d for d in documents
    }
    assert set(by_step) == {"SPS-A", "SPS-B"}
    ct = by_step["SPS-B"]
    assert ct["AccessionNumber"] == "ACC2001" and ct["RequestedProcedureID"] == "RP2001"  # IPC-1/2
    assert ct["StudyInstanceUID"] == "1.2.826.0.1.3680043.10.1234.2"  # IPC-3
    assert ct["RequestedProcedurePriority"] == "STAT"  # TQ1-9 S
    assert ct["RequestingPhysician"] == "Orderer^Olga"  # ORC-12
    step = ct["ScheduledProcedureStepSequence"][0]
    assert step["Modality"] == "CT" and step["ScheduledStationAETitle"] == "CT01"  # IPC-5/9
    assert (
        step["ScheduledStationName"] == "CT01NAME"
        and step["ScheduledProcedureStepLocation"] == "ROOM1"
    )
    assert step["ScheduledProcedureStepStartTime"] == "110000"  # TQ1-7


async def test_xo_changes_the_item_in_place(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(orm())) == "AA"
        (item_id,) = feed.items()
        # found by the accession number alone: other identifiers changed or absent
        change = orm("XO", placer="", filler="", name="Doe^Janet", modality="MR")
        assert msa(await feed.send(change)) == "AA"
        assert list(feed.items()) == [item_id]
        item = _only(feed.items())
    assert item["PatientName"] == "Doe^Janet"
    assert item["ScheduledProcedureStepSequence"][0]["Modality"] == "MR"  # type: ignore[index]


async def test_ca_removes_the_order(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(omi(steps=(("S1", "MR", "MR01"), ("S2", "MR", "MR01"))))) == "AA"
        assert len(feed.items()) == 2
        cancel = omi("CA", placer="", filler="", accession="", procedure_id="RP2001")
        assert msa(await feed.send(cancel)) == "AA"  # found by requested procedure ID
        assert feed.items() == {}
        assert feed.store.snapshot.item_count == 0


async def test_dc_discontinues_and_is_final(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(orm())) == "AA"
        assert msa(await feed.send(orm("DC", accession="", procedure_id=""))) == "AA"
        step = _only(feed.items())["ScheduledProcedureStepSequence"][0]  # type: ignore[index]
        assert step["ScheduledProcedureStepStatus"] == "DISCONTINUED"
        again = await feed.send(orm("DC"))
        assert msa(again) == "AE" and err(again)[:2] == ("ORC^1^1", "206")
        refused = await feed.send(orm("CA"))
        assert msa(refused) == "AE" and "DISCONTINUED" in err(refused)[2]


async def test_errors_name_segment_field_and_code(tmp_path: Path) -> None:
    cases = [
        (orm(pid3=""), "AE", "PID^1^3", "101"),
        (orm("ZZ"), "AE", "ORC^1^1", "103"),
        (orm(birth="19701341"), "AE", "PID^1^7", "102"),
        (orm(start="2026-12-06"), "AE", "ORC^1^7", "102"),
        (orm(sex="X"), "AE", "PID^1^8", "103"),
        (orm(priority="Q"), "AE", "ORC^1^7", "103"),
        (orm(accession="A" * 17), "AE", "OBR^1^18", "102"),  # SH: 16 characters at most
        (orm(study_uid="1.2.x"), "AE", "ZDS^1^1", "102"),
        (orm("XO", placer="NOPE", filler="NOPE", accession="NOPE", procedure_id="NOPE"),
         "AE", "ORC^1^2", "204"),
        (orm().replace("ORM^O01", "ADT^A01"), "AR", "MSH^1^9", "200"),
        (orm().replace("ORM^O01", "ORM^O02"), "AR", "MSH^1^9", "201"),
        (orm(charset="EBCDIC"), "AR", "MSH^1^18", "103"),
        (orm().replace("^~\\&", "^~AB", 1), "AR", "MSH^1^2", "102"),  # letters as delimiters
        (orm().replace("|2.3.1", "|2.3.1").split("\rORC")[0], "AE", "ORC^1^", "100"),
        ("PID|1||X", "AR", "MSH^1^", "100"),
    ]  # fmt: skip
    async with order_feed(tmp_path) as feed:
        for message, code, where, number in cases:
            ack = await feed.send(message)
            assert (msa(ack), *err(ack)[:2]) == (code, where, number), (message, str(ack))
        assert feed.items() == {}  # nothing written by a refused message


async def test_duplicate_nw_is_refused(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(orm())) == "AA"
        ack = await feed.send(orm())
        assert msa(ack) == "AE" and err(ack)[1] == "205"
        assert len(feed.items()) == 1


async def test_stations_route_orders_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    routes = {"MR01": "MRSCP", "CT01": "WLMSCP"}
    async with order_feed(tmp_path, titles=("WLMSCP", "MRSCP"), stations=routes) as feed:
        assert msa(await feed.send(omi(steps=(("S1", "MR", "MR01"),)))) == "AA"
        assert len(feed.items("MRSCP")) == 1 and feed.items("WLMSCP") == {}
        unknown = omi(placer="P9", filler="F9", accession="A9", procedure_id="R9",
                      steps=(("S9", "US", "US07"),))  # fmt: skip
        ack = await feed.send(unknown)
        assert (msa(ack), *err(ack)[:2]) == ("AE", "IPC^1^9", "103")
        assert "US07" in err(ack)[2]
        # an XO that moves the step to another station moves the item's folder
        moved = omi("XO", steps=(("S1", "CT", "CT01"),))
        assert msa(await feed.send(moved)) == "AA"
        assert feed.items("MRSCP") == {} and len(feed.items("WLMSCP")) == 1


async def test_site_mapping_override(tmp_path: Path) -> None:
    mapping = {"AccessionNumber": "OBR-2", "AdmissionID": ""}
    async with order_feed(tmp_path, mapping=mapping) as feed:
        assert msa(await feed.send(orm())) == "AA"
        item = _only(feed.items())
    assert item["AccessionNumber"] == "PL1001" and "AdmissionID" not in item


async def test_refused_senders_get_no_answer(tmp_path: Path) -> None:
    settings = ListenerSettings(port=0, allowed_senders=("10.9.9.0/24",))
    async with order_feed(tmp_path, settings=settings) as feed:
        try:
            ack = await feed.send(orm())
        except (ConnectionError, EOFError, OSError) as exc:
            assert exc is not None
        else:
            raise AssertionError(f"answered: {ack}")
        assert feed.items() == {}


async def test_started_step_is_changed_or_discontinued_not_cancelled(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(orm())) == "AA"
        (item_id,) = feed.items()
        files = ItemFiles(tmp_path, "WLMSCP")  # as the REST API's status change does

        def started(ds: Dataset) -> Dataset:
            set_status(ds, "STARTED")
            return ds

        await files.update(item_id, "*", started)
        await feed.store.reload_async()
        refused = await feed.send(orm("CA"))
        assert (msa(refused), *err(refused)[:2]) == ("AE", "ORC^1^1", "206")
        assert "use DC" in err(refused)[2]
        assert msa(await feed.send(orm("XO", modality="MR"))) == "AA"
        step = _only(feed.items())["ScheduledProcedureStepSequence"][0]  # type: ignore[index]
        assert (step["Modality"], step["ScheduledProcedureStepStatus"]) == ("MR", "STARTED")
        assert msa(await feed.send(orm("DC"))) == "AA"


async def test_idle_and_surplus_connections_are_closed(tmp_path: Path) -> None:
    settings = ListenerSettings(port=0, idle_timeout=3.0, max_connections=1)
    async with order_feed(tmp_path, settings=settings) as feed:
        opened = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", feed.port)
        await asyncio.sleep(0.05)  # the first connection is being served
        surplus_reader, surplus = await asyncio.open_connection("127.0.0.1", feed.port)
        assert await asyncio.wait_for(surplus_reader.read(), 5) == b""  # closed unanswered
        assert time.perf_counter() - opened < 2.0  # at once, not by the idle timer
        surplus.close()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # idle: closed by the server
        assert time.perf_counter() - opened >= 2.9
        writer.close()
        assert msa(await feed.send(orm())) == "AA"  # the slot is free again


async def test_a_refused_order_group_leaves_the_whole_message_unwritten(tmp_path: Path) -> None:
    async with order_feed(tmp_path) as feed:
        assert msa(await feed.send(orm())) == "AA"
        assert msa(await feed.send(orm("DC"))) == "AA"
        (item_id,) = feed.items()
        new_order = orm(placer="N1", filler="N1", accession="N1", procedure_id="N1")
        cancel_old = orm("CA").split("\r")[3:]  # its ORC, OBR and ZDS
        ack = await feed.send("\r".join([new_order, *cancel_old]))
        assert (msa(ack), *err(ack)[:2]) == ("AE", "ORC^1^1", "206")
        assert list(feed.items()) == [item_id]  # the NW of the first group was not written
