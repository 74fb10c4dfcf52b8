"""The Q/R index (SQLite and PostgreSQL): good and bad files, computed attributes,
incremental updates, one file at a time."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from pydicom import dcmread

from aiodicom.store import QRStore, open_qr_store
from aiodicom.store.qr_files import parse_file
from aiodicom.store.qr_index import QRIndex
from aiodicom.store.qr_model import Level
from aiodicom.testing.qr_sample import SampleShape, write_sample
from tests.qr.helpers import SMALL, index_rows, make_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path)


@pytest.fixture
def store(qr_index: str | Path) -> Iterator[QRStore]:
    db = open_qr_store(qr_index)
    yield db
    db.close()


async def test_scan_indexes_every_entity(folder: Path, store: QRStore) -> None:
    report = await QRIndex(folder, store).scan()
    assert (report.added, report.removed, report.skipped) == (32, 0, 0)
    assert store.counts() == {"patient": 4, "study": 8, "series": 16, "instance": 32}
    second = await QRIndex(folder, store).scan()
    assert (second.added, second.removed) == (0, 0)


async def test_computed_attributes(folder: Path, store: QRStore, qr_index: str | Path) -> None:
    await QRIndex(folder, store).scan()
    db = qr_index
    assert index_rows(db, "SELECT DISTINCT n_studies, n_series, n_instances FROM patient") == [
        (2, 4, 8)
    ]
    assert index_rows(db, "SELECT DISTINCT n_series, n_instances FROM study") == [(2, 4)]
    assert index_rows(db, "SELECT DISTINCT n_instances FROM series") == [(2,)]
    mods = index_rows(db, "SELECT modalities, sop_classes FROM study")
    for modalities, sop_classes in mods:
        assert isinstance(modalities, str) and isinstance(sop_classes, str)
        values = modalities.split("\\")
        assert values == sorted(set(values))
        assert len(sop_classes.split("\\")) == len(values)


async def test_bad_files_are_skipped_with_one_warning(folder: Path, store: QRStore) -> None:
    (folder / "notes.txt").write_text("not dicom at all")
    (folder / "truncated.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10")
    index = QRIndex(folder, store)
    with structlog.testing.capture_logs() as logs:
        report = await index.scan()
        again = await index.scan()
    warned = [entry["file"] for entry in logs if entry["event"] == "qr_file_skipped"]
    assert sorted(Path(f).name for f in warned) == ["notes.txt", "truncated.dcm"]
    assert report.skipped == 2 and again.skipped == 0
    assert store.counts()["instance"] == 32


async def test_incremental_add_remove_and_change(folder: Path, store: QRStore) -> None:
    index = QRIndex(folder, store)
    await index.scan()
    shutil.rmtree(folder / "PID000000")
    report = await index.scan()
    assert report.removed == 8
    assert store.counts() == {"patient": 3, "study": 6, "series": 12, "instance": 24}
    extra = SampleShape(
        patients=5, studies_per_patient=1, series_per_study=1, instances_per_series=1, seed=7
    )
    write_sample(folder / "more", extra)
    report = await index.scan()
    assert report.added >= 1
    assert store.counts()["instance"] == 24 + report.added


def test_parse_file_splits_entities(folder: Path) -> None:
    path = next(folder.rglob("*.dcm"))
    parsed = parse_file(str(path))
    assert parsed.entities[Level.PATIENT].uid.startswith("PID")
    assert parsed.entities[Level.STUDY].columns[0x00080020] is not None
    assert parsed.entities[Level.SERIES].columns[0x00080060] in {"CT", "MR", "US", "CR", "SR"}
    assert 0x00080060 not in parsed.entities[Level.STUDY].columns


async def test_watcher_follows_changes(folder: Path, store: QRStore) -> None:
    index = QRIndex(folder, store, poll_interval=0.1, force_polling=True)
    await index.start(watch=True)
    try:
        os.remove(folder / "PID000000" / "st00" / "se00" / "im0000.dcm")
        await _wait_for(lambda: store.counts()["instance"] == 31)
        extra = SampleShape(
            patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=3, seed=9
        )
        write_sample(folder / "new", extra)
        await _wait_for(lambda: store.counts()["instance"] == 34)
    finally:
        await index.close()


async def test_reindex_clears(folder: Path, store: QRStore) -> None:
    await QRIndex(folder, store).scan()
    store.clear()
    assert store.counts() == {"patient": 0, "study": 0, "series": 0, "instance": 0}
    report = await QRIndex(folder, store).scan()
    assert report.added == SMALL.total_instances


async def _wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_study_moving_to_another_patient(
    folder: Path, store: QRStore, qr_index: str | Path
) -> None:
    """Files re-sent with a corrected Patient ID move the study; the old patient empties."""
    index = QRIndex(folder, store)
    await index.scan()
    for path in sorted((folder / "PID000000").rglob("*.dcm")):
        ds = dcmread(path)
        ds.PatientID = "PID000001"
        ds.save_as(path)
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    await index.scan()
    assert store.counts() == {"patient": 3, "study": 8, "series": 16, "instance": 32}
    rows = index_rows(
        qr_index, "SELECT n_studies, n_instances FROM patient WHERE uid = 'PID000001'"
    )
    assert rows == [(4, 16)]


def test_index_file_one_at_a_time(folder: Path, store: QRStore) -> None:
    """The single-file write path (C-STORE's): one transaction, visible at once, computed
    attributes current; a SOP Instance UID held by another path is refused or replaced."""
    paths = sorted(folder.rglob("*.dcm"))
    for path in paths:
        assert store.index_file(parse_file(str(path)))
    assert store.counts() == {"patient": 4, "study": 8, "series": 16, "instance": 32}
    first = paths[0]
    copy = folder / "copy.dcm"
    shutil.copy(first, copy)
    assert not store.index_file(parse_file(str(copy)))  # duplicate UID: refused
    assert str(copy) not in store.known_files()
    assert store.index_file(parse_file(str(first)))  # same path again: replaced
    assert store.index_file(parse_file(str(copy)), replace_uid=True)
    known = store.known_files()
    assert str(copy) in known and str(first) not in known
    assert store.counts()["instance"] == 32


async def test_shared_index_keeps_other_folders(tmp_path: Path, qr_index: str | Path) -> None:
    """Two folders (two SCP nodes) indexed into one store: each scan adds and removes only
    its own folder's files; both folders' files are found."""
    first, second = open_qr_store(qr_index), open_qr_store(qr_index)
    try:
        one = make_folder(tmp_path / "one")
        other = SampleShape(
            patients=2, studies_per_patient=1, series_per_study=1, instances_per_series=2, seed=5
        )
        two = tmp_path / "two"
        write_sample(two, other)
        await QRIndex(one, first).scan()
        report = await QRIndex(two, second).scan()
        assert (report.added, report.removed) == (4, 0)
        again = await QRIndex(one, first).scan()
        assert (again.added, again.removed) == (0, 0)
        assert first.counts()["instance"] == second.counts()["instance"] == 36
    finally:
        first.close()
        second.close()


async def test_forget_drops_only_our_folder(tmp_path: Path, qr_index: str | Path) -> None:
    """``--reindex`` on a shared index: our folder's files go, another node's stay."""
    store = open_qr_store(qr_index)
    try:
        ours, theirs = make_folder(tmp_path / "ours"), tmp_path / "theirs"
        write_sample(theirs, SampleShape(1, 1, 1, 3, seed=3))
        index = QRIndex(ours, store)
        await index.scan()
        await QRIndex(theirs, store).scan()
        assert await index.forget() == 32
        assert store.counts()["instance"] == 3
        assert (await index.scan()).added == 32
    finally:
        store.close()
