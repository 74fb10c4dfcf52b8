"""The SQLite Q/R index: good and bad files, computed attributes, incremental updates."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from pydicom import dcmread

from aiodicom.store.qr_files import parse_file
from aiodicom.store.qr_index import QRIndex
from aiodicom.store.qr_model import Level
from aiodicom.store.qr_sql import SQLiteQRStore
from aiodicom.testing.qr_sample import SampleShape, write_sample
from tests.qr.helpers import SMALL, make_folder


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteQRStore]:
    db = SQLiteQRStore(tmp_path / "index.sqlite")
    yield db
    db.close()


async def test_scan_indexes_every_entity(folder: Path, store: SQLiteQRStore) -> None:
    report = await QRIndex(folder, store).scan()
    assert (report.added, report.removed, report.skipped) == (32, 0, 0)
    assert store.counts() == {"patient": 4, "study": 8, "series": 16, "instance": 32}
    second = await QRIndex(folder, store).scan()
    assert (second.added, second.removed) == (0, 0)


async def test_computed_attributes(folder: Path, store: SQLiteQRStore) -> None:
    await QRIndex(folder, store).scan()
    db = Path(store.path)
    assert _rows(db, "SELECT DISTINCT n_studies, n_series, n_instances FROM patient") == [(2, 4, 8)]
    assert _rows(db, "SELECT DISTINCT n_series, n_instances FROM study") == [(2, 4)]
    assert _rows(db, "SELECT DISTINCT n_instances FROM series") == [(2,)]
    mods = _rows(db, "SELECT modalities, sop_classes FROM study")
    for modalities, sop_classes in mods:
        assert isinstance(modalities, str) and isinstance(sop_classes, str)
        values = modalities.split("\\")
        assert values == sorted(set(values))
        assert len(sop_classes.split("\\")) == len(values)


async def test_bad_files_are_skipped_with_one_warning(folder: Path, store: SQLiteQRStore) -> None:
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


async def test_incremental_add_remove_and_change(folder: Path, store: SQLiteQRStore) -> None:
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


async def test_watcher_follows_changes(folder: Path, store: SQLiteQRStore) -> None:
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


async def test_reindex_clears(folder: Path, store: SQLiteQRStore) -> None:
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


async def test_study_moving_to_another_patient(folder: Path, store: SQLiteQRStore) -> None:
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
    rows = _rows(
        Path(store.path), "SELECT n_studies, n_instances FROM patient WHERE uid = 'PID000001'"
    )
    assert rows == [(4, 16)]
