"""The worklist server's ``server.async_ops_window`` (PS3.7 D.3.3.3): config and loopback.

With a window above 1 an SCU may pipeline keyed queries on one association; each must
get exactly the answer it gets alone, and the eager worklist handler must keep them apart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import aiodicom
from aiodicom.config import load_worklist_config
from aiodicom.errors import ConfigError
from aiodicom.store.worklist import WorklistStore
from aiodicom.worklist.sample import write_folder
from aiodicom.worklist.service import WorklistService
from servers.network import network_policy
from tests.store.worklist_support import mwl_query

PATIENTS = [f"PID{index:07d}" for index in range(12)]


def write_config(tmp_path: Path, window: object) -> Path:
    path = tmp_path / "worklist.yaml"
    path.write_text(f"server: {{async_ops_window: {window}}}\nworklist: {{data: data}}\n")
    (tmp_path / "data").mkdir(exist_ok=True)
    return path


def test_window_reaches_the_server_policy(tmp_path: Path) -> None:
    config = load_worklist_config(write_config(tmp_path, 8))
    assert network_policy(config.server).async_ops_window == 8
    assert network_policy(load_worklist_config(None).server).async_ops_window == 1


@pytest.mark.parametrize("window", [0, 70000, "many"])
def test_bad_window_names_the_key(tmp_path: Path, window: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_worklist_config(write_config(tmp_path, window))
    assert "server.async_ops_window" in str(caught.value)


async def test_pipelined_keyed_queries_get_their_own_answers(tmp_path: Path) -> None:
    write_folder(tmp_path, "WLMSCP", 12, seed=7)
    service = WorklistService(WorklistStore(tmp_path))
    config = load_worklist_config(write_config(tmp_path, 4))
    policy = network_policy(config.server, accept_called_ae=service.store.has_ae)
    async with (
        aiodicom.serve(policy, service.handlers()) as server,
        aiodicom.connect(
            "127.0.0.1", server.port, called_ae="WLMSCP", async_ops_window=(4, 4)
        ) as assoc,
    ):
        assert assoc.window == 4

        async def ids(patient: str) -> list[str]:
            return [str(ds.PatientID) async for ds in assoc.find(mwl_query(PatientID=patient))]

        alone = [await ids(patient) for patient in PATIENTS]
        together = await asyncio.gather(*(ids(patient) for patient in PATIENTS))
    assert together == alone
    assert all(found == [patient] for found, patient in zip(alone, PATIENTS, strict=True))
