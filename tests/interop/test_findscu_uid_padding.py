"""Odd-length UIDs from DCMTK dcmqrscp arrive NUL-padded; the client must strip the pad.

PS3.5 6.2 (VR UI): a UID value of odd length is padded with a single trailing NUL (00H)
to an even length. dcmqrscp does exactly that; the async API and aiodicom-findscu must
return the UID as it was stored, without the NUL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset

import aiodicom
from tests.clients.peers import QR_AE, Peer, dcmqrscp, findscu_json, qr_image

pytestmark = pytest.mark.interop

PATIENTS = STUDIES = 2


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with dcmqrscp(tmp_path_factory.mktemp("qr-padding"), PATIENTS, STUDIES) as running:
        yield running


def stored_study_uids(patient: int) -> set[str]:
    """The Study Instance UIDs the fixture indexed for ``patient`` (all of odd length)."""
    uids = {qr_image(patient, study, 0, 0).StudyInstanceUID for study in range(STUDIES)}
    assert all(len(uid) % 2 == 1 for uid in uids)
    return uids


def stored_series_uids(patient: int, study: int) -> set[str]:
    return {qr_image(patient, study, series, 0).SeriesInstanceUID for series in range(2)}


async def test_async_api_strips_the_nul_pad(peer: Peer) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "QRP1"
    query.StudyInstanceUID = ""
    async with aiodicom.connect("127.0.0.1", peer.port, called_ae=QR_AE) as assoc:
        results = [r async for r in assoc.find_responses(query, "study")]
    pending = [r for r in results if not r.is_final]
    assert results[-1].status == 0x0000
    uids = set()
    for result in pending:
        assert result.raw is not None and result.identifier is not None
        uid = result.identifier.StudyInstanceUID
        assert uid.encode() + b"\x00" in result.raw  # the pad really is on the wire
        assert "\x00" not in uid
        uids.add(str(uid))
    assert uids == stored_study_uids(1)
    assert len(pending) == len(uids)


async def test_async_api_series_level_uids_equal_stored(peer: Peer) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = qr_image(0, 1, 0, 0).StudyInstanceUID
    query.SeriesInstanceUID = ""
    async with aiodicom.connect("127.0.0.1", peer.port, called_ae=QR_AE) as assoc:
        stream = assoc.find(query, model="study")
        found = [ds async for ds in stream]
    assert stream.status == 0x0000
    assert {ds.SeriesInstanceUID for ds in found} == stored_series_uids(0, 1)
    assert {ds.StudyInstanceUID for ds in found} == {query.StudyInstanceUID}


def test_console_script_json_has_no_nul(peer: Peer) -> None:
    keys = ["QueryRetrieveLevel=STUDY", "PatientID=QRP0", "StudyInstanceUID="]
    rows = findscu_json(["-S", "-aec", QR_AE], keys, peer.port)
    uids = [row["0020000D"]["Value"][0] for row in rows]
    assert sorted(uids) == sorted(stored_study_uids(0))
