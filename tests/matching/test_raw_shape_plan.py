"""The one-pass scanner and the per-shape compile plan agree with the general paths.

``scan_identifier`` must read exactly the elements ``parse_identifier`` reads, with one
shape key for identifiers of one shape; ``ShapePlan.compile`` (only the keys with a value
are compiled) must give what ``compile_query`` gives on a Dataset, refusals included
(PS3.4 C.2.2.2), for any values of the plan's shape; and the worklist service's template
path must prepare exactly what the raw path (``prepare_raw``) prepares, with the key
analysis of ``prepare_query`` (PS3.4 K.4.1.1.4, C.2.2.1.3).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.scan import parse_identifier, scan_identifier
from aiodicom.errors import DataError, QueryError
from aiodicom.matching import CompiledQuery, MatchOptions, compile_query
from aiodicom.matching.raw import KeyMemo, ShapePlan
from aiodicom.worklist.query import PreparedQuery, QueryCache, analyse_keys, prepare_raw, raw_shape
from tests.expected_warnings import PYDICOM_INVALID_INPUT
from tests.matching.test_raw_compile import (
    SYNTAXES,
    _charset_ok,
    charsets,
    dates,
    identifiers,
    names,
    texts,
    times,
    uids,
    zones,
)
from tests.store.worklist_support import request

pytestmark = PYDICOM_INVALID_INPUT  # hypothesis feeds invalid values on purpose

TOP = {"PatientName": names, "PatientID": texts, "AccessionNumber": texts,
       "StudyInstanceUID": uids, "PatientBirthDate": dates, "PatientBirthTime": times,
       "StudyDescription": texts}  # fmt: skip
"""Top-level keys (StudyDescription is not a worklist key: stripped by the service)."""
ITEM = {"Modality": st.sampled_from(["", "CT", "C*", '""', "*"]),
        "ScheduledProcedureStepStartDate": dates, "ScheduledProcedureStepStartTime": times,
        "ScheduledPerformingPhysicianName": names.filter(str.isascii),
        "StudyDescription": texts}  # fmt: skip
"""SPS item keys (StudyDescription is not an SPS key: stripped by the service)."""

Structure = tuple[bool, bool, tuple[str, ...], int | None, tuple[str, ...]]
"""(charset, time zone, top keys, SPS items or None, item keys)."""


@st.composite
def structures(draw: st.DrawFn) -> Structure:
    top = tuple(key for key in TOP if draw(st.booleans()))
    items = draw(st.sampled_from([None, 0, 1, 1, 1, 2]))
    item = tuple(key for key in ITEM if draw(st.booleans()))
    return draw(st.booleans()), draw(st.booleans()), top, items, item


@st.composite
def identifier_of(draw: st.DrawFn, structure: Structure, empty: bool = False) -> Dataset:
    """An identifier of the given structure; random values (all empty when ``empty``)."""
    charset_present, zone_present, top, items, item_keys = structure
    ds = Dataset()
    charset = None
    if charset_present:
        charset = "" if empty else draw(charsets.filter(lambda term: term is not None))
        ds.SpecificCharacterSet = charset
    if zone_present:
        ds.TimezoneOffsetFromUTC = "" if empty else draw(zones.filter(bool))
    for keyword in top:
        value = "" if empty else draw(TOP[keyword])
        setattr(ds, keyword, value if _charset_ok(value, charset) else "")
    if items is not None:
        steps = []
        for _ in range(items):
            step = Dataset()
            for keyword in item_keys:
                value = "" if empty else draw(ITEM[keyword])
                setattr(step, keyword, value if _charset_ok(value, charset) else "")
            steps.append(step)
        ds.ScheduledProcedureStepSequence = steps
    return ds


def _encoded(identifier: Dataset, syntax: str) -> bytes:
    try:
        return encode_identifier(identifier, syntax)
    except DataError:  # a value the drawn character set cannot hold
        assume(False)
        raise


def deep_view(compiled: CompiledQuery) -> tuple[object, ...]:
    """Every compiled key as data, sequence items recursively with their encodings."""
    keys = {
        tag: (spec.vr, spec.kind, spec.text, spec.values, spec.bounds, spec.range,
              spec.combined_with, None if spec.sub is None else deep_view(spec.sub))
        for tag, spec in compiled.keys.items()
    }  # fmt: skip
    return keys, compiled.encodings, compiled.return_keys, compiled.matching_keys


def _outcome(build: Any) -> tuple[str, object]:
    try:
        compiled: CompiledQuery = build()
    except QueryError as exc:
        return "refused", (exc.status, exc.comment)
    return "compiled", deep_view(compiled)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(identifier=identifiers(), syntax=st.sampled_from(SYNTAXES), cut=st.integers(0, 400),
       flip=st.integers(0, 400), byte=st.integers(0, 255))  # fmt: skip
def test_scan_reads_what_the_reader_reads(
    identifier: Dataset, syntax: str, cut: int, flip: int, byte: int
) -> None:
    data = _encoded(identifier, syntax)
    scanned = scan_identifier(data, syntax)
    assert scanned is not None  # the usual identifier takes the one-pass scan
    assert list(scanned[0].items()) == list((parse_identifier(data, syntax) or {}).items())
    assert raw_shape(scanned[0]) is not None
    if syntax == SYNTAXES[2]:
        return  # deflated: damaged bytes mostly fail to inflate
    damaged = bytearray(data[: max(cut, 1)] if cut < len(data) else data)
    if flip < len(damaged):
        damaged[flip] = byte
    scanned = scan_identifier(bytes(damaged), syntax)
    if scanned is not None:  # the scanner never reads what the reader would not
        parsed = parse_identifier(bytes(damaged), syntax)
        assert parsed is not None
        assert list(scanned[0].items()) == list(parsed.items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), structure=structures(), syntax=st.sampled_from(SYNTAXES),
       pn_case_sensitive=st.booleans(), combine=st.booleans())  # fmt: skip
def test_plan_compiles_like_the_dataset_path(
    data: st.DataObject, structure: Structure, syntax: str, pn_case_sensitive: bool, combine: bool
) -> None:
    options = MatchOptions(pn_case_sensitive=pn_case_sensitive, combine_datetime=combine)
    sample = scan_identifier(_encoded(data.draw(identifier_of(structure)), syntax), syntax)
    assert sample is not None
    plan, memo = ShapePlan(sample[0]), KeyMemo()
    for _ in range(3):  # one plan, one memo: later queries hit the kept constants
        encoded = _encoded(data.draw(identifier_of(structure)), syntax)
        scanned = scan_identifier(encoded, syntax)
        assert scanned is not None
        assert scanned[1] == sample[1]  # one structure, one shape key
        got = _outcome(lambda: plan.compile(scanned[0], options, memo))  # noqa: B023
        decoded = decode_identifier(encoded, syntax, materialize=False)
        assert got == _outcome(lambda: compile_query(decoded, options))  # noqa: B023


def _wire(identifier: Dataset, syntax: str) -> Any:
    wire = request(Dataset(), syntax=syntax)
    wire._identifier = None
    wire.identifier_bytes = _encoded(identifier, syntax)
    return wire


def _prepared_view(build: Any) -> tuple[str, object]:
    try:
        prepared: PreparedQuery = build()
    except QueryError as exc:
        return "refused", (exc.status, exc.comment)
    analysis = (prepared.plan, prepared.unsupported, prepared.unsupported_names)
    return "prepared", (analysis, deep_view(prepared.compiled))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), structure=structures(), syntax=st.sampled_from(SYNTAXES))
def test_template_prepares_like_the_raw_path(
    data: st.DataObject, structure: Structure, syntax: str
) -> None:
    """Template path == prepare_raw (the raw path test_raw_compile ties to compile_query)
    with the key analysis of prepare_query (unsupported keys, response plan)."""
    cache, options = QueryCache(), MatchOptions()
    first = _wire(data.draw(identifier_of(structure, empty=True)), syntax)
    try:
        cache._prepare_by_shape(first, options)
    except QueryError:
        assert structure[3] == 2  # two items: refused (C.2.2.2.6), and no template is kept
        assert not cache._templates
        return
    assert len(cache._templates) == 1
    for _ in range(3):
        wire = _wire(data.draw(identifier_of(structure)), syntax)
        encoded = wire.identifier_bytes
        analysis, _ = analyse_keys(decode_identifier(encoded, syntax, materialize=False))
        elements = parse_identifier(encoded, syntax)
        assert elements is not None
        expected = _prepared_view(lambda: prepare_raw(elements, options, analysis, KeyMemo()))  # noqa: B023
        assert _prepared_view(lambda: cache._prepare_by_shape(wire, options)) == expected  # noqa: B023
    assert len(cache._templates) == 1  # every query of the structure took the template


def test_keyed_queries_of_one_shape_share_one_template() -> None:
    cache, options = QueryCache(), MatchOptions()
    for number in range(3):
        query = Dataset()
        query.PatientName, query.PatientID = "", f"PID{number}"
        step = Dataset()
        step.Modality = ""
        query.ScheduledProcedureStepSequence = [step]
        prepared = cache._prepare_by_shape(_wire(query, SYNTAXES[1]), options)
        assert prepared.compiled.matching_keys == (0x00100020,)
        assert prepared.compiled.keys[0x00100020].text == f"PID{number}"
    assert len(cache._templates) == 1  # the first prepared the general way, then a template
