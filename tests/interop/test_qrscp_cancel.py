"""C-CANCEL over the network against aiodicom-qrscp on a few thousand instances.

PS3.7 9.3.2.3: after a C-CANCEL-RQ the SCP ends the C-FIND with a final response of
status 0xFE00 (Matching terminated due to Cancel request, PS3.4 C.4.1.1.4). With 3,000
matches the cancel lands while the server is still streaming, so the final status must
be 0xFE00 and far fewer responses than matches must have been sent; the association
must answer the next query normally.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom.testing.qr_sample import SampleShape, write_sample
from servers.qrscp.app import QRApp
from tests.qr.helpers import query, run_findscu, running_app

pytestmark = pytest.mark.interop
SHAPE = SampleShape(patients=30, studies_per_patient=2, series_per_study=2, instances_per_series=25)
TOTAL = SHAPE.total_instances  # 3,000
CANCEL = 0xFE00


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("qr-cancel") / "data"
    write_sample(folder, SHAPE, time_limit=90)
    return folder


@pytest.fixture
async def app(big_folder: Path, qr_index: str | Path) -> AsyncIterator[QRApp]:
    async with running_app(big_folder, qr_index, watch=False) as started:
        counts = started.store.counts()
        assert counts["instance"] == TOTAL
        yield started


def every_instance() -> Dataset:
    """All 3,000 instances (relational IMAGE query, extended negotiation byte 0)."""
    return query("IMAGE", SOPInstanceUID="", InstanceNumber="")


async def test_our_scu_cancels_after_five_responses(app: QRApp) -> None:
    async with aiodicom.connect(
        "127.0.0.1",
        app.port,
        called_ae="QRSCP",
        models=["study"],
        extended_negotiation={"study": b"\x01"},
        max_pdu_length=16384,
    ) as assoc:
        for _round in range(2):  # cancel twice on the same association
            stream = assoc.find(every_instance(), "study")
            seen = 0
            async for _item in stream:
                seen += 1
                if seen == 5:
                    break
            await stream.aclose()
            assert stream.cancelled
            assert stream.status == CANCEL, stream.status
            assert stream.responses < TOTAL // 2, stream.responses
        # the association is still usable: a full query answers everything
        complete = assoc.find(every_instance(), "study")
        count = 0
        async for _item in complete:
            count += 1
        assert complete.status == 0x0000
        assert count == TOTAL


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
async def test_findscu_cancel_after_two(app: QRApp, tmp_path: Path) -> None:
    """/usr/bin/findscu --cancel 2 --repeat 2: one association, two identical queries.

    findscu counts responses across repeats, so only the first query is cancelled; the
    second one, on the same association, must then be answered completely. findscu has
    no relational option, so the hierarchical IMAGE query uses a wildcard in the unique
    keys above the level (accepted, like dcmqrscp) to match every instance.
    """
    keys = ["QueryRetrieveLevel=IMAGE", "StudyInstanceUID=*", "SeriesInstanceUID=*"]
    keys.append("SOPInstanceUID")
    result = await run_findscu(
        app.port, "-S", keys, tmp_path / "rsp", extra=["--cancel", "2", "--repeat", "2"]
    )
    finals = _FINALS.findall(result.output)
    assert len(finals) == 2, result.output[-2000:]
    assert "Cancel" in finals[0] and "MatchingTerminatedDueToCancelRequest" in finals[0]
    assert finals[1] == "Success"
    until_cancelled = _FINALS.split(result.output, maxsplit=1)[0]
    sent_before_cancel = len(_PENDING.findall(until_cancelled))
    assert 2 <= sent_before_cancel < TOTAL // 2, sent_before_cancel
    assert len(_PENDING.findall(result.output)) == sent_before_cancel + TOTAL


_PENDING = re.compile(r"Received Find Response \d+ \(Pending\)")
_FINALS = re.compile(r"Received Final Find Response \(([^)]*)\)")
