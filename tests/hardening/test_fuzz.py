"""Fuzzing with a short budget (CI): the sans-IO core and a live in-process server.

Hypothesis builds PDUs with ``tests/proto/pdu_strategies.py`` and the structure-aware
mutator of :mod:`tests.hardening.fuzzing` damages them; a seeded random loop does the same
on the seed corpus against a live :class:`aiodicom.Server`. Expected: no exception but
ProtocolError/DataError, no hang, every connection ends in A-ABORT, A-ASSOCIATE-RJ, DIMSE
statuses or a close, and the server keeps answering C-ECHO.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import Dataset

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.proto.pdu import encode_pdu
from aiodicom.proto.pdus import PDU, AssociateRQ
from aiodicom.proto.status import SUCCESS
from tests.hardening import fuzzing
from tests.proto import pdu_strategies as pst

LIVE_SECONDS = 4.0
HANG_AFTER = 5.0


def test_seed_corpus_is_current() -> None:
    """tests/fixtures/fuzz holds exactly what ``stream_seeds`` builds (regenerate with
    ``python -m tests.hardening.fuzzing``)."""
    for name, data in fuzzing.stream_seeds().items():
        assert (fuzzing.STREAM_SEEDS / name).read_bytes() == data, name


@given(st.lists(pst.any_pdu, min_size=1, max_size=4), st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_pdu_sequences_on_the_acceptor(pdus: list[PDU], rng: random.Random) -> None:
    """Random PDU sequences, mutated, into an acceptor Association: never raises."""
    data = b"".join(encode_pdu(p) for p in pdus)
    corpus = fuzzing.load_corpus()
    fuzzing.run_decoder(fuzzing.mutate(rng, data, corpus), rng)
    run = fuzzing.run_association(fuzzing.mutate(rng, data, corpus), rng)
    assert run.output <= fuzzing.MAX_OUTPUT


@given(pst.realistic_associate(True), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_requests_then_mutated_sessions(rq: Any, rng: random.Random) -> None:
    """A valid A-ASSOCIATE-RQ followed by a mutated seed session."""
    assert isinstance(rq, AssociateRQ)
    corpus = fuzzing.load_corpus()
    tail = fuzzing.mutate(rng, rng.choice(corpus), corpus)
    run = fuzzing.run_association(encode_pdu(rq) + tail, rng)
    assert run.outcome in {
        "incomplete",
        "AssociationRequested",
        "AssociationRejected",
        "MessageReceived",
        "ReleaseRequested",
        "Aborted",
        "ConnectionClosed",
    }


def test_seeded_random_loop_on_the_core() -> None:
    """2 s of the bench/fuzz.py loop (decoder + association): every input handled."""
    rng = random.Random(20261125)
    corpus = fuzzing.load_corpus()
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        data = fuzzing.mutate(rng, rng.choice(corpus), corpus)
        fuzzing.run_decoder(data, rng)
        outcomes[fuzzing.run_association(data, rng).outcome] += 1
    assert sum(outcomes.values()) > 500
    assert outcomes["Aborted"] > 0 and outcomes["MessageReceived"] + outcomes["Aborted"] > 0


async def _three_items(request: FindRequest) -> AsyncIterator[Dataset]:
    for index in range(3):
        ds = Dataset()
        ds.PatientName = f"FUZZ^{index}"
        yield ds


class LoopErrors:
    """Collects exceptions the event loop reports (a protocol callback or task that
    raised): each one is a crash of the server."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.errors.append(f"{context.get('message')}: {exc!r}")


async def _fuzz_live(seconds: float, seed: int) -> tuple[Counter[str], list[str]]:
    loop = asyncio.get_running_loop()
    errors = LoopErrors()
    loop.set_exception_handler(errors)
    rng = random.Random(seed)
    corpus = fuzzing.load_corpus()
    outcomes: Counter[str] = Counter()
    config = ServerConfig(artim_timeout=2.0, idle_timeout=2.0)
    async with aiodicom.serve(config, {"worklist": _three_items}) as server:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = fuzzing.mutate(rng, rng.choice(corpus), corpus)
            outcomes[await fuzzing.probe_server(server.port, data, rng, HANG_AFTER)] += 1
        async with aiodicom.connect("127.0.0.1", server.port) as assoc:
            assert await assoc.echo() == SUCCESS
    loop.set_exception_handler(None)
    return outcomes, errors.errors


async def test_live_server_survives_mutated_sessions() -> None:
    """Mutated sessions against a live server: no hang, no crash, echo still answered."""
    outcomes, errors = await _fuzz_live(LIVE_SECONDS, seed=7)
    assert outcomes["hang"] == 0, outcomes
    assert errors == [], errors[:3]
    assert sum(outcomes.values()) > 100
    assert set(outcomes) <= {
        "ac",
        "rj",
        "abort",
        "closed",
        "reset",
        "ac+pdata",
        "ac+abort",
        "ac+pdata+abort",
        "ac+release-rp",
        "ac+pdata+release-rp",
        "pdata",
        "pdata+abort",
        "release-rp",
    } | {k for k in outcomes if k.startswith("ac+")}, outcomes


REGRESSIONS = {
    # two A-ASSOCIATE-RQs in one read: the second aborts (AA-8) before we accept the first
    "two-requests-one-read": fuzzing._request() * 2,
    # an application context name that is not a UID: must be rejected, not crash encoding
    "bad-application-context": fuzzing._request().replace(
        b"1.2.840.10008.3.1.1.1", b"1.2.840.1000A.3.1.1.1"
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
async def test_regressions_found_by_fuzzing(name: str) -> None:
    """Expected: A-ABORT or A-ASSOCIATE-RJ on the wire; no exception in the server."""
    loop = asyncio.get_running_loop()
    errors = LoopErrors()
    loop.set_exception_handler(errors)
    try:
        async with aiodicom.serve(ServerConfig(), {"worklist": _three_items}) as server:
            reply = await fuzzing.probe_server(
                server.port, REGRESSIONS[name], random.Random(0), HANG_AFTER
            )
            async with aiodicom.connect("127.0.0.1", server.port) as assoc:
                assert await assoc.echo() == SUCCESS
    finally:
        loop.set_exception_handler(None)
    assert errors.errors == [], errors.errors
    assert reply in {"abort", "rj", "ac+abort"}, reply
