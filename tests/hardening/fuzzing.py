"""Structure-aware fuzzing of the protocol core and of a live server.

Inputs are whole peer byte streams (A-ASSOCIATE-RQ, P-DATA-TF with C-ECHO/C-FIND, release)
from the seed corpus (``tests/fixtures/pdus`` and ``tests/fixtures/fuzz``), mutated with
knowledge of the PS3.8 9.3 framing: PDU length fields, item length fields, PDU order,
truncation, duplication, splicing and plain byte flips.

Targets and their allowed outcomes:

* ``decoder``: :class:`PDUDecoder` raises only ProtocolError (PS3.8 9.3.1).
* ``association``: an acceptor :class:`Association` never raises from ``receive_data``;
  an identifier that does not decode raises only DataError; queued output stays bounded.
* ``server`` (async, :func:`probe_server`): the peer sends the input (an opening
  A-ASSOCIATE-RQ first, awaiting the reply) and a FIN; the server answers with
  A-ASSOCIATE-AC/RJ, P-DATA (DIMSE statuses) or A-ABORT and closes within the hang limit.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiodicom.dicom.identifier import decode_identifier
from aiodicom.errors import DataError, ProtocolError
from aiodicom.proto.association import Association, Mode
from aiodicom.proto.dimse import encode_command
from aiodicom.proto.events import AssociationRequested, MessageReceived, ReleaseRequested
from aiodicom.proto.fsm import State
from aiodicom.proto.messages import CEchoRQ, CFindRQ, CFindRSP
from aiodicom.proto.negotiation import (
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    QueryModel,
    check_user_identity,
    default_policy,
    negotiate,
    requestor_contexts,
)
from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import (
    APPLICATION_CONTEXT_NAME,
    PDV,
    Abort,
    AssociateRJ,
    AssociateRQ,
    ReleaseRQ,
    UserInformation,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PDU_SEEDS = FIXTURES / "pdus"
STREAM_SEEDS = FIXTURES / "fuzz"
MAX_OUTPUT = 1 << 20
"""Queued output allowed per fuzz input (a bounded number of small PDUs)."""

# -- seeds ---------------------------------------------------------------------------


def _element(group: int, elem: int, value: bytes) -> bytes:
    """PS3.5 7.1.3: implicit VR little endian element."""
    if len(value) % 2:
        value += b" "
    return struct.pack("<HHL", group, elem, len(value)) + value


def _identifier() -> bytes:
    """A small MWL identifier (PS3.4 K.6.1.2.2) in implicit VR little endian."""
    step = _element(0x0008, 0x0060, b"CT") + _element(0x0040, 0x0001, b"")
    item = struct.pack("<HHL", 0xFFFE, 0xE000, len(step)) + step
    return (
        _element(0x0008, 0x0005, b"ISO_IR 100")
        + _element(0x0010, 0x0010, b"DOE*")
        + _element(0x0010, 0x0020, b"")
        + _element(0x0040, 0x0100, item)
    )


def _request() -> bytes:
    contexts = requestor_contexts(
        ["1.2.840.10008.1.1", QueryModel.WORKLIST.sop_class_uid], [IMPLICIT_VR_LE]
    )
    info = UserInformation(max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.10.1")
    return encode_pdu(AssociateRQ("ANY-SCP", "FUZZER", contexts, info))


def stream_seeds() -> dict[str, bytes]:
    """Whole sessions: the fuzz corpus of ``tests/fixtures/fuzz`` (regenerate: ``write``)."""
    rq = _request()
    echo = encode_pdata([PDV(1, True, True, encode_command(CEchoRQ(1)))])
    find_cmd = encode_command(CFindRQ(2, QueryModel.WORKLIST.sop_class_uid))
    find = encode_pdata([PDV(3, True, True, find_cmd), PDV(3, False, True, _identifier())])
    release = encode_pdu(ReleaseRQ())
    return {
        "session_echo.bin": rq + echo + release,
        "session_find.bin": rq + find + release,
        "session_find_split.bin": rq
        + encode_pdata([PDV(3, True, True, find_cmd)])
        + encode_pdata([PDV(3, False, False, _identifier()[:20])])
        + encode_pdata([PDV(3, False, True, _identifier()[20:])]),
        "session_abort.bin": rq + echo + encode_pdu(Abort(0, 0)),
    }


def write_stream_seeds() -> None:
    STREAM_SEEDS.mkdir(parents=True, exist_ok=True)
    for name, data in stream_seeds().items():
        (STREAM_SEEDS / name).write_bytes(data)


def load_corpus(extra: Path | None = None) -> list[bytes]:
    """Every ``*.bin`` of the seed folders (and ``extra``), stream seeds first."""
    folders = [STREAM_SEEDS, PDU_SEEDS] + ([extra] if extra else [])
    corpus = [p.read_bytes() for folder in folders for p in sorted(folder.glob("*.bin"))]
    rq = _request()
    corpus += [rq + seed for seed in corpus if seed[:1] == b"\x04"]  # P-DATA after an RQ
    return corpus or list(stream_seeds().values())


# -- structure-aware mutation --------------------------------------------------------


def split_pdus(data: bytes) -> list[bytes]:
    """Cut a stream at its PDU headers (PS3.8 9.3.1); a malformed tail stays one piece."""
    pieces: list[bytes] = []
    pos = 0
    while pos + 6 <= len(data):
        length = struct.unpack_from(">L", data, pos + 2)[0]
        end = pos + 6 + length
        if end > len(data):
            break
        pieces.append(data[pos:end])
        pos = end
    if pos < len(data):
        pieces.append(data[pos:])
    return pieces


_BOUNDARY = (0, 1, 2, 3, 4, 5, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0xFFFFFFFF)


def _set_pdu_length(rng: random.Random, pdu: bytearray) -> None:
    if len(pdu) >= 6:
        true_len = len(pdu) - 6
        value = rng.choice([*_BOUNDARY, true_len - 1, true_len + 1, rng.getrandbits(32)])
        pdu[2:6] = (value & 0xFFFFFFFF).to_bytes(4, "big")


def _set_item_length(rng: random.Random, pdu: bytearray) -> None:
    """Overwrite a 2-byte big-endian field (item lengths of PS3.8 9.3.2 items)."""
    if len(pdu) > 12:
        at = rng.randrange(6, len(pdu) - 2)
        value = rng.choice([*_BOUNDARY[:12], rng.getrandbits(16)])
        pdu[at : at + 2] = (value & 0xFFFF).to_bytes(2, "big")


def _flip(rng: random.Random, pdu: bytearray) -> None:
    if pdu:
        at = rng.randrange(len(pdu))
        pdu[at] = rng.choice([pdu[at] ^ (1 << rng.randrange(8)), rng.randrange(256)])


def _set_type(rng: random.Random, pdu: bytearray) -> None:
    if pdu:
        pdu[0] = rng.choice([1, 2, 3, 4, 5, 6, 7, 0, 8, 0xFF])


def _insert(rng: random.Random, pdu: bytearray) -> None:
    at = rng.randrange(len(pdu) + 1)
    pdu[at:at] = rng.randbytes(rng.randrange(1, 16))


PDU_MUTATIONS: tuple[Callable[[random.Random, bytearray], None], ...] = (
    _set_pdu_length,
    _set_item_length,
    _flip,
    _flip,
    _set_type,
    _insert,
)


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """1-4 structure-aware mutations of ``data`` (a whole peer stream)."""
    pdus = [bytearray(p) for p in split_pdus(data)] or [bytearray(data)]
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.55:
            rng.choice(PDU_MUTATIONS)(rng, rng.choice(pdus))
        elif choice < 0.65 and len(pdus) > 1:
            i, j = rng.randrange(len(pdus)), rng.randrange(len(pdus))
            pdus[i], pdus[j] = pdus[j], pdus[i]
        elif choice < 0.72:
            pdus.insert(rng.randrange(len(pdus) + 1), bytearray(rng.choice(pdus)))
        elif choice < 0.78 and len(pdus) > 1:
            del pdus[rng.randrange(len(pdus))]
        elif choice < 0.88:
            other = split_pdus(rng.choice(corpus))
            if other:
                pdus.insert(rng.randrange(len(pdus) + 1), bytearray(rng.choice(other)))
        else:  # truncate the stream
            flat = b"".join(pdus)
            pdus = [bytearray(flat[: rng.randrange(len(flat) + 1)])]
    return b"".join(pdus)


def chunks(rng: random.Random, data: bytes) -> list[bytes]:
    """Random read boundaries, as TCP may deliver them."""
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 3)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# -- sans-IO targets -------------------------------------------------------------------


def run_decoder(data: bytes, rng: random.Random) -> str:
    """Feed the decoder; ProtocolError is the only allowed failure."""
    decoder = PDUDecoder(16384, 1 << 16)
    try:
        for chunk in chunks(rng, data):
            decoder.feed(chunk)
    except ProtocolError:
        return "protocol-error"
    return "decoded"


_POLICY = default_policy(transfer_syntaxes=(EXPLICIT_VR_LE, IMPLICIT_VR_LE))


@dataclass
class AssociationRun:
    """What an acceptor Association did with one input."""

    outcome: str = "incomplete"
    messages: int = 0
    output: int = 0
    notes: list[str] = field(default_factory=list)


def _respond(association: Association, event: MessageReceived, run: AssociationRun) -> None:
    run.messages += 1
    if association.state is not State.STA6:
        run.notes.append("message superseded by an abort in the same read")
        return
    command = event.command
    if not isinstance(command, CFindRQ):
        return
    context = association.contexts.get(event.context_id)
    status = 0x0000
    if context is not None:
        try:
            decode_identifier(event.data_set or b"", context.transfer_syntax, max_size=1 << 20)
        except DataError:
            status = 0xC000
    rsp = CFindRSP(command.message_id, command.affected_sop_class_uid, status)
    association.send_message(event.context_id, rsp)


def run_association(data: bytes, rng: random.Random) -> AssociationRun:
    """Drive an acceptor Association like the server does (accept every RQ)."""
    association = Association(Mode.ACCEPTOR, max_pdu_length=16384)
    association.connection_made()
    run = AssociationRun()
    for chunk in chunks(rng, data):
        for event in association.receive_data(chunk):
            if isinstance(event, AssociationRequested):
                if association.state is not State.STA3:
                    run.notes.append("request superseded in the same read")
                    continue  # an abort in the same read already ended it (AA-8)
                if event.rq.application_context != APPLICATION_CONTEXT_NAME:
                    association.reject(AssociateRJ(1, 1, 2))  # PS3.8 9.3.4, PS3.7 A.2.1
                    continue
                identity = check_user_identity(event.rq, _POLICY)
                association.accept(negotiate(event.rq, _POLICY, identity=identity))
            elif isinstance(event, MessageReceived):
                _respond(association, event, run)
            elif isinstance(event, ReleaseRequested) and association.awaiting_release_response:
                association.release_response()  # as the SCP does (PS3.8 Sta8, AR-4)
            run.outcome = type(event).__name__
        run.output += len(association.data_to_send())
        if association.wants_close:
            break
    if run.output > MAX_OUTPUT:
        raise AssertionError(f"unbounded output: {run.output} bytes")
    association.connection_lost()
    return run


# -- live server target ----------------------------------------------------------------


def classify_reply(reply: bytes) -> str:
    """Name what the server answered, from the PDU types in its reply (PS3.8 9.3)."""
    names = {2: "ac", 3: "rj", 4: "pdata", 6: "release-rp", 7: "abort"}
    try:
        pdus = PDUDecoder(0, 1 << 20).feed(reply)
    except ProtocolError:
        return "garbled-reply"
    kinds = [names.get(encode_pdu(p)[0], "other") for p in pdus]
    return "+".join(dict.fromkeys(kinds)) or "closed"


async def probe_server(
    port: int, data: bytes, rng: random.Random, hang_after: float, *, linger: float = 0.0
) -> str:
    """Send ``data`` then FIN; return the reply class or "hang".

    When ``data`` opens with a whole A-ASSOCIATE-RQ PDU, that PDU goes first and the server's
    first reply is awaited, as a requestor does (PS3.8 9.2, Sta5): the rest then meets an
    established association instead of aborting it in Sta3. The rest goes in random chunks.
    ``linger``: a trailing A-RELEASE-RQ and the FIN wait until the server has been quiet
    that long (its answers to what came before are read first).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    pieces = split_pdus(data)
    head = pieces[0] if pieces and pieces[0][:1] == b"\x01" else b""
    if len(head) < 6 or len(head) != 6 + struct.unpack_from(">L", head, 2)[0]:
        head = b""  # incomplete: the server would wait for the rest (ARTIM)
    received: list[bytes] = []
    try:
        async with asyncio.timeout(hang_after):
            if head:
                writer.write(head)
                received.append(await reader.read(65536))
            rest = data[len(head) :]
            tail = pieces[-1] if linger and len(pieces) > 1 and pieces[-1][:1] == b"\x05" else b""
            for chunk in chunks(rng, rest[: len(rest) - len(tail)]):
                writer.write(chunk)
            if linger:
                await read_until_quiet(reader, received, linger)
                writer.write(tail)
            if writer.can_write_eof():
                writer.write_eof()
            while block := await reader.read(65536):
                received.append(block)
    except TimeoutError:
        return "hang"
    except OSError:  # reset, or shut down (ENOTCONN) after the server closed
        return "reset"
    finally:
        writer.close()
    return classify_reply(b"".join(received))


async def read_until_quiet(
    reader: asyncio.StreamReader, received: list[bytes], quiet: float
) -> None:
    """Read into ``received`` until nothing came for ``quiet`` s (or the server closed)."""
    while True:
        try:
            async with asyncio.timeout(quiet):
                block = await reader.read(65536)
        except TimeoutError:
            return
        if not block:
            return
        received.append(block)


if __name__ == "__main__":
    write_stream_seeds()
