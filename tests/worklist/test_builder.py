"""Compiled response builders equal a plain walk of the plan, byte for byte.

The oracle below is written from PS3.5 7.1.2 / 7.1.3 (element headers), 7.3 (byte order)
and 7.5.1 (items of defined length), and PS3.4 C.4.1.1.3.2 / C.2.2.2.6 (requested keys
only, zero length when absent, only the matching sequence items).
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.dicom.reader import RawDataset
from aiodicom.dicom.syntax import LONG_VRS, swap
from aiodicom.dicom.writer import Syntax
from aiodicom.matching.model import EMPTY_RESULT, MatchResult
from aiodicom.worklist.builder import build_identifier, compile_builder
from aiodicom.worklist.query import FULL, IF_PRESENT, Plan

UIDS = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2")
LEAVES = (
    (0x00080005, "CS"),
    (0x00080050, "SH"),
    (0x00080060, "CS"),
    (0x00091010, "UT"),
    (0x00100010, "PN"),
    (0x00100020, "LO"),
    (0x00280010, "US"),
    (0x00400002, "DA"),
)
SEQUENCES = (0x00081110, 0x00400100)
ODD = 0x00321064
"""Stored as a leaf or as a sequence, and asked for as either: the mismatches must give
a zero-length element (a leaf asked, a sequence stored) or an empty sequence."""
CHARSET = 0x00080005


def _element(uid: str, tag: int, vr: str, value: bytes) -> bytes:
    little = uid != "1.2.840.10008.1.2.2"
    order = "<" if little else ">"
    data = value if little else swap(value, vr)
    group, element = tag >> 16, tag & 0xFFFF
    if uid == "1.2.840.10008.1.2":
        return struct.pack(order + "HHI", group, element, len(data)) + data
    if vr in LONG_VRS:
        return struct.pack(order + "HH2sHI", group, element, vr.encode(), 0, len(data)) + data
    return struct.pack(order + "HH2sH", group, element, vr.encode(), len(data)) + data


def _item(uid: str, body: bytes) -> bytes:
    order = "<" if uid != "1.2.840.10008.1.2.2" else ">"
    return struct.pack(order + "HHI", 0xFFFE, 0xE000, len(body)) + body


def _whole(uid: str, raw: RawDataset) -> bytes:
    parts = []
    for tag in sorted(raw):
        vr, value = raw[tag]
        if isinstance(value, tuple):
            parts.append(
                _element(uid, tag, "SQ", b"".join(_item(uid, _whole(uid, i)) for i in value))
            )
        else:
            parts.append(_element(uid, tag, vr, value))
    return b"".join(parts)


def oracle(uid: str, raw: RawDataset, plan: Plan, result: MatchResult) -> bytes:
    parts = []
    for tag, vr, sub in plan:
        pair = raw.get(tag)
        is_leaf = pair is not None and not isinstance(pair[1], tuple)
        if sub is None or sub == IF_PRESENT:
            if is_leaf:
                assert pair is not None and isinstance(pair[1], bytes)
                parts.append(_element(uid, tag, pair[0], pair[1]))
            elif sub is None:
                parts.append(_element(uid, tag, vr, b""))
            continue
        items = pair[1] if pair is not None and isinstance(pair[1], tuple) else ()
        chosen = result.sequence_items.get(tag, range(len(items)))
        bodies = []
        for index in chosen:
            if sub == FULL:
                bodies.append(_item(uid, _whole(uid, items[index])))
            else:
                assert isinstance(sub, tuple)
                inner = result.item_results.get((tag, index), EMPTY_RESULT)
                bodies.append(_item(uid, oracle(uid, items[index], sub, inner)))
        parts.append(_element(uid, tag, "SQ", b"".join(bodies)))
    return b"".join(parts)


values = st.binary(max_size=12)


@st.composite
def datasets(draw: st.DrawFn, depth: int = 1) -> RawDataset:
    raw: dict[int, tuple[str, bytes | tuple[RawDataset, ...]]] = {}
    for tag, vr in draw(st.lists(st.sampled_from(LEAVES), unique=True)):
        raw[tag] = (vr, draw(values))
    if depth:
        for tag in draw(st.lists(st.sampled_from(SEQUENCES), unique=True)):
            items = draw(st.lists(datasets(depth=depth - 1), max_size=3))
            raw[tag] = ("SQ", tuple(items))
    odd = draw(st.sampled_from(("none", "leaf", "sequence")))
    if odd == "leaf":
        raw[ODD] = ("LO", draw(values))
    elif odd == "sequence":
        raw[ODD] = ("SQ", tuple(draw(st.lists(datasets(depth=0), max_size=2))))
    return raw


@st.composite
def plans(draw: st.DrawFn, depth: int = 1) -> Plan:
    plan: list[tuple[int, str, Plan | str | None]] = []
    for tag, vr in draw(st.lists(st.sampled_from(LEAVES), unique=True)):
        marker = IF_PRESENT if tag == CHARSET and draw(st.booleans()) else None
        plan.append((tag, vr, marker))
    if depth:
        for tag in draw(st.lists(st.sampled_from(SEQUENCES), unique=True)):
            plan.append((tag, "SQ", draw(st.one_of(st.just(FULL), plans(depth=depth - 1)))))
    odd = draw(st.sampled_from(("none", "leaf", "sequence")))
    if odd == "leaf":
        plan.append((ODD, "LO", None))
    elif odd == "sequence":
        plan.append((ODD, "SQ", draw(st.one_of(st.just(FULL), plans(depth=0)))))
    plan.sort(key=lambda entry: entry[0])
    return tuple(plan)


@st.composite
def results(draw: st.DrawFn, raw: RawDataset) -> MatchResult:
    chosen: dict[int, tuple[int, ...]] = {}
    nested: dict[tuple[int, int], MatchResult] = {}
    for tag in (*SEQUENCES, ODD):
        pair = raw.get(tag)
        if pair is None or not isinstance(pair[1], tuple) or not draw(st.booleans()):
            continue
        indices = range(len(pair[1]))
        picked = draw(st.lists(st.sampled_from(indices), unique=True)) if indices else []
        chosen[tag] = tuple(sorted(picked))
        for index in chosen[tag]:
            if draw(st.booleans()):
                nested[(tag, index)] = draw(results(pair[1][index]))
    return MatchResult(sequence_items=chosen, item_results=nested)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_builder_equals_the_plan_walk(data: st.DataObject) -> None:
    uid = data.draw(st.sampled_from(UIDS))
    raw = data.draw(datasets())
    plan = data.draw(plans())
    result = data.draw(results(raw))
    syntax = Syntax(uid)  # fresh memos: every element goes through the encoder first
    expected = oracle(uid, raw, plan, result)
    assert build_identifier(raw, plan, syntax, result) == expected
    assert build_identifier(raw, plan, syntax, result) == expected  # from the memos now


def test_memos_stop_growing_at_the_cap() -> None:
    syntax = Syntax(UIDS[0], memo_cap=5)
    plan: Plan = ((0x00100020, "LO", None),)
    build = compile_builder(plan, syntax)
    outputs = [build({0x00100020: ("LO", b"ID%d" % n)}, EMPTY_RESULT) for n in range(20)]
    assert syntax.memo_size == 5
    assert len(syntax.memo_for(0x00100020)) == 5
    assert outputs[19] == _element(UIDS[0], 0x00100020, "LO", b"ID19")
