"""The fast paths that are a whole store, loader or association, with their slow twins.

Both sides run over one small fixture each (a worklist folder, a Q/R index, a server on a
free 127.0.0.1 port), made once in a temporary directory removed at exit. See
tests/fast_paths.py for ``Twin``.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from pydicom.dataset import Dataset
from structlog.testing import capture_logs

from aiodicom import connect
from aiodicom.net.server import ServerConfig, serve
from aiodicom.proto.negotiation import EXPLICIT_VR_LE, IMPLICIT_VR_LE
from aiodicom.qr.service import QROptions, QRService
from aiodicom.store.qr_files import index_dataset
from aiodicom.store.qr_header import index_elements, read_elements
from aiodicom.store.qr_sql import SQLiteQRStore
from aiodicom.store.worklist import WorklistStore
from aiodicom.store.worklist_loader import FolderLoader
from aiodicom.worklist.query import QueryCache
from aiodicom.worklist.sample import write_folder
from aiodicom.worklist.service import WorklistOptions, WorklistService
from tests.fast_paths import Twin
from tests.net.helpers import Recorder, counting_handler, query
from tests.net.test_client_fast_path import ops_strategy, run_ops
from tests.net.test_server_fastpaths import _answer, _expected_ac
from tests.qr import test_qr_fast_build as qr_build
from tests.qr import test_qr_pushdown as pushdown
from tests.store.worklist_support import mwl_query, wire_answers


@functools.cache
def _workspace() -> Path:
    root = Path(tempfile.mkdtemp(prefix="aiodicom-fast-paths-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


# -- worklist/ ------------------------------------------------------------------------------


@functools.cache
def _worklist() -> WorklistStore:
    root = _workspace() / "mwl"
    write_folder(root, "WLMSCP", 40, seed=5)
    return WorklistStore(root)


_MWL_QUERIES = st.one_of(
    st.builds(lambda n: mwl_query(PatientID=f"PID{n:07d}"), st.integers(0, 45)),
    st.builds(lambda m: mwl_query(sps={"Modality": m}), st.sampled_from(("CT", "MR", "XX"))),
    st.builds(lambda name: mwl_query(PatientName=name), st.sampled_from(("*", "A*", ""))),
)


def _answers(query: Dataset, service: WorklistService, *, twice: bool) -> object:
    async def run() -> object:
        if twice:  # the second answer comes from the cache the first one filled
            await wire_answers(service, query)
        return await wire_answers(service, query)

    return asyncio.run(run())


def _service(*, queries: bool, answers: bool) -> WorklistService:
    """A worklist service with its query cache and answer cache each on or off."""
    options = WorklistOptions(answer_cache_bytes=(64 << 20) if answers else 0)
    service = WorklistService(_worklist(), options)
    if not queries:
        service.cache = QueryCache(entries=0)
    return service


# -- store/ ---------------------------------------------------------------------------------


@functools.cache
def _load_folder() -> Path:
    """Good items plus garbage, a half-written file and a bad YAML."""
    write_folder(_workspace() / "load", "WLMSCP", 20, seed=11)
    folder = _workspace() / "load" / "WLMSCP"
    good = sorted(folder.glob("*.wl"))
    (folder / "a_garbage.wl").write_bytes(b"\x00not dicom" * 7)
    (folder / "m_half.wl").write_bytes(good[3].read_bytes()[:-29])
    (folder / "n_bad.yaml").write_text("- a\n- b\n", encoding="utf-8")
    return folder


def _load(given: tuple[int, bool]) -> object:
    window, warm = given
    loader = FolderLoader.empty()
    loader.window = window
    loader.warm_min_files = 1 if warm else 1 << 62
    with capture_logs() as logs:
        items = loader.load_folder(_load_folder())
    warned = [(e["file"], e["reason"]) for e in logs if e["log_level"] == "warning"]
    return [(i.path, i.stamp, i.raw, i.record) for i in items], warned


_HEADER_VALUES = st.tuples(
    st.sampled_from(sorted(qr_build.TEST_TAGS)),
    qr_build._TEXT,
    st.sampled_from([None, b"ISO_IR 100", b"ISO_IR 192"]),
)


def _header_file(given: tuple[str, str, bytes | None]) -> Path:
    """The Q/R fast-build test's one-value file."""
    vr, text, charset = given
    value = text.encode("utf-8" if charset == b"ISO_IR 192" else "latin-1")
    extra = [(qr_build.TEST_TAGS[vr], vr, value)]
    if charset is not None:
        extra.append((0x00080005, "CS", charset))
    path = _workspace() / "header.dcm"
    path.write_bytes(qr_build._part10(qr_build._base(extra)))
    return path


