"""Fuzzing with a short budget (CI): the sans-IO core and a live in-process server.

Hypothesis builds PDUs with ``tests/proto/pdu_strategies.py`` and the structure-aware
mutator of :mod:`tests.hardening.fuzzing` damages them; a seeded random loop does the same
on the seed corpus against a live :class:`aiodicom.Server` (bench/fuzz.py, bounded).
Expected: no exception but ProtocolError/DataError, nothing logged by the server at
error level or with a traceback, no hang, every connection ends in A-ABORT,
A-ASSOCIATE-RJ, DIMSE statuses or a close, and the server keeps answering C-ECHO.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
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
from tests.hardening import fuzzing, service_fuzz
from tests.proto import pdu_strategies as pst

HANG_AFTER = 5.0
bench_fuzz = importlib.import_module("bench.fuzz")
"""bench/fuzz.py: bench/ is scripts, not a package, so mypy knows the file as ``fuzz``;
imported by name here, it is not checked twice under two module names."""


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


@pytest.mark.filterwarnings("ignore::UserWarning:pydicom")  # garbage identifiers, expected
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


FUZZ_SESSIONS = 4000
FUZZ_SECONDS = 60.0


async def test_bench_fuzzer_against_a_live_server(tmp_path: Path) -> None:
    """bench/fuzz.py's server target with a bounded budget (issue 15, "Also"): the seeds,
    then mutated sessions from 4 concurrent peers, at most FUZZ_SESSIONS or FUZZ_SECONDS.
    Any exception the event loop reports, any exception or error the server logs, any
    hang or unanswered C-ECHO fails it."""
    report = bench_fuzz.Report("random", "server")
    corpus = fuzzing.load_corpus()
    await bench_fuzz.fuzz_server(
        report, random.Random(20261206), corpus, FUZZ_SECONDS, tmp_path,
        max_inputs=FUZZ_SESSIONS,
    )  # fmt: skip
    assert report.crash_kinds == Counter(), report.as_dict()
    assert report.crashes == report.hangs == 0
    assert report.inputs >= min(FUZZ_SESSIONS, 1000), report.as_dict()
    outcomes = report.outcomes
    assert outcomes["server:open-connections-at-end"] == 0
    # the sessions reach DIMSE and release, not only the A-ASSOCIATE-RQ
    assert outcomes["server:ac+pdata"] > 0 and outcomes["server:ac+release-rp"] > 0, outcomes
    assert _saved(tmp_path) == []  # no crash input saved


def _saved(crash_dir: Path) -> list[Path]:
    """The crash inputs bench/fuzz.py saved."""
    return sorted(crash_dir.glob("crash-*.bin"))


async def _failing_handler(request: FindRequest) -> AsyncIterator[Dataset]:
    yield Dataset()
    raise RuntimeError("handler bug")


async def test_bench_fuzzer_fails_on_an_exception_the_server_logs(tmp_path: Path) -> None:
    """The server survives a failing handler (final status 0xC000), but it logs the
    exception: the fuzzer counts that as a failure and saves the inputs in flight."""
    report = bench_fuzz.Report("random", "server")
    corpus = fuzzing.load_corpus()
    await bench_fuzz.fuzz_server(
        report, random.Random(1), corpus, FUZZ_SECONDS, tmp_path,
        max_inputs=len(corpus), handler=_failing_handler,
    )  # fmt: skip
    assert report.crashes > 0
    assert any(
        "c-find handler failed: RuntimeError: handler bug" in kind for kind in report.crash_kinds
    ), report.crash_kinds
    assert any("after fuzzing, a legitimate request" in kind for kind in report.crash_kinds)
    assert _saved(tmp_path)


SERVICE_SESSIONS = 600


@pytest.mark.parametrize("service", ["mpps", "store"])
async def test_bench_fuzzer_against_the_new_dimse_services(tmp_path: Path, service: str) -> None:
    """The same run against N-CREATE / N-SET of the worklist's MPPS SCP and streamed
    C-STORE of the Q/R SCP (tests/hardening/service_fuzz.py): mangled command sets and
    data sets, odd PDV boundaries, missing last fragments, aborts mid-stream, wrong
    contexts, path tricks. Nothing logged as an error, no hang, and afterwards a valid
    N-CREATE and worklist C-FIND (mpps), a valid C-STORE found by C-FIND (store)."""
    report = bench_fuzz.Report("random", "server")
    await bench_fuzz.fuzz_server(
        report, random.Random(20261206), service_fuzz.corpus(service), FUZZ_SECONDS,
        tmp_path, max_inputs=SERVICE_SESSIONS, service=service,
    )  # fmt: skip
    assert report.crash_kinds == Counter(), report.as_dict()
    assert report.crashes == report.hangs == 0
    assert report.inputs >= min(SERVICE_SESSIONS, 300), report.as_dict()
    outcomes = report.outcomes
    assert outcomes["server:open-connections-at-end"] == 0
    # DIMSE responses of the service, then the release (lingering sessions)
    assert outcomes["server:ac+pdata+release-rp"] > 0, outcomes
    assert _saved(tmp_path) == []


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
