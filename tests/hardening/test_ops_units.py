"""Socket-light unit tests of aiodicom.ops: audit key description, metrics, lifecycle."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import structlog
from pydicom import Dataset

import aiodicom
from aiodicom import ServerConfig
from aiodicom.errors import ConfigError
from aiodicom.log import configure
from aiodicom.net.types import FindRequest
from aiodicom.ops.audit import MAX_KEYS, MAX_VALUE, AuditLog, describe_keys
from aiodicom.ops.lifecycle import Lifecycle, run_workers
from aiodicom.ops.metrics import Metrics
from aiodicom.ops.security import AccessPolicy, load_security
from aiodicom.ops.server import OpsServer
from aiodicom.proto.negotiation import QueryModel


def test_describe_keys_splits_matching_and_return_keys() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "DOE*"
    ds.PatientID = ""
    step = Dataset()
    step.Modality = "CT"
    ds.ScheduledProcedureStepSequence = [step]
    keys = describe_keys(ds)
    assert keys == {
        "match": {"PatientName": "DOE*"},
        "return": ["PatientID", "ScheduledProcedureStepSequence[Modality]"],
        "more": 0,
    }


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_describe_keys_is_bounded() -> None:
    """10,000 keys and a 10 kB value give a short line: MAX_KEYS listed, rest counted."""
    ds = Dataset()
    ds.PatientName = "X" * 10_000
    for index in range(10_000):
        ds.add_new((0x0011, 0x1000 + index), "LO", "")
    keys = describe_keys(ds)
    assert len(keys["match"]) + len(keys["return"]) == MAX_KEYS
    assert keys["more"] == 10_001 - MAX_KEYS
    assert len(keys["match"]["PatientName"]) == MAX_VALUE + 3


def test_metrics_count_and_render() -> None:
    metrics = Metrics()
    metrics.association_ended("released")
    metrics.association_ended("aborted:peer")
    metrics.rejected("calling-ae-not-allowed")
    metrics.query_done("worklist", 0x0000, 5, 0.003)
    metrics.query_done("worklist", 0xA700, 0, 0.001)
    text = metrics.render()
    assert 'aiodicom_associations_total{outcome="released"} 1.0' in text
    assert 'aiodicom_aborts_total{by="peer"} 1.0' in text
    assert 'aiodicom_rejects_total{reason="calling-ae-not-allowed"} 1.0' in text
    assert 'aiodicom_queries_total{model="worklist",status="0xA700"} 1.0' in text
    assert "aiodicom_matches_total 5.0" in text
    assert 'aiodicom_query_seconds_count{model="worklist"} 2.0' in text


async def test_lifecycle_reload_failure_keeps_running_then_stops_on_sigterm() -> None:
    """A reload raising ConfigError is logged and counted as not done; SIGTERM (sent to
    this very process) still stops the server cleanly with exit code 0."""
    calls: list[str] = []

    async def reload() -> None:
        calls.append("reload")
        if len(calls) == 1:
            raise ConfigError("x.yaml", "server.port", "a port")

    server = OpsServer(ServerConfig(), {})
    await server.start()
    lifecycle = Lifecycle(server, reload=reload, shutdown_deadline=1.0)
    runner = asyncio.create_task(lifecycle.run())
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGHUP)
    await asyncio.sleep(0.1)
    lifecycle.request_reload()
    await asyncio.sleep(0.1)
    async with aiodicom.connect("127.0.0.1", server.port) as assoc:
        assert await assoc.echo() == 0
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(runner, 5) == 0
    assert calls == ["reload", "reload"] and lifecycle.reloads == 1
    assert not server.is_serving


def test_run_workers_reports_failures() -> None:
    """The supervisor exits 1 when any worker fails, 0 when all succeed."""
    assert run_workers(2, lambda index: 0) == 0
    assert run_workers(2, lambda index: index) == 1
    with pytest.raises(ValueError):
        run_workers(0, lambda index: 0)


def test_bundled_security_sample_loads_and_means_what_its_comments_say() -> None:
    """config/security.yaml: users from the environment, a closed per-called-AE list."""
    sample = Path(__file__).resolve().parents[2] / "config" / "security.yaml"
    section = load_security(sample)
    assert section.tls is None
    assert section.user_identity is not None
    assert [user.username for user in section.user_identity.users] == ["modality"]
    assert section.access is not None
    policy = AccessPolicy(section.access)
    assert policy.allows("WLMSCP", "CT01", "127.0.0.1")
    assert not policy.allows("WLMSCP", "CT01", "10.1.2.3")
    assert not policy.allows("WLMSCP", "INTRUDER", "127.0.0.1")
    assert not policy.allows("OTHERAE", "CT01", "127.0.0.1")


@pytest.mark.parametrize(("level", "described"), [("info", 1), ("warning", 0)])
def test_audit_query_describes_keys_only_when_the_line_is_logged(
    level: str, described: int
) -> None:
    """The key description reads the whole identifier: not done for a filtered line."""
    calls: list[Dataset] = []

    def counting(identifier: Dataset) -> dict[str, object]:
        calls.append(identifier)
        return {}

    saved = structlog.get_config()
    configure("console", level)
    try:
        request = FindRequest(
            identifier=Dataset(),
            identifier_bytes=b"",
            transfer_syntax="1.2.840.10008.1.2",
            sop_class_uid=QueryModel.WORKLIST.sop_class_uid,
            model=QueryModel.WORKLIST,
            message_id=1,
            priority=0,
            calling_ae="A",
            called_ae="B",
            peer=("127.0.0.1", 1),
            association_id="x",
        )
        audit = AuditLog(describe=counting)
        audit.query(request, matches=0, status=0, outcome="done", seconds=0.0)
    finally:
        structlog.configure(**saved)
    assert len(calls) == described
