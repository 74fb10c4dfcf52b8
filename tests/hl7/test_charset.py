"""MSH-18 character sets become the item's Specific Character Set (0008,0005), and a
modality's C-FIND gets the names back as they were sent."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydicom import Dataset

import aiodicom
from aiodicom.hl7 import CHARSETS
from aiodicom.hl7.message import text_at
from tests.hl7.feed import err, msa, order_feed
from tests.hl7.messages import orm
from tests.interop.worklist_peers import our_scp


async def _names_by_c_find(root: Path, patient_id: str) -> list[tuple[str, str]]:
    query = Dataset()
    query.PatientID = patient_id
    query.PatientName = ""
    query.SpecificCharacterSet = ""
    async with (
        our_scp(root) as server,
        aiodicom.connect("127.0.0.1", server.port, called_ae="WLMSCP") as assoc,
    ):
        found = [ds async for ds in assoc.find(query, model="worklist")]
    return [(str(ds.get("SpecificCharacterSet", "")), str(ds.PatientName)) for ds in found]


@pytest.mark.parametrize(
    ("msh18", "encoding", "name", "dicom"),
    [
        ("", "ascii", "Doe^John", ""),
        ("ASCII", "ascii", "Doe^John", ""),
        ("8859/1", "latin-1", "Müller^Zoë", "ISO_IR 100"),
        ("UNICODE UTF-8", "utf-8", "Łukasiewicz^Jan=山田^太郎", "ISO_IR 192"),
    ],
)
async def test_charset_becomes_specific_character_set(
    tmp_path: Path, msh18: str, encoding: str, name: str, dicom: str
) -> None:
    assert CHARSETS[msh18][1] == dicom
    async with order_feed(tmp_path) as feed:
        ack = await feed.send(orm(charset=msh18, name=name).encode(encoding))
        assert msa(ack) == "AA", str(ack)
        assert text_at(ack.segment("MSH"), 18) == msh18  # the ACK names its character set
        (text,) = feed.items().values()
    item = yaml.safe_load(text)
    assert item.get("SpecificCharacterSet", "") == dicom
    assert item["PatientName"] == name
    answers = await _names_by_c_find(tmp_path, "PAT1001")
    assert answers == [(dicom, name)]


@pytest.mark.parametrize(
    ("msh18", "data"),
    [("ASCII", "Müller".encode("latin-1")), ("UNICODE UTF-8", "Müller".encode("latin-1"))],
)
async def test_bytes_outside_the_declared_set_are_rejected(
    tmp_path: Path, msh18: str, data: bytes
) -> None:
    message = orm(charset=msh18, name="NAME").encode("ascii").replace(b"NAME", data)
    async with order_feed(tmp_path) as feed:
        ack = await feed.send(message, encoding="latin-1")
        assert (msa(ack), *err(ack)[:2]) == ("AR", "MSH^1^18", "102")
        assert feed.items() == {}
