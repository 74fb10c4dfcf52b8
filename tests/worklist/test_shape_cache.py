"""The shape cache of the worklist service: one key analysis per identifier shape.

Identifiers with the same keys and VRs share the unsupported keys (PS3.4 K.4.1.1.4) and
the response plan (PS3.4 C.2.2.1.3); the values are compiled per request (C.2.2.2).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.scan import parse_identifier
from aiodicom.matching import MatchOptions
from aiodicom.net.types import FindRequest
from aiodicom.worklist.query import QueryCache, Shape, prepare_query, raw_shape
from tests.store.worklist_support import EXPLICIT_LE, key_view, mwl_query, request

IMPLICIT_LE = "1.2.840.10008.1.2"


def wire(identifier: Dataset, syntax: str = EXPLICIT_LE) -> Dataset:
    """The identifier as the server sees it: decoded with raw values."""
    return decode_identifier(encode_identifier(identifier, syntax), syntax, materialize=False)


def on_the_wire(identifier: Dataset, syntax: str = EXPLICIT_LE) -> FindRequest:
    """A request carrying only the encoded identifier, as the server builds it."""
    wire_request = request(Dataset(), syntax=syntax)
    wire_request._identifier = None
    wire_request.identifier_bytes = encode_identifier(identifier, syntax)
    return wire_request


def shape_of(identifier: Dataset, syntax: str = EXPLICIT_LE) -> Shape | None:
    elements = parse_identifier(encode_identifier(identifier, syntax), syntax)
    assert elements is not None
    return raw_shape(elements)


def keyed(patient_id: str) -> Dataset:
    return mwl_query(PatientID=patient_id)


def with_unsupported(patient_id: str) -> Dataset:
    query = mwl_query(PatientID=patient_id)
    query.add_new(0x00100021, "LO", "")  # Issuer of Patient ID: not in Table K.6-1
    query.ScheduledProcedureStepSequence[0].add_new(0x00400007, "LO", "")  # SPS Description
    query.ScheduledProcedureStepSequence[0].add_new(0x00081030, "LO", "")  # not an SPS key
    return query


@pytest.mark.parametrize("syntax", [EXPLICIT_LE, IMPLICIT_LE])
@pytest.mark.parametrize("build", [keyed, with_unsupported])
def test_second_identifier_of_a_shape_prepares_like_an_uncached_one(
    syntax: str, build: Callable[[str], Dataset]
) -> None:
    cache = QueryCache()
    options = MatchOptions()
    first = cache._prepare_by_shape(on_the_wire(build("PID0000001"), syntax), options)
    second = cache._prepare_by_shape(on_the_wire(build("PID0000002"), syntax), options)
    assert len(cache._shapes) == 1
    assert len(cache.memo) > 0  # the second one was compiled from its raw elements
    for prepared, pid in ((first, "PID0000001"), (second, "PID0000002")):
        expected = prepare_query(wire(build(pid), syntax), options)
        assert prepared.plan == expected.plan
        assert prepared.unsupported == expected.unsupported
        assert prepared.unsupported_names == expected.unsupported_names
        assert prepared.keys == expected.keys
        assert key_view(prepared.compiled) == key_view(expected.compiled)
        assert prepared.compiled.keys[0x00100020].text == pid


def test_shapes_differ_by_keys_vr_and_items() -> None:
    base = shape_of(mwl_query(PatientID="A"))
    assert base is not None
    assert shape_of(mwl_query(PatientID="B")) == base
    assert shape_of(mwl_query(PatientID="A", PatientSex="")) != base
    other_vr = mwl_query(PatientID="A")
    other_vr["PatientID"].VR = "SH"
    assert shape_of(other_vr) != base
    no_item = mwl_query(PatientID="A")
    no_item.ScheduledProcedureStepSequence = []
    assert shape_of(no_item) != base


def test_private_tag_in_implicit_vr_has_no_shape_and_is_still_prepared() -> None:
    query = mwl_query(PatientID="A")
    query.add_new(0x00091010, "LO", "x")
    assert shape_of(query, IMPLICIT_LE) is None
    cache = QueryCache()
    prepared = cache._prepare_by_shape(on_the_wire(query, IMPLICIT_LE), MatchOptions())
    assert not cache._shapes
    assert prepared.unsupported == ((0x00091010,),)
