"""Two ``aiodicom-qrscp`` nodes on one PostgreSQL index (issue 18, "Done when").

DCMTK storescu (``+sd``, TCP_NODELAY=1) stores 1,000 generated instances into node A;
node B (another process, its own empty data folder, the same database of the throw-away
cluster) finds every one of them, by each Q/R information model and each level it
allows (PS3.4 C.6.1: Patient Root PATIENT..IMAGE, Study Root STUDY..IMAGE, Patient/Study
Only PATIENT and STUDY), walking the hierarchy with the unique keys of the levels above
(PS3.4 C.4.1.2.1 hierarchical queries).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset, dcmread

import aiodicom
from aiodicom.testing.qr_sample import SampleShape, write_sample
from tests.interop.store_peers import qrscp_process, run_storescu, stored_files
from tests.pg_cluster import PgCluster

pytestmark = pytest.mark.interop
SHAPE = SampleShape(patients=10, studies_per_patient=2, series_per_study=5, instances_per_series=10)
LEVELS = {
    "patient": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    "study": ("STUDY", "SERIES", "IMAGE"),
    "patient-study": ("PATIENT", "STUDY"),
}
UNIQUE = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}


def expected_keys(folder: Path) -> dict[str, set[str]]:
    """The unique keys of every level in the files sent."""
    keys: dict[str, set[str]] = {level: set() for level in UNIQUE}
    for path in folder.rglob("*.dcm"):
        ds = dcmread(path, stop_before_pixels=True)
        for level, name in UNIQUE.items():
            keys[level].add(str(getattr(ds, name)))
    return keys


async def walk(assoc: aiodicom.ClientAssociation, model: str) -> dict[str, list[str]]:
    """Every level of ``model`` top down: each query names the unique keys of the
    entities above it (PS3.4 C.4.1.2.1); the unique keys answered per level."""
    found: dict[str, list[str]] = {}
    parents: list[dict[str, str]] = [{}]
    for level in LEVELS[model]:
        found[level], below = [], []
        for keys in parents:
            query = Dataset()
            query.QueryRetrieveLevel = level
            for name, value in keys.items():
                setattr(query, name, value)
            setattr(query, UNIQUE[level], "")
            async for answer in assoc.find(query, model):
                value = str(getattr(answer, UNIQUE[level]))
                found[level].append(value)
                below.append({**keys, UNIQUE[level]: value})
        parents = below
    return found


async def test_instances_stored_through_one_node_are_found_through_another(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    url = pg_cluster.fresh_database()
    source, data_a, data_b = tmp_path / "send", tmp_path / "node-a", tmp_path / "node-b"
    for folder in (source, data_a, data_b):
        folder.mkdir()
    write_sample(source, SHAPE, time_limit=120)
    expected = expected_keys(source)
    assert len(expected["IMAGE"]) == SHAPE.total_instances == 1000
    with qrscp_process(data_a, url) as node_a, qrscp_process(data_b, url) as node_b:
        sent = run_storescu(node_a.port, ["+sd", "+r"], [source], seconds=300)
        assert sent.returncode == 0, sent.stdout[-2000:]
        assert len(stored_files(sent.stdout)) == SHAPE.total_instances
        connector = aiodicom.connect("127.0.0.1", node_b.port, called_ae="QRSCP")
        async with connector as assoc:
            for model, levels in LEVELS.items():
                found = await walk(assoc, model)
                for level in levels:  # every entity, each answered once
                    assert sorted(found[level]) == sorted(expected[level]), (model, level)
        assert node_a.proc.poll() is None and node_b.proc.poll() is None
    assert len(list((data_a / "received").rglob("*.dcm"))) == SHAPE.total_instances
    assert not list(data_b.rglob("*.dcm"))  # node B found them through the index only
