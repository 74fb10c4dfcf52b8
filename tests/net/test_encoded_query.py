"""Pre-encoded C-FIND queries (EncodedQuery / encode_query) and the C-FIND-RQ template."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import EncodedQuery, FindRequest, ServerConfig, encode_query
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.net.query import FindRQTemplate
from aiodicom.proto.negotiation import EXPLICIT_VR_LE, IMPLICIT_VR_LE
from aiodicom.proto.status import SUCCESS

WORKLIST_UID = aiodicom.QueryModel.WORKLIST.sop_class_uid


def the_query() -> Dataset:
    ds = Dataset()
    ds.PatientName = "DOE^*"
    ds.PatientID = ""
    return ds


def test_template_patches_only_the_message_id() -> None:
    template = FindRQTemplate(WORKLIST_UID, priority=2)
    for message_id in (1, 258, 65535):
        command = template.check(message_id)
        assert command.message_id == message_id
        assert command.affected_sop_class_uid == WORKLIST_UID
        assert command.priority == 2


def test_encoded_query_reencodes_only_for_another_syntax() -> None:
    encoded = encode_query(the_query(), EXPLICIT_VR_LE)
    assert encoded.for_syntax(EXPLICIT_VR_LE) is encoded.data
    implicit = encoded.for_syntax(IMPLICIT_VR_LE)
    assert implicit == encode_identifier(the_query(), IMPLICIT_VR_LE)
    assert encoded.for_syntax(IMPLICIT_VR_LE) is implicit  # cached
    raw_only = EncodedQuery(encoded.data, EXPLICIT_VR_LE)  # no Dataset: decoded once
    assert raw_only.for_syntax(IMPLICIT_VR_LE) == implicit
    assert str(raw_only.dataset.PatientName) == "DOE^*"


@pytest.mark.parametrize("proposed", [EXPLICIT_VR_LE, IMPLICIT_VR_LE])
async def test_find_with_an_encoded_query(proposed: str) -> None:
    seen: list[tuple[bytes, str]] = []

    async def handler(request: FindRequest) -> AsyncIterator[Dataset]:
        seen.append((request.identifier_bytes, request.transfer_syntax))
        yield request.identifier

    encoded = encode_query(the_query(), EXPLICIT_VR_LE)
    async with (
        aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
        aiodicom.connect("127.0.0.1", server.port, transfer_syntaxes=[proposed]) as assoc,
    ):
        for _ in range(3):
            matches = [ds async for ds in assoc.find(encoded)]
            assert [str(ds.PatientName) for ds in matches] == ["DOE^*"]
        finals = [r async for r in assoc.find_responses(encoded) if r.is_final]
        assert [r.status for r in finals] == [SUCCESS]
    assert len(seen) == 4
    assert {ts for _, ts in seen} == {proposed}
    assert {raw for raw, _ in seen} == {encode_identifier(the_query(), proposed)}
