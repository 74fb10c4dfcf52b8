"""The Sta6 P-DATA-TF fast path (aiodicom.proto.pdata_fast) equals the general path.

Two associations in Sta6 receive the same reads, one built without a fast path; after
every read the events, state, assembler, decoder buffer and queued bytes must be equal,
for valid streams split anywhere and for corrupted ones (same A-ABORT, PS3.8 9.2 AA-8).
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodicom.proto.association import Association
from aiodicom.proto.dimse import encode_command, fragment
from aiodicom.proto.events import Aborted, Event, MessageReceived
from aiodicom.proto.messages import (
    VERIFICATION_SOP_CLASS,
    CEchoRQ,
    CFindRQ,
    CFindRSP,
    CommandField,
    CStoreRQ,
)
from aiodicom.proto.pdata_fast import receive_whole_pdata
from aiodicom.proto.pdu import encode_pdata, encode_pdu
from aiodicom.proto.pdus import PDV, Abort, ReleaseRQ
from tests.proto.assoc_support import WORKLIST, WORKLIST_CTX, established

_OTHER_PDUS = [encode_pdu(ReleaseRQ()), encode_pdu(Abort(0, 0)), b"\x09\x00\x00\x00\x00\x00"]


def _pair(
    requestor: bool, max_command: int, max_data: int, streamed: frozenset[int] = frozenset()
) -> tuple[Association, Association]:
    """(fast, general) associations in Sta6 on the same side."""
    made = []
    for fast_path in (receive_whole_pdata, None):
        req, acc = established(fast_path=fast_path)
        assoc = req if requestor else acc
        assoc._assembler.max_command_size = max_command
        assoc._assembler.max_data_set_size = max_data
        assoc.stream_commands = streamed
        made.append(assoc)
    return made[0], made[1]


def _normal(events: list[Event]) -> list[object]:
    """Events made comparable: errors by type, text and reason; data sets by type too."""
    out: list[object] = []
    for event in events:
        if isinstance(event, Aborted) and event.error is not None:
            error = event.error
            out.append((event.source, event.reason, event.by_peer, type(error), str(error)))
        elif isinstance(event, MessageReceived):
            out.append((event, type(event.data_set)))
        else:
            out.append(event)
    return out


def _snapshot(assoc: Association) -> tuple[object, ...]:
    assembler = assoc._assembler
    return (
        assoc.state,
        assoc._previous_state,
        assoc._input_closed,
        assoc.wants_close,
        assoc.artim_running,
        assoc.data_to_send(),
        assoc._decoder.buffered,
        assembler._context_id,
        assembler._command,
        list(assembler._parts),
        assembler._size,
        assembler._streaming,
    )


def _check_same(fast: Association, general: Association, reads: list[bytes]) -> None:
    for read in reads:
        got, expected = fast.receive_data(read), general.receive_data(read)
        assert _normal(got) == _normal(expected)
        assert _snapshot(fast) == _snapshot(general)


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted({cut % (len(stream) + 1) for cut in cuts}), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(points)]


_command = st.one_of(
    st.builds(CFindRQ, st.integers(0, 0xFFFF), st.just(WORKLIST)),
    st.builds(CFindRSP, st.integers(0, 0xFFFF), st.just(WORKLIST), st.sampled_from([0, 0xFF00])),
    st.builds(CEchoRQ, st.integers(0, 0xFFFF), st.just(VERIFICATION_SOP_CLASS)),
    st.builds(CStoreRQ, st.integers(0, 0xFFFF), st.just(WORKLIST), st.just("1.2.3.4")),
)


@st.composite
def _messages(draw: st.DrawFn) -> list[bytes]:
    """Encoded P-DATA-TF PDUs of several messages, fragmented at random maximum lengths."""
    pdus: list[bytes] = []
    for _ in range(draw(st.integers(1, 5))):
        command = draw(_command)
        context = 1 if isinstance(command, CEchoRQ) else WORKLIST_CTX
        data = draw(st.one_of(st.none(), st.binary(max_size=300), st.integers(0, 300).map(bytes)))
        if isinstance(command, CFindRQ | CStoreRQ) and data is None:
            data = b""
        encoded = encode_command(command, has_data_set=data is not None)
        if data is not None and draw(st.booleans()):  # one PDU per stream (PS3.8 E.2)
            pdus.append(fragment(context, encoded, None, 0)[0])
            pdus.append(encode_pdata([PDV(context, False, True, data)]))
            continue
        max_length = draw(st.sampled_from([0, 0, 16384, 7, 40, 120, 200]))
        pdus.extend(fragment(context, encoded, data, max_length))
    return pdus


_FAST_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@_FAST_SETTINGS
@given(
    _messages(),
    st.lists(st.integers(0, 1 << 16), max_size=6),
    st.booleans(),
    st.sampled_from([(1 << 20, 64 << 20), (70, 100), (1 << 20, 50)]),
)
def test_valid_streams_split_anywhere(
    pdus: list[bytes], cuts: list[int], requestor: bool, limits: tuple[int, int]
) -> None:
    fast, general = _pair(requestor, *limits)
    _check_same(fast, general, _split(b"".join(pdus), cuts))


@_FAST_SETTINGS
@given(_messages(), st.lists(st.integers(0, 1 << 16), max_size=6), st.booleans())
def test_streamed_data_sets_split_anywhere(
    pdus: list[bytes], cuts: list[int], requestor: bool
) -> None:
    """C-STORE data sets streamed as DataSetFragment events: the same on both paths, and
    never limited by the assembler's data set size (the receiver bounds what it keeps)."""
    fast, general = _pair(requestor, 1 << 20, 50, frozenset({CommandField.C_STORE_RQ}))
    _check_same(fast, general, _split(b"".join(pdus), cuts))


