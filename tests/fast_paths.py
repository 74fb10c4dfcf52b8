"""Every fast path with its slow twin: the registry tests/test_fast_paths.py runs.

One ``Twin`` per row of the table in docs/internals.md ("Fast paths and their slow twins"),
named by the first module in the row's first cell. ``fast`` and ``slow`` take one drawn input
and return comparable outcomes; the inputs come from the strategies and helpers of each pair's
own equivalence test. A twin whose fast path may decline returns ``None`` from ``fast`` then,
and the slow twin decides alone. Rows that are a whole store, loader or association
(tests/fast_paths_io.py) run both sides over small shared fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.dicom.reader import Reader, parse_file_bytes
from aiodicom.dicom.scan import parse_identifier, scan_identifier
from aiodicom.dicom.values import decode_record
from aiodicom.dicom.writer import Syntax
from aiodicom.errors import DataError, ProtocolError, QueryError
from aiodicom.matching import MatchOptions, compile_query
from aiodicom.matching.raw import KeyMemo, compile_raw
from aiodicom.matching.records import record_from_dataset
from aiodicom.proto.command_set import encode_command
from aiodicom.proto.dimse import encode_command_memo
from aiodicom.proto.negotiation import NegotiationMemo, check_user_identity, negotiate
from aiodicom.store.worklist import AeWorklist
from aiodicom.worklist.builder import build_identifier
from aiodicom.worklist.service import scan, search
from tests.dicom.plain_reader import PlainReader, read_dataset
from tests.dicom.test_identifier_walker import BASES, _verdict, _verdict_reference
from tests.matching import test_raw_compile as raw_compile
from tests.proto import pdu_strategies as pst
from tests.proto.test_dimse import commands
from tests.proto.test_memo import _POLICIES
from tests.proto.test_pdata_fast import _messages, _normal, _pair, _snapshot, _split
from tests.store import test_worklist_index as index_test
from tests.store import test_worklist_load_fastpath as load_test
from tests.worklist import test_builder as builder_test


@dataclass(frozen=True)
class Twin:
    """A fast path, its slow twin and inputs valid for both."""

    name: str
    fast: Callable[[Any], object]
    slow: Callable[[Any], object]
    inputs: st.SearchStrategy[Any]
    declines: bool = False
    """``fast`` may return None (it declines): then only the slow twin decides."""
    examples: int = 50


def _outcome(build: Callable[[], object]) -> object:
    """A result, or the error type and text that refused the input."""
    try:
        return ("ok", build())
    except (DataError, QueryError, ProtocolError) as exc:
        return ("refused", type(exc).__name__, str(exc))


# -- dicom/ ---------------------------------------------------------------------------------


@st.composite
def _wl_files(draw: st.DrawFn, cut: bool = False) -> tuple[bytes, str]:
    """Worklist item files (the load fast-path test's items) and their syntax; maybe cut.

    Uncut files leave out the broken ISO 2022 escape, which pydicom refuses to decode.
    """
    texts = load_test.TEXTS if cut else [t for t in load_test.TEXTS if "\x1b" not in t]
    item = load_test._item(
        draw(st.integers(0, 10_000)),
        draw(st.sampled_from(load_test.CHARSETS)),
        draw(st.lists(st.sampled_from(texts), max_size=3)),
    )
    syntax = draw(st.sampled_from(load_test.SYNTAXES))
    data = encode_identifier(item, syntax)
    if cut:
        data = data[: draw(st.one_of(st.just(len(data)), st.integers(1, len(data))))]
    return data, syntax


def _read(given: tuple[bytes, str], kind: type[Reader]) -> object:
    return _outcome(lambda: _parsed(given, kind))


def _parsed(given: tuple[bytes, str], kind: type[Reader]) -> object:
    elements = read_dataset(*given, kind)
    return elements, load_test._tags(elements)  # the element order too


def _record_fast(given: tuple[bytes, str]) -> object:
    return decode_record(parse_file_bytes(given[0], "fast.wl"))


def _record_slow(given: tuple[bytes, str]) -> object:
    return record_from_dataset(decode_identifier(*given))


@st.composite
def _identifiers(draw: st.DrawFn) -> tuple[bytes, str]:
    """Query identifiers (the raw-compile test's), encoded in a drawn syntax."""
    syntax = draw(st.sampled_from(raw_compile.SYNTAXES))
    try:
        return encode_identifier(draw(raw_compile.identifiers()), syntax), syntax
    except DataError:  # a value the drawn character set cannot hold
        reject()


def _scan_fast(given: tuple[bytes, str]) -> object:
    scanned = scan_identifier(*given)
    return None if scanned is None else list(scanned[0].items())


def _scan_slow(given: tuple[bytes, str]) -> object:
    return list((parse_identifier(*given) or {}).items())


@st.composite
def _corrupted(draw: st.DrawFn) -> tuple[bytes, str]:
    """The identifier-walker test's samples, cut and with one byte changed."""
    (syntax, _), data = draw(st.sampled_from(BASES))
    buffer = bytearray(data[: draw(st.integers(0, len(data)))])
    if buffer and draw(st.booleans()):
        buffer[draw(st.integers(0, len(buffer) - 1))] = draw(st.integers(0, 255))
    return bytes(buffer), syntax


@st.composite
def _raw_datasets(draw: st.DrawFn) -> tuple[str, Any]:
    return draw(st.sampled_from(builder_test.UIDS)), draw(builder_test.datasets())


def _whole_fast(given: tuple[str, Any]) -> bytes:
    syntax = Syntax(given[0])
    syntax.whole(given[1])  # the second pass reads every element from the memos
    return syntax.whole(given[1])


# -- matching/, worklist/, store/ -----------------------------------------------------------

_OPTIONS = st.builds(MatchOptions, pn_case_sensitive=st.booleans(), combine_datetime=st.booleans())


def _raw_fast(given: tuple[tuple[bytes, str], MatchOptions]) -> object:
    (data, syntax), options = given
    elements = parse_identifier(data, syntax)
    if elements is None:
        return None
    return raw_compile._outcome(lambda: compile_raw(elements, options, KeyMemo()))


def _raw_slow(given: tuple[tuple[bytes, str], MatchOptions]) -> object:
    (data, syntax), options = given
    decoded = decode_identifier(data, syntax, materialize=False)
    return raw_compile._outcome(lambda: compile_query(decoded, options))


@st.composite
def _builds(draw: st.DrawFn) -> tuple[str, Any, Any, Any]:
    """The builder test's raw data sets, plans and match results."""
    raw = draw(builder_test.datasets())
    uid = draw(st.sampled_from(builder_test.UIDS))
    return uid, raw, draw(builder_test.plans()), draw(builder_test.results(raw))


def _build_fast(given: tuple[str, Any, Any, Any]) -> bytes:
    uid, raw, plan, result = given
    return build_identifier(raw, plan, Syntax(uid), result)


_SEARCHES = st.tuples(
    st.lists(index_test.item_strategy, max_size=24), index_test.query_strategy, st.booleans()
)


def _worklist_search(given: tuple[list[Any], Any, bool], *, indexed: bool) -> object:
    items, query, case_sensitive = given
    worklist = AeWorklist.build("AE", [index_test._item(i, v) for i, v in enumerate(items)])
    options = MatchOptions(pn_case_sensitive=case_sensitive)
    try:
        compiled = compile_query(index_test._query(query), options)
    except QueryError as exc:
        return exc.status
    found = search(worklist, compiled)[0] if indexed else scan(worklist, compiled)
    return [(item.path, result.sequence_items) for item, result in found]


# -- proto/ ---------------------------------------------------------------------------------

_STREAMS = st.tuples(
    _messages(),
    st.lists(st.integers(0, 1 << 16), max_size=6),
    st.booleans(),
    st.sampled_from([(1 << 20, 64 << 20), (70, 100), (1 << 20, 50)]),
)


def _pdata(given: tuple[list[bytes], list[int], bool, tuple[int, int]], *, fast: bool) -> object:
    pdus, cuts, requestor, limits = given
    assoc = _pair(requestor, *limits)[0 if fast else 1]
    seen = []
    for read in _split(b"".join(pdus), cuts):
        seen.append((_normal(assoc.receive_data(read)), _snapshot(assoc)))
    return seen


def _memo_fast(given: tuple[Any, bool, Any, Any]) -> object:
    command, flag, rq, policy = given
    identity = check_user_identity(rq, policy)
    memo = NegotiationMemo(policy)
    memo.negotiate(rq, identity)
    encoded = _outcome(lambda: encode_command_memo(command, flag))
    return encoded, memo.negotiate(rq, identity)


def _memo_slow(given: tuple[Any, bool, Any, Any]) -> object:
    command, flag, rq, policy = given
    encoded = _outcome(lambda: encode_command(command, has_data_set=flag))
    return encoded, negotiate(rq, policy, identity=check_user_identity(rq, policy))


PURE: tuple[Twin, ...] = (
    Twin(
        "dicom/reader.py",
        lambda given: _read(given, Reader),
        lambda given: _read(given, PlainReader),
        _wl_files(cut=True),
    ),
    Twin("dicom/values.py", _record_fast, _record_slow, _wl_files()),
    Twin("dicom/scan.py", _scan_fast, _scan_slow, _identifiers(), declines=True),
    Twin(
        "dicom/identifier.py",
        lambda given: _verdict(*given),
        lambda given: _verdict_reference(*given),
        _corrupted(),
        examples=100,
    ),
    Twin(
        "dicom/writer.py",
        _whole_fast,
        lambda given: builder_test._whole(*given),
        _raw_datasets(),
    ),
    Twin(
        "matching/raw.py", _raw_fast, _raw_slow, st.tuples(_identifiers(), _OPTIONS), declines=True
    ),
    Twin(
        "worklist/builder.py",
        _build_fast,
        lambda given: builder_test.oracle(*given),
        _builds(),
    ),
    Twin(
        "store/worklist_index.py",
        lambda given: _worklist_search(given, indexed=True),
        lambda given: _worklist_search(given, indexed=False),
        _SEARCHES,
    ),
    Twin(
        "proto/pdata_fast.py",
        lambda given: _pdata(given, fast=True),
        lambda given: _pdata(given, fast=False),
        _STREAMS,
    ),
    Twin(
        "proto/memo.py",
        _memo_fast,
        _memo_slow,
        st.tuples(commands, st.booleans(), pst.realistic_associate(True), _POLICIES),
    ),
)
