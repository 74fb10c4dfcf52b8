"""Push-down (SQL) and pure-Python matching give identical results (PS3.4 C.2.2.2).

Stored values include the awkward cases: empty, multi-valued, lower case, partial dates,
wildcard characters and brackets inside values. Queries draw keys and values (single,
wildcard, range, empty-value, universal) at random; both paths must return the same
responses, or refuse with the same status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import QueryError
from aiodicom.proto.negotiation import EXPLICIT_VR_LE, IMPLICIT_VR_LE
from aiodicom.qr.service import QROptions, QRService
from aiodicom.store import QRStore, open_qr_store
from aiodicom.store.qr_files import index_dataset
from tests.qr.helpers import STUDY_ROOT, as_dataset, request

POOLS: dict[str, tuple[str, ...]] = {
    "PatientID": ("A1", "a1", "B2", "X*Y", "C3", "A[1]"),
    "PatientName": ("Doe^John", "doe^john", "Smith", "", "Müller^Jörg", "Doe^John^^^"),
    "StudyDate": ("20200101", "20201231", "", "2020", "20210615", "20200101\\20210101"),
    "StudyTime": ("101010", "", "0900", "235959.5"),
    "AccessionNumber": ("ACC1", "acc1", "ACC 2", "", "A[1]", "ACC1\\ACC3"),
    "StudyDescription": ("Head", "HEAD", "Head [x]", "", "Chest?", "Head\\Neck"),
    "StudyID": ("S1", "S2", "", "s1"),
    "Modality": ("CT", "MR", "ct", "", "CT\\MR"),
    "BodyPartExamined": ("HEAD", "", "head"),
    "SeriesDescription": ("axial", "", "AXIAL*"),
}
QUERY_VALUES: dict[str, tuple[str, ...]] = {
    "PatientID": ("A1", "a1", "A*", "*1", "?1", "X*Y", "A[1]", "", '""', "*"),
    "PatientName": ("Doe^John", "doe*", "*john", "Smith", "Müller*", "", '""'),
    "StudyDate": ("20200101", "20200101-20201231", "-20200601", "20200601-", "2020", "", '""'),
    "StudyTime": ("101010", "0800-1100", "", "2300-"),
    "AccessionNumber": ("ACC1", "acc1", "ACC*", "ACC?2", "A[1]", "", '""', "ACC1\\acc1"),
    "StudyDescription": ("Head", "Head*", "*[x]", "Chest?", "", "HEAD"),
    "StudyID": ("S1", "S?", "", "s1"),
    "ModalitiesInStudy": ("CT", "MR", "ct", "C*", ""),
    "Modality": ("CT", "ct", "C?", "", "CT\\MR"),
    "BodyPartExamined": ("HEAD", "head", "H*", ""),
    "SeriesDescription": ("axial", "AXIAL*", "AXIAL\\*", ""),
}
STUDY_KEYS = (
    "PatientID",
    "PatientName",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "StudyID",
    "ModalitiesInStudy",
)
SERIES_KEYS = (*STUDY_KEYS[:-1], "Modality", "BodyPartExamined", "SeriesDescription")
UID = "1.2.826.0.1.3680043.10.1234.77"
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")


def _instances(count: int) -> Iterator[Dataset]:
    rng = random.Random(5)
    for index in range(count):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        for keyword, pool in POOLS.items():
            value = rng.choice(pool)
            if value or rng.random() < 0.5:  # sometimes absent, sometimes zero length
                setattr(ds, keyword, value)
        study, series = index % 12, index % 24
        ds.StudyInstanceUID = f"{UID}.{study}"
        ds.SeriesInstanceUID = f"{UID}.{study}.{series}"
        ds.SOPInstanceUID = f"{UID}.{study}.{series}.{index}"
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if index % 3 else "1.2.840.10008.5.1.4.1.1.4"
        yield ds


@pytest.fixture(scope="module")
def store(qr_module_index: str | Path) -> Iterator[QRStore]:
    db = open_qr_store(qr_module_index)
    files = [index_dataset(ds, f"/virtual/{i}.dcm") for i, ds in enumerate(_instances(72))]
    assert db.apply(files, []) == []
    yield db
    db.close()


def _run(service: QRService, ds: Dataset) -> tuple[str, ...] | int:
    async def collect() -> list[Dataset]:
        return [
            as_dataset(item) async for item in service.find(request(ds, STUDY_ROOT, b"\x01\x01"))
        ]

    try:
        return tuple(sorted(str(item) for item in asyncio.run(collect())))
    except QueryError as exc:
        return exc.status


@st.composite
def identifiers(draw: st.DrawFn) -> Dataset:
    level = draw(st.sampled_from(("STUDY", "SERIES")))
    keys = STUDY_KEYS if level == "STUDY" else SERIES_KEYS
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True))
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.StudyInstanceUID = ""
    if level == "SERIES":
        ds.SeriesInstanceUID = ""
    for keyword in chosen:
        setattr(ds, keyword, draw(st.sampled_from(QUERY_VALUES[keyword])))
    return ds


OPTIONS = (QROptions(), QROptions(pn_case_sensitive=True), QROptions(fuzzy_pn=True))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ds=identifiers(), options=st.sampled_from(OPTIONS))
def test_pushdown_equals_python(store: QRStore, ds: Dataset, options: QROptions) -> None:
    fast = _run(QRService(store, options), ds)
    slow = _run(QRService(store, dataclasses.replace(options, pushdown=False)), ds)
    assert fast == slow, str(ds)


def test_queries_really_push_down(store: QRStore) -> None:
    """Guard against a vacuous equivalence: some keys must reach SQL and select rows."""
    service = QRService(store)
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = ""
    ds.AccessionNumber = "ACC*"
    plan, _ = service.prepare(request(ds, STUDY_ROOT, b"\x01"))
    assert [p.key.tag for p in plan.predicates] == [0x00080050]
    assert 0 < store.count(plan) < 12
    result = _run(service, ds)
    assert isinstance(result, tuple) and 0 < len(result) <= store.count(plan)


RETURN_KEYS = (
    "PatientName",
    "PatientID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "ModalitiesInStudy",
    "SOPClassesInStudy",
    "NumberOfStudyRelatedInstances",
    "NumberOfPatientRelatedStudies",
    "ReferringPhysicianName",
    "SpecificCharacterSet",
    "PatientBirthDate",
)


def _encoded(service: QRService, ds: Dataset, syntax: str) -> list[bytes]:
    async def collect() -> list[bytes]:
        req = request(ds, STUDY_ROOT, b"\x01")
        req.transfer_syntax = syntax
        return [
            item if isinstance(item, bytes) else encode_identifier(item, syntax)
            async for item in service.find(req)
        ]

    return sorted(asyncio.run(collect()))


def study_query(keys: list[str], name: str) -> Dataset:
    """A STUDY level identifier asking for ``keys``, matching on Patient's Name ``name``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = ""
    for keyword in keys:
        setattr(ds, keyword, "ISO_IR 100" if keyword == "SpecificCharacterSet" else "")
    if name:
        ds.PatientName = name
    return ds


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(st.sampled_from(RETURN_KEYS), min_size=1, max_size=6, unique=True),
    name=st.sampled_from(("", "doe*", "Müller*", "*")),
    syntax=st.sampled_from((EXPLICIT_VR_LE, IMPLICIT_VR_LE)),
)
def test_fast_encoding_equals_project(
    store: QRStore, keys: list[str], name: str, syntax: str
) -> None:
    ds = study_query(keys, name)
    fast = _encoded(QRService(store), ds, syntax)
    slow = _encoded(QRService(store, QROptions(fast_encode=False)), ds, syntax)
    assert fast == slow
    assert fast, "the query should match something"
