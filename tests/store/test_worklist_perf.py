"""The fast worklist load path: interning, memoized decoding/encoding, reuse, GC handling.

The optimised loader must give exactly the Records of ``record_from_dataset`` and the
same response bytes as encoding the item with pydicom (PS3.5 7.1 element encoding).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.reader import Interner, parse_file_bytes
from aiodicom.dicom.values import decode_record
from aiodicom.dicom.writer import syntax_for
from aiodicom.errors import DataError
from aiodicom.matching import compile_query, record_from_dataset
from aiodicom.store.worklist import WorklistStore, _bulk_allocation
from aiodicom.worklist.builder import build_identifier
from aiodicom.worklist.query import FULL, plan_from_query
from aiodicom.worklist.sample import generate, write_folder

SPS = 0x00400100
MODALITY = 0x00080060
SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> WorklistStore:
    root = tmp_path_factory.mktemp("perf")
    write_folder(root, "WLMSCP", 150, seed=5)
    return WorklistStore(root)


def test_shared_interner_gives_pydicom_records(loaded: WorklistStore) -> None:
    worklist = loaded.snapshot.get("WLMSCP")
    assert worklist is not None and len(worklist.items) == 150
    charsets = set()
    for item in worklist.items:
        ds = dcmread(item.path, force=True)
        charsets.add(str(ds.get("SpecificCharacterSet", "")))
        assert item.record == record_from_dataset(ds)
    assert len(charsets) >= 3  # default, ISO_IR 100 and ISO_IR 192 items were all decoded


def test_interned_parse_equals_fresh_parse(loaded: WorklistStore) -> None:
    worklist = loaded.snapshot.get("WLMSCP")
    assert worklist is not None
    for item in worklist.items[:40]:
        data = Path(item.path).read_bytes()
        fresh = parse_file_bytes(data, item.path)
        assert fresh == item.raw
        assert decode_record(fresh) == item.record


def test_repeated_values_are_shared_objects(loaded: WorklistStore) -> None:
    worklist = loaded.snapshot.get("WLMSCP")
    assert worklist is not None
    groups: dict[tuple[object, object], list[tuple[object, object]]] = {}
    for item in worklist.items:
        raw_step: Any = item.raw[SPS][1][0]
        record_step: Any = item.record[SPS][0]
        charset = item.raw.get(0x00080005)
        pair = raw_step[MODALITY]
        groups.setdefault((charset, pair[1]), []).append((pair, record_step[MODALITY]))
    repeated = [entries for entries in groups.values() if len(entries) > 1]
    assert repeated
    for entries in repeated:  # same value and character set: the very same objects
        first_pair, first_text = entries[0]
        assert all(pair is first_pair and text is first_text for pair, text in entries)


def test_intern_tables_are_capped() -> None:
    interner = Interner(cap=5)
    for ds in generate(30, seed=2):
        parse_file_bytes(encode_identifier(ds, SYNTAXES[0]), "mem", interner)
    patient_ids = interner.pairs[0x00100020]
    assert len(patient_ids) == 5
    assert all(len(table) <= 5 for table in interner.pairs.values())


def test_truncated_file_is_a_data_error() -> None:
    ds = next(generate(1, seed=4))
    data = encode_identifier(ds, SYNTAXES[0])
    for cut in (3, 9, len(data) // 2, len(data) - 1):
        with pytest.raises(DataError) as info:
            parse_file_bytes(data[:cut], "half.wl")
        assert info.value.path == "half.wl"
        assert info.value.reason


def _query() -> Dataset:
    step = Dataset()
    step.Modality = ""
    step.ScheduledProcedureStepStartDate = ""
    step.ScheduledProcedureStepID = ""
    code = Dataset()
    code.CodeValue = ""
    step.ScheduledProtocolCodeSequence = [code]
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.IssuerOfPatientID = ""  # never in the items: zero length in every response
    ds.ReferencedStudySequence = []
    ds.ScheduledProcedureStepSequence = [step]
    return ds


@pytest.mark.parametrize("syntax_uid", SYNTAXES)
def test_responses_decode_to_the_item_values(loaded: WorklistStore, syntax_uid: str) -> None:
    worklist = loaded.snapshot.get("WLMSCP")
    assert worklist is not None
    query = _query()
    compiled = compile_query(query)
    plan = plan_from_query(query)
    assert any(sub == FULL for _, _, sub in plan)
    syntax = syntax_for(syntax_uid)
    for item in worklist.items[:30]:
        result = compiled.match(item.record)
        assert result is not None
        data = build_identifier(item.raw, plan, syntax, result)
        ds = decode_identifier(data, syntax_uid)
        source = dcmread(item.path, force=True)
        assert ds.PatientID == source.PatientID
        assert str(ds.PatientName) == str(source.PatientName)
        assert ds.IssuerOfPatientID in ("", None)
        steps = ds.ScheduledProcedureStepSequence
        assert [s.Modality for s in steps] == [
            s.Modality for s in source.ScheduledProcedureStepSequence
        ]
        assert all(set(s.dir()) <= {"Modality", "ScheduledProcedureStepStartDate",
                                    "ScheduledProcedureStepID",
                                    "ScheduledProtocolCodeSequence"} for s in steps)  # fmt: skip


def test_reload_without_changes_reuses_the_worklist(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, "WLMSCP", 6, seed=8)
    store = WorklistStore(tmp_path)
    first = store.snapshot.get("WLMSCP")
    again = store.reload().get("WLMSCP")
    assert again is first
    victim = sorted(folder.glob("*.wl"))[0]
    stat = victim.stat()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = store.reload().get("WLMSCP")
    assert first is not None and changed is not None and changed is not first
    assert len(changed.items) == 6
    assert changed.items[1] is first.items[1]  # unchanged files are not parsed again


@pytest.mark.parametrize("enabled", [True, False])
def test_bulk_allocation_restores_the_gc_state(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        with _bulk_allocation():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()
        gc.unfreeze()
