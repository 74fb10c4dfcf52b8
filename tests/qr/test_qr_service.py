"""The Q/R C-FIND handler: levels, hierarchical/relational rules, limits, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from pydicom.dataset import Dataset

from aiodicom.errors import QueryError
from aiodicom.qr.service import QROptions, QRService
from aiodicom.store import QRStore, open_qr_store
from aiodicom.store.qr_index import QRIndex
from aiodicom.store.qr_store import QueryPlan, RowCursor
from tests.qr.helpers import (
    PATIENT_ROOT,
    PATIENT_STUDY,
    STUDY_ROOT,
    as_dataset,
    make_folder,
    query,
    request,
)

PID = "PID000001"


@pytest.fixture
async def store(tmp_path: Path, qr_index: str | Path) -> AsyncIterator[QRStore]:
    db = open_qr_store(qr_index)
    await QRIndex(make_folder(tmp_path), db).scan()
    yield db
    db.close()


async def collect(
    service: QRService, ds: Dataset, sop: str, ext: bytes | None = None
) -> list[Dataset]:
    return [as_dataset(item) async for item in service.find(request(ds, sop, ext))]


async def refused(service: QRService, ds: Dataset, sop: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        await collect(service, ds, sop)
    return info.value


async def test_patient_level_with_computed_counts(store: QRStore) -> None:
    service = QRService(store)
    ds = query(
        "PATIENT",
        PatientID="",
        PatientName="",
        NumberOfPatientRelatedStudies="",
        NumberOfPatientRelatedSeries="",
        NumberOfPatientRelatedInstances="",
    )
    found = await collect(service, ds, PATIENT_ROOT)
    assert len(found) == 4
    for item in found:
        assert item.QueryRetrieveLevel == "PATIENT"
        assert (
            item.NumberOfPatientRelatedStudies,
            item.NumberOfPatientRelatedSeries,
            item.NumberOfPatientRelatedInstances,
        ) == (2, 4, 8)


async def test_patient_root_levels_need_unique_keys_above(store: QRStore) -> None:
    service = QRService(store)
    studies = await collect(
        service, query("STUDY", PatientID=PID, StudyInstanceUID=""), PATIENT_ROOT
    )
    assert len(studies) == 2 and all(s.PatientID == PID for s in studies)
    error = await refused(service, query("STUDY", StudyInstanceUID=""), PATIENT_ROOT)
    assert error.status == 0xC001 and "PATIENT unique key" in (error.comment or "")
    study_uid = studies[0].StudyInstanceUID
    series = await collect(
        service,
        query(
            "SERIES",
            PatientID=PID,
            StudyInstanceUID=study_uid,
            SeriesInstanceUID="",
            NumberOfSeriesRelatedInstances="",
        ),
        PATIENT_ROOT,
    )
    assert len(series) == 2 and {s.NumberOfSeriesRelatedInstances for s in series} == {2}
    error = await refused(
        service, query("SERIES", PatientID=PID, SeriesInstanceUID=""), PATIENT_ROOT
    )
    assert error.status == 0xC001 and "STUDY unique key" in (error.comment or "")
    images = await collect(
        service,
        query(
            "IMAGE",
            PatientID=PID,
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series[0].SeriesInstanceUID,
            SOPInstanceUID="",
            InstanceNumber="",
        ),
        PATIENT_ROOT,
    )
    assert sorted(int(i.InstanceNumber) for i in images) == [1, 2]


async def test_study_root_has_patient_keys_at_study_level(store: QRStore) -> None:
    service = QRService(store)
    found = await collect(
        service,
        query(
            "STUDY",
            PatientName="doe*",
            StudyInstanceUID="",
            ModalitiesInStudy="",
            SOPClassesInStudy="",
        ),
        STUDY_ROOT,
    )
    assert found and all(str(s.PatientName).startswith("Doe") for s in found)
    assert all(s.ModalitiesInStudy for s in found)
    with_ct = await collect(
        service, query("STUDY", ModalitiesInStudy="CT", StudyInstanceUID=""), STUDY_ROOT
    )
    everything = await collect(
        service, query("STUDY", ModalitiesInStudy="", StudyInstanceUID=""), STUDY_ROOT
    )
    assert len(everything) == 8
    expected = [s for s in everything if "CT" in _values(s.ModalitiesInStudy)]
    assert len(with_ct) == len(expected)
    error = await refused(service, query("SERIES", SeriesInstanceUID=""), STUDY_ROOT)
    assert error.status == 0xC001
    error = await refused(service, query("PATIENT", PatientID=""), STUDY_ROOT)
    assert error.status == 0xA900 and "PATIENT" in (error.comment or "")


async def test_patient_study_only_model(store: QRStore) -> None:
    service = QRService(store)
    assert len(await collect(service, query("PATIENT", PatientID=""), PATIENT_STUDY)) == 4
    assert (
        len(await collect(service, query("STUDY", PatientID=PID, StudyDate=""), PATIENT_STUDY)) == 2
    )
    error = await refused(
        service, query("SERIES", PatientID=PID, StudyInstanceUID="1.2"), PATIENT_STUDY
    )
    assert error.status == 0xA900


async def test_missing_or_bad_level(store: QRStore) -> None:
    service = QRService(store)
    ds = Dataset()
    ds.PatientID = ""
    assert (await refused(service, ds, PATIENT_ROOT)).status == 0xA900
    assert (await refused(service, query("WARD", PatientID=""), PATIENT_ROOT)).status == 0xA900


async def test_hierarchical_ignores_non_unique_keys_above(store: QRStore) -> None:
    service = QRService(store)
    found = await collect(
        service,
        query("STUDY", PatientID=PID, PatientName="Nobody*", StudyInstanceUID=""),
        PATIENT_ROOT,
    )
    assert len(found) == 2
    assert all(str(s.PatientName) != "Nobody*" for s in found)


async def test_relational_search_when_negotiated(store: QRStore) -> None:
    service = QRService(store)
    ds = query("SERIES", Modality="CT", SeriesInstanceUID="", PatientName="")
    with pytest.raises(QueryError):
        await collect(service, ds, STUDY_ROOT)
    found = await collect(service, ds, STUDY_ROOT, ext=b"\x01")
    assert found and all(s.Modality == "CT" for s in found)
    ds = query("IMAGE", PatientName="Doe*", SOPInstanceUID="")
    images = await collect(service, ds, PATIENT_ROOT, ext=b"\x01")
    assert images and all(str(i.PatientName).startswith("Doe") for i in images)


async def test_max_matches_refused_not_cut(store: QRStore) -> None:
    service = QRService(store, QROptions(max_matches=3))
    with structlog.testing.capture_logs() as logs:
        error = await refused(service, query("STUDY", StudyInstanceUID=""), STUDY_ROOT)
    assert error.status == 0xA700 and "qr.max_matches=3" in (error.comment or "")
    (line,) = [entry for entry in logs if entry["event"] == "qr_query_refused"]
    assert line["log_level"] == "warning" and "raise qr.max_matches" in line["why"]  # #14.23
    assert (
        len(await collect(service, query("STUDY", PatientID=PID, StudyInstanceUID=""), STUDY_ROOT))
        == 2
    )
    # an upper bound above the limit but few real matches (PN is judged in Python): allowed
    limited = QRService(store, QROptions(max_matches=2))
    one_patient = await collect(limited, query("STUDY", PatientName="Doe^Maria"), STUDY_ROOT)
    assert len(one_patient) <= 2


class SpyStore:
    """Wraps the store to see whether cursors get closed."""

    def __init__(self, inner: QRStore) -> None:
        self.inner = inner
        self.cursors: list[RowCursor] = []
        self.closed = 0

    def open_cursor(self, plan: QueryPlan, *, decided_keys: frozenset[int]) -> RowCursor:
        cursor = self.inner.open_cursor(plan, decided_keys=decided_keys)
        original = cursor.close

        def close() -> None:
            self.closed += 1
            original()

        cursor.close = close  # type: ignore[method-assign]
        self.cursors.append(cursor)
        return cursor

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_closing_the_generator_closes_the_cursor(store: QRStore) -> None:
    spy = SpyStore(store)
    service = QRService(spy, QROptions(batch_size=2))  # type: ignore[arg-type]
    stream = service.find(request(query("IMAGE", SOPInstanceUID=""), STUDY_ROOT, b"\x01"))
    first = as_dataset(await anext(aiter(stream)))
    assert first.SOPInstanceUID
    assert spy.closed == 0
    await stream.aclose()
    assert spy.closed == 1


def test_options_default_extended_negotiation() -> None:
    assert QROptions().extended_negotiation[:3] == b"\x01\x01\x01"


def _values(value: object) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]


def _ids(items: Iterator[Dataset]) -> list[str]:
    return sorted(str(i.StudyInstanceUID) for i in items)


async def test_pushdown_and_python_agree_on_sample(store: QRStore) -> None:
    fast = QRService(store)
    slow = QRService(store, QROptions(pushdown=False))
    for keys in (
        {"StudyDate": "20180101-20221231"},
        {"AccessionNumber": "ACC0000*"},
        {"StudyInstanceUID": ""},
        {"PatientID": "PID00000?"},
    ):
        ds = query("STUDY", **{"StudyInstanceUID": "", **keys})
        a = await collect(fast, ds, STUDY_ROOT)
        b = await collect(slow, ds, STUDY_ROOT)
        assert _ids(iter(a)) == _ids(iter(b))
