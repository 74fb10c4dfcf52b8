"""Data sets of streamed commands (C-STORE) leave the sans-IO core fragment by fragment.

PS3.8 E.2: a data set may be split into any number of PDVs. For the Command Fields an
association streams, each PDV after the command set is handed on as a DataSetFragment
event, so a 500 MB instance never sits in memory; other commands are assembled as before.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodicom.errors import ProtocolError
from aiodicom.proto.dimse import MessageAssembler, encode_command, fragment
from aiodicom.proto.events import DataSetFragment, Event, MessageReceived
from aiodicom.proto.messages import CEchoRQ, CFindRQ, CommandField, CStoreRQ
from aiodicom.proto.pdu import encode_pdata
from aiodicom.proto.pdus import PDV
from tests.proto.assoc_support import WORKLIST, WORKLIST_CTX, established

STORE = CStoreRQ(5, "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5")
STREAMED = frozenset({CommandField.C_STORE_RQ})


@settings(max_examples=100, deadline=None)
@given(
    st.binary(min_size=1, max_size=5000),
    st.sampled_from([40, 100, 1000, 4096]),
    st.lists(st.integers(0, 20000), max_size=8),
)
def test_fragments_rebuild_the_data_set_in_order(
    data: bytes, max_length: int, cuts: list[int]
) -> None:
    _req, acc = established(fast_path=None) if cuts else established()
    acc.stream_commands = STREAMED
    acc._assembler.max_data_set_size = 10  # streamed data sets are not bounded by it
    stream = b"".join(fragment(WORKLIST_CTX, encode_command(STORE), data, max_length))
    points = [0, *sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]
    events = []
    for start, stop in itertools.pairwise(points):
        events.extend(acc.receive_data(stream[start:stop]))
    if len(data) + 6 <= max_length and isinstance(events[0], MessageReceived):
        assert events == [MessageReceived(WORKLIST_CTX, STORE, data)]  # one PDV: whole
        return
    fragments = [e for e in events if isinstance(e, DataSetFragment)]
    assert len(fragments) == len(events) >= 1
    assert b"".join(f.data for f in fragments) == data
    assert [f.first for f in fragments] == [True] + [False] * (len(fragments) - 1)
    assert [f.last for f in fragments] == [False] * (len(fragments) - 1) + [True]
    assert all(f.command == STORE and len(f.data) <= max_length for f in fragments)
    assert not acc.input_pending


def test_other_commands_are_still_assembled() -> None:
    assembler = MessageAssembler(max_data_set_size=100)
    assembler.stream_commands = STREAMED
    command = encode_command(CFindRQ(1, WORKLIST))
    assert assembler.add(PDV(3, True, True, command)) is None
    assert assembler.add(PDV(3, False, False, b"ab")) is None
    assert assembler.add(PDV(3, False, True, b"cd")) == (3, CFindRQ(1, WORKLIST), b"abcd")


def test_a_data_set_in_one_pdv_arrives_whole() -> None:
    assembler = MessageAssembler()
    assembler.stream_commands = STREAMED
    assert assembler.add(PDV(3, True, True, encode_command(STORE))) is None
    assert assembler.add(PDV(3, False, True, b"whole")) == (3, STORE, b"whole")


def test_a_streaming_message_is_partial_input_until_its_last_fragment() -> None:
    """The message deadline (PS3.8 Annex E) sees a streamed message as begun."""
    assembler = MessageAssembler()
    assembler.stream_commands = STREAMED
    assembler.add(PDV(3, True, True, encode_command(STORE)))
    first = assembler.add(PDV(3, False, False, b"a"))
    assert first == DataSetFragment(3, STORE, b"a", True, False)
    assert assembler.in_progress and not assembler.resumable
    last = assembler.add(PDV(3, False, True, b"b"))
    assert last == DataSetFragment(3, STORE, b"b", False, True)
    assert not assembler.in_progress and assembler.resumable


def test_a_context_change_mid_stream_is_refused() -> None:
    assembler = MessageAssembler()
    assembler.stream_commands = STREAMED
    assembler.add(PDV(3, True, True, encode_command(STORE)))
    assembler.add(PDV(3, False, False, b"a"))
    with pytest.raises(ProtocolError, match="context changed"):
        assembler.add(PDV(5, False, True, b"b"))


def _streamed_session() -> tuple[bytes, bytes]:
    """A C-STORE whose data set comes in PDVs of odd sizes (some sharing one P-DATA-TF,
    one empty), then a C-ECHO: (the byte stream, the data set)."""
    data = bytes(range(256)) * 3 + b"tail"
    cuts = [0, 1, 4, 131, 132, 132, 600, len(data)]
    parts = [data[a:b] for a, b in itertools.pairwise(cuts)]
    pdvs = [PDV(WORKLIST_CTX, False, i == len(parts) - 1, p) for i, p in enumerate(parts)]
    stream = encode_pdata([PDV(WORKLIST_CTX, True, True, encode_command(STORE))])
    stream += encode_pdata(pdvs[:3]) + encode_pdata(pdvs[3:5]) + encode_pdata(pdvs[5:])
    stream += encode_pdata([PDV(WORKLIST_CTX, True, True, encode_command(CEchoRQ(6)))])
    return stream, data


def _received(pieces: list[bytes]) -> tuple[bytes, list[bool], list[bool], list[Event]]:
    _req, acc = established(fast_path=None)
    acc.stream_commands = STREAMED
    events = [event for piece in pieces for event in acc.receive_data(piece)]
    fragments = [e for e in events if isinstance(e, DataSetFragment)]
    others: list[Event] = [e for e in events if not isinstance(e, DataSetFragment)]
    assert not acc.input_pending
    data = b"".join(f.data for f in fragments)
    return data, [f.first for f in fragments], [f.last for f in fragments], others


def test_a_streamed_session_split_at_every_byte() -> None:
    """The stream cut in two at every offset, and fed byte by byte: the same data set in
    order, one first and one last fragment, and the C-ECHO after it (PS3.8 E.2)."""
    stream, data = _streamed_session()
    echo = MessageReceived(WORKLIST_CTX, CEchoRQ(6), None)
    splits = [[stream[:at], stream[at:]] for at in range(len(stream) + 1)]
    for pieces in [*splits, [stream[at : at + 1] for at in range(len(stream))]]:
        got, first, last, others = _received(pieces)
        assert got == data
        assert first[0] and not any(first[1:]) and last[-1] and not any(last[:-1])
        assert others == [echo]
