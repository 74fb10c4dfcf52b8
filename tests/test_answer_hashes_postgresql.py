"""The Q/R answer streams of ``tests/test_answer_hashes.py``, on a PostgreSQL index.

The same queries, the same recorded digests (``fixtures/answer_hashes.json``): with
``--index postgresql://...`` every byte the SCP sends is the one it sends on SQLite.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.hardening.support import qr_process
from tests.pg_cluster import PgCluster
from tests.test_answer_hashes import EXPECTED_FILE, _qr_digests

pytestmark = pytest.mark.interop


def test_qr_answer_streams_are_byte_identical_on_postgresql(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    url = pg_cluster.fresh_database()
    with qr_process(tmp_path, ["--index", url]) as (_process, port):
        digests = asyncio.run(_qr_digests(port))
    expected = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    assert digests == {key: value for key, value in expected.items() if key.startswith("qr/")}
    assert len(digests) == 14