@_FAST_SETTINGS
@given(
    _messages(),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=3),
    st.lists(st.integers(0, 1 << 16), max_size=3),
    st.sampled_from([None, *_OTHER_PDUS]),
    st.booleans(),
)
def test_corrupted_streams_abort_identically(
    pdus: list[bytes],
    flips: list[tuple[int, int]],
    cuts: list[int],
    extra: bytes | None,
    requestor: bool,
) -> None:
    stream = bytearray(b"".join(pdus))
    for position, value in flips:
        stream[position % len(stream)] = value
    if extra is not None:
        stream[len(pdus[0]) : len(pdus[0])] = extra  # another PDU type after the first PDU
    fast, general = _pair(requestor, 1 << 20, 64 << 20)
    _check_same(fast, general, _split(bytes(stream), cuts))


def _sample_stream() -> bytes:
    find = encode_command(CFindRQ(7, WORKLIST), has_data_set=True)
    rsp = encode_command(CFindRSP(7, WORKLIST, 0xFF00, True), has_data_set=True)
    final = encode_command(CFindRSP(7, WORKLIST, 0), has_data_set=False)
    parts = [
        *fragment(WORKLIST_CTX, find, b"\x10\x00\x20\x00\x02\x00\x00\x00P1", 0),
        *fragment(WORKLIST_CTX, rsp, b"x" * 40, 88),  # command and data set in two PDUs
        *fragment(WORKLIST_CTX, final, None, 0),
    ]
    return b"".join(parts)


def test_every_split_offset() -> None:
    stream = _sample_stream()
    for requestor in (True, False):
        for cut in range(len(stream) + 1):
            fast, general = _pair(requestor, 1 << 20, 64 << 20)
            _check_same(fast, general, [stream[:cut], stream[cut:]])
        for cut in range(0, len(stream) + 1, 7):
            fast, general = _pair(requestor, 1 << 20, 64 << 20)
            _check_same(fast, general, [stream[:cut], stream[cut : cut + 13], stream[cut + 13 :]])


def test_fast_path_takes_ordinary_reads() -> None:
    """Whole PDUs (and a trailing partial one) are handled without the general path."""
    req, _acc = established()
    stream = _sample_stream()
    events = receive_whole_pdata(stream[:-3], req._decoder, req._assembler, req.contexts)
    assert events is not None and len(events) == 2
    final = encode_command(CFindRSP(7, WORKLIST, 0), has_data_set=False)
    assert req._decoder.buffered == len(fragment(WORKLIST_CTX, final, None, 0)[0]) - 3
    assert [type(e) for e in req.receive_data(stream[-3:])] == [MessageReceived]
    assert req._decoder.buffered == 0


def test_fast_path_declines_unusual_reads() -> None:
    req, _acc = established()
    stream = _sample_stream()
    decoder, assembler, contexts = req._decoder, req._assembler, req.contexts
    assert receive_whole_pdata(stream[:3], decoder, assembler, contexts) is None  # no PDU
    assert receive_whole_pdata(bytearray(stream), decoder, assembler, contexts) is None  # type: ignore[arg-type]
    assert receive_whole_pdata(_OTHER_PDUS[0], decoder, assembler, contexts) is None
    unknown = fragment(5, encode_command(CEchoRQ(1), has_data_set=False), None, 0)[0]
    assert receive_whole_pdata(unknown, decoder, assembler, contexts) is None
    assert decoder.buffered == 0 and not assembler.in_progress
