"""Per-query fast paths of the worklist SCP: prepared-query cache, lazy query log, GC.

The cache must answer exactly like an uncached service (PS3.4 K.4.1: same matches, same
0xFF01 for unsupported keys, PS3.4 K.4.1.1.4), and never cache a refused identifier.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from aiodicom.errors import QueryError
from aiodicom.store import worklist as worklist_module
from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi.querylog import QueryLog, logged_handlers
from aiodicom.worklist.query import QueryCache
from aiodicom.worklist.sample import write_folder
from aiodicom.worklist.service import WorklistService
from tests.store.worklist_support import mwl_query, request, wire_answers, wire_request


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> WorklistStore:
    root = tmp_path_factory.mktemp("mwl")
    write_folder(root, "WLMSCP", 40, seed=5)
    return WorklistStore(root)


@pytest.mark.parametrize(
    "query",
    [
        mwl_query(PatientID="PID0000003"),
        mwl_query(sps={"Modality": "CT"}),
        mwl_query(PatientName="*"),
    ],
    ids=["keyed", "modality", "wildcard"],
)
async def test_cached_answers_equal_uncached(store: WorklistStore, query: Dataset) -> None:
    cached = WorklistService(store)
    uncached = WorklistService(store)
    uncached.cache = QueryCache(entries=0)
    first = await wire_answers(cached, query)
    second = await wire_answers(cached, query)
    assert cached.cache.hits == 1
    assert cached.cache.misses == 1
    assert first == second == await wire_answers(uncached, query)
    assert len(uncached.cache) == 0
    assert first  # the fixture has matches for every query above


async def test_unsupported_keys_still_ff01_on_a_hit(store: WorklistStore) -> None:
    query = mwl_query(PatientID="PID0000003")
    query.SeriesInstanceUID = "1.2.3"  # not an MWL attribute (PS3.4 K.4.1.1.4)
    service = WorklistService(store)
    for _ in range(2):
        statuses = [status for status, _ in await wire_answers(service, query)]
        assert statuses == [0xFF01]
    assert service.cache.hits == 1


async def test_refused_identifier_is_not_cached(store: WorklistStore) -> None:
    query = mwl_query(sps={"ScheduledProcedureStepStartDate": "20261130-20261101"})
    service = WorklistService(store)
    for _ in range(2):
        with pytest.raises(QueryError) as caught:
            await wire_answers(service, query)
        assert caught.value.status == 0xA900
    assert len(service.cache) == 0


async def test_cache_is_bounded_lru(store: WorklistStore) -> None:
    service = WorklistService(store)
    service.cache = QueryCache(entries=2)
    queries = [mwl_query(PatientID=f"PID{n:07d}") for n in range(3)]
    for query in [*queries, queries[2]]:
        await wire_answers(service, query)
    assert len(service.cache) == 2
    assert (service.cache.hits, service.cache.misses) == (1, 3)
    await wire_answers(service, queries[0])  # evicted first: prepared again
    assert service.cache.misses == 4


async def test_query_log_keys_are_computed_when_read(store: WorklistStore) -> None:
    log = QueryLog(10)
    handler = logged_handlers(WorklistService(store), log)[request(mwl_query()).sop_class_uid]
    async for _ in handler(wire_request(mwl_query(PatientID="PID0000003"))):
        pass
    (entry,) = log.latest()
    assert entry._keys is None  # nothing decoded on the C-FIND path
    data = entry.as_dict()
    assert data["keys"] == {"PatientID": "PID0000003"}
    return_keys = data["return_keys"]
    assert isinstance(return_keys, list)
    assert "PatientName" in return_keys
    assert data["peer"] == "127.0.0.1:1"
    assert str(data["time"])[4] == "-"


def test_reload_freezes_without_a_full_collect(
    store: WorklistStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_folder(tmp_path, "WLMSCP", 5, seed=2)
    calls: list[tuple[int, ...]] = []
    real_collect = gc.collect

    def spy(*args: int) -> int:
        calls.append(args)
        return real_collect(*args)

    monkeypatch.setattr(gc, "collect", spy)  # a spy on the standard library: counts only
    now = [1000.0]
    fresh = WorklistStore(tmp_path, clock=lambda: now[0])
    assert calls == [()]  # first load: one full collection, before the build
    calls.clear()
    fresh.reload()
    assert calls == [(1,)]  # reload: young generations only
    assert gc.get_freeze_count() > 0
    calls.clear()
    now[0] += worklist_module.FULL_GC_INTERVAL
    fresh.reload()
    assert calls == [()]  # the interval passed: full collection again
