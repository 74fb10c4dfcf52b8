"""Loading the worklist folder: good files, bad files (skipped with one warning), AE lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from structlog.testing import capture_logs

from aiodicom.errors import DataError
from aiodicom.matching import record_from_dataset
from aiodicom.store.worklist import WorklistStore
from aiodicom.store.worklist_loader import enumerate_ae_folders
from aiodicom.worklist.sample import generate, write_folder, write_item
from tests.store.worklist_support import write_yaml

GOOD_YAML = """
PatientName: "Ærø^Åse"
PatientID: Y1
ScheduledProcedureStepSequence:
  - Modality: CT
    ScheduledStationAETitle: CT01
    ScheduledProcedureStepStartDate: "20261125"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_folder(tmp_path, "WLMSCP", 12, seed=3)
    return tmp_path / "WLMSCP"


def test_records_equal_record_from_dataset(folder: Path) -> None:
    store = WorklistStore(folder.parent)
    worklist = store.snapshot.get("WLMSCP")
    assert worklist is not None and len(worklist.items) == 12
    for item in worklist.items:
        assert item.record == record_from_dataset(dcmread(item.path, force=True))


def test_files_with_and_without_meta_big_endian_and_implicit(tmp_path: Path) -> None:
    folder = tmp_path / "AE1"
    folder.mkdir()
    datasets = list(generate(3, seed=9))
    write_item(datasets[0], folder / "meta.wl", with_meta=True)
    write_item(datasets[1], folder / "bare_implicit.wl", with_meta=False, implicit=True)
    datasets[2].save_as(folder / "bare_be.wl", implicit_vr=False, little_endian=False)
    store = WorklistStore(tmp_path)
    worklist = store.snapshot.get("AE1")
    assert worklist is not None
    ids = sorted(str(item.record[0x00100020]) for item in worklist.items)
    assert ids == sorted(str(ds.PatientID) for ds in datasets)
    for item in worklist.items:
        assert item.record == record_from_dataset(dcmread(item.path, force=True))


def test_yaml_item_loaded_with_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "WL"
    folder.mkdir()
    write_yaml(folder, "a.yaml", GOOD_YAML)
    worklist = WorklistStore(tmp_path).snapshot.get("WL")
    assert worklist is not None and len(worklist.items) == 1
    record = worklist.items[0].record
    assert record[0x00100010] == "Ærø^Åse"
    steps = record[0x00400100]
    assert isinstance(steps, tuple) and steps[0][0x00080060] == "CT"


BAD_FILES = {
    "not_dicom.wl": b"hello, this is not a DICOM file at all....",
    "empty.wl": b"",
    "bad.yaml": b"PatientName: [unclosed\n",
    "unknown_key.yaml": b"NoSuchKeyword: 1\nScheduledProcedureStepSequence: [{Modality: CT}]\n",
    "no_sps.yaml": b"PatientName: X^Y\nPatientID: P\n",
    "list.yaml": b"- a\n- b\n",
}


def test_each_bad_file_skipped_with_one_warning(folder: Path) -> None:
    for name, data in BAD_FILES.items():
        (folder / name).write_bytes(data)
    good = next(folder.glob("item_*.wl"))
    (folder / "half_written.wl").write_bytes(good.read_bytes()[:-37])
    no_sps = next(iter(generate(1, seed=5)))
    del no_sps.ScheduledProcedureStepSequence
    write_item(no_sps, folder / "no_sps.wl", with_meta=True)
    unreadable = folder / "unreadable.wl"
    unreadable.write_bytes(good.read_bytes())
    unreadable.chmod(0)
    with capture_logs() as logs:
        store = WorklistStore(folder.parent)
    worklist = store.snapshot.get("WLMSCP")
    assert worklist is not None
    expected_bad = {*BAD_FILES, "half_written.wl", "no_sps.wl"}
    import os

    if os.geteuid() != 0:  # root can read a mode-000 file
        expected_bad.add("unreadable.wl")
    warned = [Path(entry["file"]).name for entry in logs if entry["log_level"] == "warning"]
    assert sorted(warned) == sorted(expected_bad)
    assert all(entry.get("reason") for entry in logs if entry["log_level"] == "warning")
    assert len(worklist.items) == 12 + (1 if "unreadable.wl" not in expected_bad else 0)
    with capture_logs() as again:
        store.reload()
    assert [e for e in again if e["log_level"] == "warning"] == []  # ONE warning per file


@pytest.mark.parametrize("title", ["..", "../WLMSCP", "/etc", "WL\x00MSCP", "WL\\MSCP", ".", ""])
def test_crafted_ae_titles_never_reach_the_filesystem(folder: Path, title: str) -> None:
    store = WorklistStore(folder.parent)
    assert store.has_ae("WLMSCP")
    assert not store.has_ae(title)
    assert store.snapshot.get(title) is None


def test_only_valid_ae_folders_enumerated(tmp_path: Path) -> None:
    for name in ["GOOD", ".hidden", "A" * 17, "with space ", "OK_2"]:
        (tmp_path / name).mkdir()
    (tmp_path / "file.wl").write_bytes(b"x")
    assert sorted(enumerate_ae_folders(tmp_path)) == ["GOOD", "OK_2"]


def test_missing_root_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing"):
        WorklistStore(tmp_path / "missing")


INVALID_VALUES_YAML = """
PatientName: Bad^Values
PatientID: V1
PatientBirthDate: notadate
ScheduledProcedureStepSequence:
  - Modality: ct
    ScheduledStationAETitle: CT01
    ScheduledProcedureStepStartDate: "20261125"
"""


def test_yaml_item_with_invalid_values_served_with_one_warning(tmp_path: Path) -> None:
    """The API's value checks (PS3.5 6.2) run on hand-written YAML items too: such an
    item is still served (docs/worklist.md), with one warning naming file and fields."""
    folder = tmp_path / "WL"
    folder.mkdir()
    write_yaml(folder, "bad_values.yaml", INVALID_VALUES_YAML)
    write_yaml(folder, "good.yaml", GOOD_YAML)
    with capture_logs() as logs:
        store = WorklistStore(tmp_path)
    worklist = store.snapshot.get("WL")
    assert worklist is not None and len(worklist.items) == 2  # served
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1, warnings
    assert Path(warnings[0]["file"]).name == "bad_values.yaml"
    assert warnings[0]["fields"] == [
        "PatientBirthDate",
        "ScheduledProcedureStepSequence[0].Modality",
    ]
    assert "DA" in warnings[0]["reason"] and "CS" in warnings[0]["reason"]
    with capture_logs() as again:
        store.reload()
    assert [e for e in again if e["log_level"] == "warning"] == []  # once per file version
