"""No input stops the listener: random bytes, broken framing and mangled orders get an
ACK with AE/AR (or, for an unterminated block, a clean close), and the listener goes on
serving the next sender."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import hl7
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aiodicom.hl7 import ListenerSettings
from tests.hl7.feed import Feed, msa, order_feed
from tests.hl7.messages import omi, orm

START, END = b"\x0b", b"\x1c\r"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feed]:
    """A listener running in its own thread and event loop for the whole module."""
    root = tmp_path_factory.mktemp("hl7-fuzz")
    ready: list[Feed] = []
    stop = threading.Event()

    async def run() -> None:
        limits = ListenerSettings(port=0, max_message_kb=8, idle_timeout=5.0)
        async with order_feed(root, settings=limits) as feed:
            ready.append(feed)
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    for _ in range(500):
        if ready:
            break
        stop.wait(0.01)
    assert ready, "listener did not start"
    yield ready[0]
    stop.set()
    thread.join(10)


def exchange(port: int, payload: bytes) -> list[bytes]:
    """Send ``payload``, half-close, read every answer block until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert not data or (data.startswith(START) and data.endswith(END)), data
    return [block.lstrip(START) for block in data.split(END) if block]


def check_answers(answers: list[bytes], blocks: int) -> None:
    assert len(answers) <= max(blocks, 1)
    for answer in answers:
        ack = hl7.parse(answer.decode("latin-1"))
        assert str(ack.segment("MSH")(9)).startswith("ACK")
        code = msa(ack)
        assert code in {"AA", "AE", "AR"}
        if code != "AA":
            err = ack.segment("ERR")
            assert str(err(2))  # names a segment
            assert str(err(3)(1)(1)) != "207", str(ack)  # no unexpected failure inside


def mangle(text: str, cut: int, length: int, junk: bytes) -> bytes:
    data = text.encode("latin-1")
    cut %= len(data) + 1
    return data[:cut] + junk + data[cut + length :]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=600), st.booleans())
def test_random_bytes(live: Feed, payload: bytes, framed: bool) -> None:
    data = START + payload + END if framed else payload
    check_answers(exchange(live.port, data), data.count(END))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["NW", "XO", "CA", "DC", "SC", ""]),
    st.booleans(),
    st.tuples(
        st.integers(0, 2000),
        st.integers(0, 40),
        st.binary(max_size=30) | st.sampled_from([b"|", b"^", b"\r", b"~", b"\\", b"&", b"MSH|"]),
    ),
)
def test_mangled_orders(
    live: Feed, control: str, v251: bool, mutation: tuple[int, int, bytes]
) -> None:
    text = omi(control, placer="FZ1") if v251 else orm(control, placer="FZ2")
    data = mangle(text, *mutation)
    check_answers(exchange(live.port, START + data + END), 1 + data.count(END))


def test_oversized_and_then_a_good_order(live: Feed) -> None:
    big = orm(name="X" * 20_000).encode()  # over max_message_kb=8
    (answer,) = exchange(live.port, START + big + END + START + orm().encode() + END)
    ack = hl7.parse(answer.decode())
    assert msa(ack) == "AR" and "larger than 8 KiB" in str(ack.segment("ERR")(8))
    good_order = orm(placer="OK1", accession="OK1", procedure_id="OK1", filler="OK1")
    (good,) = exchange(live.port, START + good_order.encode() + END)
    assert msa(hl7.parse(good.decode())) == "AA"


def test_many_senders_at_once(live: Feed) -> None:
    """Senders in parallel threads: every one answered, the listener still serves."""
    results: list[list[bytes]] = []

    def one(index: int) -> None:
        message = orm(placer=f"PAR{index}", filler=f"PF{index}", accession=f"PA{index}",
                      procedure_id=f"PR{index}")  # fmt: skip
        results.append(exchange(live.port, START + message.encode() + END))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    assert all(msa(hl7.parse(answer.decode())) == "AA" for (answer,) in results)


FIELD_TEXT = st.text(alphabet=st.sampled_from("0123456789AZaz^&~\\.+- éü"), max_size=24)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(v251=False, segment=0, field=3, value="\\\\")  # a malformed escape in PID-3
@given(st.booleans(), st.integers(0, 5), st.integers(1, 45), FIELD_TEXT)
def test_random_field_values(live: Feed, v251: bool, segment: int, field: int, value: str) -> None:
    """Any value in any field of an order: converted, or refused with AE/AR, never an
    internal error (ERR code 207)."""
    text = (
        omi("NW", placer="FV1", charset="UNICODE UTF-8")
        if v251
        else orm("NW", placer="FV2", charset="UNICODE UTF-8")
    )
    segments = text.split("\r")
    chosen = segments[1 + segment % (len(segments) - 1)].split("|")  # never MSH
    chosen += [""] * (field + 1 - len(chosen))
    chosen[field] = value
    segments[1 + segment % (len(segments) - 1)] = "|".join(chosen)
    data = "\r".join(segments).encode("utf-8")
    (answer,) = exchange(live.port, START + data + END)
    check_answers([answer], 1)
    if msa(hl7.parse(answer.decode())) == "AA":  # undo, so the next example is an NW again
        exchange(live.port, START + (omi("CA", placer="FV1") if v251 else orm(
            "CA", placer="FV2")).encode() + END)  # fmt: skip
