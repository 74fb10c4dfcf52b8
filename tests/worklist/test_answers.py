"""Replayed answers to repeated identical worklist queries (aiodicom.worklist.answers).

A replay must be byte-for-byte the answer a fresh search would give on the same snapshot
(PS3.4 K.4.1.3: the worklist as it is when the query is processed), must end when the
folder changes, and must never come from a cancelled (partial) answer.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from pathlib import Path

from aiodicom.store.worklist import WorklistStore
from aiodicom.worklist.answers import AnswerCache
from aiodicom.worklist.keys import SUPPORTED_TAGS
from aiodicom.worklist.sample import write_folder
from aiodicom.worklist.service import WorklistOptions, WorklistService
from tests.store.worklist_support import EXPLICIT_LE, mwl_query, wire_answers, wire_request

BODY_PART_EXAMINED = 0x00180015


def write_yaml_items(folder: Path, modality: str, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        text = f"PatientID: P{index}\nScheduledProcedureStepSequence:\n  - Modality: {modality}\n"
        (folder / f"item{index}.yaml").write_text(text, encoding="utf-8")


async def test_replay_equals_a_fresh_answer(tmp_path: Path) -> None:
    write_folder(tmp_path, "WLMSCP", 30, seed=3)
    store = WorklistStore(tmp_path)
    cached = WorklistService(store)
    uncached = WorklistService(store, WorklistOptions(answer_cache_bytes=0))
    query = mwl_query(sps={"Modality": "CT"})
    assert BODY_PART_EXAMINED not in SUPPORTED_TAGS
    query.add_new(BODY_PART_EXAMINED, "CS", "")  # unsupported: every response is 0xFF01
    first = await wire_answers(cached, query)
    assert cached.answers.hits == 0 and len(cached.answers) == 1
    second = await wire_answers(cached, query)
    assert cached.answers.hits == 1
    assert first == second == await wire_answers(uncached, query)
    assert first and {status for status, _ in first} == {0xFF01}
    assert len(uncached.answers) == 0


async def test_a_reload_ends_the_replay(tmp_path: Path) -> None:
    folder = tmp_path / "WLMSCP"
    write_yaml_items(folder, "CT", 3)
    store = WorklistStore(tmp_path)
    service = WorklistService(store)
    query = mwl_query(sps={"Modality": "CT"})
    assert len(await wire_answers(service, query)) == 3
    write_yaml_items(folder, "MR", 3)
    for path in folder.iterdir():  # a new mtime, whatever the clock's resolution
        os.utime(path, (1_000_000_000, 1_000_000_000))
    store.reload()
    assert await wire_answers(service, query) == []
    assert service.answers.hits == 0


async def test_a_cancelled_answer_is_not_kept(tmp_path: Path) -> None:
    write_folder(tmp_path, "WLMSCP", 20, seed=4)
    service = WorklistService(WorklistStore(tmp_path))
    stream = service.find(wire_request(mwl_query()))
    assert isinstance(stream, AsyncGenerator)
    assert isinstance(await anext(stream), bytes)
    await stream.aclose()  # what the server does on C-CANCEL
    assert len(service.answers) == 0
    assert len(await wire_answers(service, mwl_query())) == 20
    assert len(service.answers) == 1


def test_budget_evicts_least_recently_used_and_refuses_oversized(tmp_path: Path) -> None:
    write_folder(tmp_path, "WLMSCP", 2, seed=5)
    worklist = WorklistStore(tmp_path).snapshot.get("WLMSCP")
    assert worklist is not None
    cache = AnswerCache(max_bytes=1000)  # each answer below costs 1 + 200 + 48 bytes
    for name in (b"a", b"b", b"c", b"d"):
        cache.put(name, EXPLICIT_LE, worklist, [b"x" * 200])
    assert cache.get(b"a", EXPLICIT_LE, worklist) == (b"x" * 200,)  # a is now the newest
    cache.put(b"e", EXPLICIT_LE, worklist, [b"x" * 200])  # 5 x 249 > 1000: b goes
    assert cache.get(b"b", EXPLICIT_LE, worklist) is None
    assert all(cache.get(name, EXPLICIT_LE, worklist) for name in (b"a", b"c", b"d", b"e"))
    assert cache.size == 4 * 249 <= cache.max_bytes
    cache.put(b"big", EXPLICIT_LE, worklist, [b"y" * 300])  # more than a quarter
    assert cache.get(b"big", EXPLICIT_LE, worklist) is None
