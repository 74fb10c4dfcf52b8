"""``aiodicom-worklist`` serves MPPS as its ``mpps:`` config section says: on by default on
the worklist's port and AE titles (and listed by its HTTP API), off with
``enabled: false``, instances in ``folder`` (relative to the config file) and
``keep_final`` passed on."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import yaml

import aiodicom
from aiodicom.config import load_worklist_config
from aiodicom.errors import NegotiationError
from aiodicom.net import Server, ServerConfig
from aiodicom.proto.messages import CommandField
from aiodicom.store import WorklistStore
from aiodicom.webapi import QueryLog
from servers.worklist import mppsglue
from tests.clients.peers import free_port, stop_process
from tests.worklist.mpps_support import (
    AE,
    MPPS_SOP_CLASS,
    create_attributes,
    make_worklist,
    scheduled_step,
    start_worklist_program,
)


def _config(folder: Path, data: Path, mpps: dict[str, object]) -> Path:
    path = folder / "worklist.yaml"
    document = {"worklist": {"data": str(data), "watch": False}, "mpps": mpps}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_the_mpps_section_is_read_and_attached(tmp_path: Path) -> None:
    data = make_worklist(tmp_path / "data", 1)
    path = _config(tmp_path, data, {"folder": "instances", "keep_final": True})
    config = load_worklist_config(path)
    assert config.mpps.folder == tmp_path / "instances" and config.mpps.keep_final
    server = Server(ServerConfig(ae_title=AE), {})
    mpps = mppsglue.attach(config, WorklistStore(data), server, QueryLog(5))
    assert mpps is not None and mpps.folder == tmp_path / "instances"
    assert CommandField.N_CREATE_RQ in server.operations
    assert MPPS_SOP_CLASS in server.policy.abstract_syntaxes
    off = load_worklist_config(_config(tmp_path, data, {"enabled": False}))
    quiet = Server(ServerConfig(ae_title=AE), {})
    assert mppsglue.attach(off, WorklistStore(data), quiet, QueryLog(5)) is None
    assert CommandField.N_CREATE_RQ not in quiet.operations
    assert load_worklist_config(None).mpps.enabled  # on by default


@pytest.mark.slow
async def test_the_worklist_program_serves_mpps_and_lists_it(tmp_path: Path) -> None:
    data = make_worklist(tmp_path / "data", 1)
    port, http_port = free_port(), free_port()
    args = ["--data", str(data), "--port", str(port), "--ae-title", AE, "--http-port",
            str(http_port), "--no-watch"]  # fmt: skip
    process = start_worklist_program(args, tmp_path / "server.log", port, http_port)
    try:
        async with aiodicom.connect(
            "127.0.0.1", port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
        ) as assoc:
            attributes = create_attributes(scheduled_step(1))
            assert (await assoc.n_create(MPPS_SOP_CLASS, "1.2.11.1", attributes)).status == 0
        async with (
            aiohttp.ClientSession(f"http://127.0.0.1:{http_port}") as http,
            http.get("/api/mpps/1.2.11.1") as response,
        ):
            body = await response.json()
        assert body["status"] == "IN PROGRESS" and body["worklist_steps"][0]["item_id"] == "mpps-1"
        assert (data / ".mpps" / "1.2.11.1.json").is_file()
    finally:
        stop_process(process)


@pytest.mark.slow
async def test_mpps_off_refuses_the_presentation_context(tmp_path: Path) -> None:
    data = make_worklist(tmp_path / "data", 1)
    port = free_port()
    path = _config(tmp_path, data, {"enabled": False})
    args = ["--config", str(path), "--port", str(port), "--ae-title", AE, "--no-http"]
    process = start_worklist_program(args, tmp_path / "server.log", port)
    try:
        async with aiodicom.connect(
            "127.0.0.1", port, called_ae=AE, sop_classes=[MPPS_SOP_CLASS]
        ) as assoc:
            with pytest.raises(NegotiationError):
                await assoc.n_create(
                    MPPS_SOP_CLASS, "1.2.11.2", create_attributes(scheduled_step(1))
                )
            assert await assoc.echo() == 0
    finally:
        stop_process(process)