def _header_fast(given: tuple[str, str, bytes | None]) -> object:
    path = _header_file(given)
    header = read_elements(path.read_bytes())
    return None if header is None else index_elements(header, str(path), 0, 0, None)


@functools.cache
def _qr_store() -> SQLiteQRStore:
    db = SQLiteQRStore(_workspace() / "qr.sqlite")
    files = [index_dataset(ds, f"/virtual/{i}.dcm") for i, ds in enumerate(pushdown._instances(72))]
    assert db.apply(files, []) == []
    atexit.register(db.close)
    return db


def _pushdown(given: tuple[Dataset, QROptions], *, fast: bool) -> object:
    ds, options = given
    options = options if fast else dataclasses.replace(options, pushdown=False)
    return pushdown._run(QRService(_qr_store(), options), ds)


_STUDY_QUERIES = st.tuples(
    st.lists(st.sampled_from(pushdown.RETURN_KEYS), min_size=1, max_size=6, unique=True),
    st.sampled_from(("", "doe*", "Müller*", "*")),
    st.sampled_from((EXPLICIT_VR_LE, IMPLICIT_VR_LE)),
)


def _encoded(given: tuple[list[str], str, str], *, fast: bool) -> object:
    keys, name, syntax = given
    service = QRService(_qr_store(), QROptions(fast_encode=fast))
    return pushdown._encoded(service, pushdown.study_query(keys, name), syntax)


# -- net/ -----------------------------------------------------------------------------------


def _associations(count: int, *, replay: bool) -> list[bytes]:
    """A-ASSOCIATE-AC PDUs for ``count`` identical RQs: from the wire, or negotiated anew."""

    async def run() -> list[bytes]:
        async with serve(ServerConfig(), {"worklist": counting_handler(0, Recorder())}) as srv:
            if replay:
                return [await _answer(srv.port) for _ in range(count)]
            return [_expected_ac(srv.policy) for _ in range(count)]

    return asyncio.run(run())


def _client(given: tuple[list[Any], int], *, fast: bool) -> object:
    """The client's lock-free starts (or the lock path), then one stream read from its
    queue by ``_take`` (results arrived before they were asked for) or awaited by ``_next``."""
    ops, count = given

    async def stream() -> list[tuple[int, bytes | None]]:
        handlers = {"worklist": counting_handler(count, Recorder())}
        async with serve(ServerConfig(), handlers) as srv, connect("127.0.0.1", srv.port) as assoc:
            results = assoc.find_responses(query())
            got = [await anext(results)]  # starts the operation
            if fast:
                await asyncio.sleep(0.1)  # the rest arrives meanwhile: queued
            got += [result async for result in results]
        return [(result.status, result.raw) for result in got]

    return asyncio.run(run_ops(ops, fast=fast)), asyncio.run(stream())


WHOLE: tuple[Twin, ...] = (
    Twin(
        "worklist/query.py",
        lambda query: _answers(query, _service(queries=True, answers=False), twice=True),
        lambda query: _answers(query, _service(queries=False, answers=False), twice=False),
        _MWL_QUERIES,
        examples=20,
    ),
    Twin(
        "worklist/answers.py",
        lambda query: _answers(query, _service(queries=False, answers=True), twice=True),
        lambda query: _answers(query, _service(queries=False, answers=False), twice=False),
        _MWL_QUERIES,
        examples=20,
    ),
    Twin(
        "store/readahead.py",
        _load,
        lambda given: _load((0, False)),
        st.tuples(st.sampled_from((1, 3, 128)), st.booleans()),
        examples=6,
    ),
    Twin(
        "store/qr_header.py",
        _header_fast,
        lambda given: qr_build._both(_header_file(given))[1],
        _HEADER_VALUES,
        declines=True,
    ),
    Twin(
        "store/qr_sql_select.py",
        lambda given: _pushdown(given, fast=True),
        lambda given: _pushdown(given, fast=False),
        st.tuples(pushdown.identifiers(), st.sampled_from(pushdown.OPTIONS)),
    ),
    Twin(
        "qr/response.py",
        lambda given: _encoded(given, fast=True),
        lambda given: _encoded(given, fast=False),
        _STUDY_QUERIES,
        examples=20,
    ),
    Twin(
        "net/scp.py",
        lambda count: _associations(count, replay=True),
        lambda count: _associations(count, replay=False),
        st.integers(1, 3),
        examples=3,
    ),
    Twin(
        "net/client.py",
        lambda ops: _client(ops, fast=True),
        lambda ops: _client(ops, fast=False),
        st.tuples(ops_strategy, st.integers(0, 5)),
        examples=5,
    ),
)
