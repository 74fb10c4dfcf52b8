"""Our PDU bytes against real DCMTK peers (storescp as acceptor, echoscu as requestor).

Only the PDU codec is under test: the tiny C-ECHO command sets are hand-built here.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import (
    PDU,
    PDV,
    AssociateAC,
    AssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    RoleSelection,
    SOPClassExtendedNegotiation,
    UserIdentityRQ,
    UserInformation,
)

pytestmark = pytest.mark.interop

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _command(fields: list[tuple[int, bytes]]) -> bytes:
    """PS3.7 6.3.1 / PS3.5 7.1.3: implicit VR little endian command set, group 0000."""
    body = b"".join(struct.pack("<HHL", 0, tag, len(value)) + value for tag, value in fields)
    return struct.pack("<HHLL", 0, 0, 4, len(body)) + body


def _parse_command(data: bytes) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    pos = 0
    while pos + 8 <= len(data):
        _, tag, length = struct.unpack_from("<HHL", data, pos)
        fields[tag] = data[pos + 8 : pos + 8 + length]
        pos += 8 + length
    return fields


def _echo_rq(message_id: int) -> bytes:
    """PS3.7 9.3.5.1: C-ECHO-RQ."""
    return _command(
        [
            (0x0002, VERIFICATION.encode() + b"\x00"),
            (0x0100, struct.pack("<H", 0x0030)),
            (0x0110, struct.pack("<H", message_id)),
            (0x0800, struct.pack("<H", 0x0101)),
        ]
    )


def _echo_rsp(message_id: int) -> bytes:
    """PS3.7 9.3.5.2: C-ECHO-RSP, status success."""
    return _command(
        [
            (0x0002, VERIFICATION.encode() + b"\x00"),
            (0x0100, struct.pack("<H", 0x8030)),
            (0x0120, struct.pack("<H", message_id)),
            (0x0800, struct.pack("<H", 0x0101)),
            (0x0900, struct.pack("<H", 0)),
        ]
    )


class _Link:
    """Blocking PDU exchange over one socket, bounded by a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = PDUDecoder(max_pdu_length=0)
        self.pending: list[PDU] = []

    def receive(self) -> PDU:
        deadline = time.monotonic() + 10
        while not self.pending:
            assert time.monotonic() < deadline, "peer too slow"
            data = self.sock.recv(65536)
            assert data, "peer closed the connection"
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        ["/usr/bin/storescp", "-od", str(tmp_path), str(port)],
        env=DCMTK_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "storescp did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dcmtk_acceptor_understands_our_request(storescp: int) -> None:
    info = UserInformation(
        max_length=32768,
        implementation_class_uid="1.2.826.0.1.3680043.10.1999",
        implementation_version_name="AIODICOM_TEST",
        async_ops_window=(1, 1),
        role_selections=(RoleSelection(VERIFICATION, True, False),),
        sop_class_extended=(SOPClassExtendedNegotiation(VERIFICATION, b"\x01"),),
        user_identity_rq=UserIdentityRQ(1, False, b"alice"),
    )
    rq = AssociateRQ(
        "STORESCP",
        "AIODICOM",
        (
            PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,)),
            PresentationContextRQ(3, "1.2.3.4.5.6.7", (IMPLICIT_LE,)),
        ),
        info,
    )
    with socket.create_connection(("127.0.0.1", storescp), timeout=10) as sock:
        link = _Link(sock)
        link.send(encode_pdu(rq))
        ac = link.receive()
        assert isinstance(ac, AssociateAC), ac
        assert ac.presentation_contexts == (
            PresentationContextAC(1, 0, IMPLICIT_LE),
            PresentationContextAC(3, 3, ""),
        )
        assert ac.user_information.max_length is not None
        assert ac.user_information.implementation_class_uid
        link.send(encode_pdata([PDV(1, True, True, _echo_rq(7))]))
        reply = link.receive()
        assert isinstance(reply, PDataTF)
        fields = _parse_command(b"".join(pdv.data for pdv in reply.pdvs))
        assert fields[0x0100] == struct.pack("<H", 0x8030)
        assert fields[0x0120] == struct.pack("<H", 7)
        assert fields[0x0900] == b"\x00\x00"
        link.send(encode_pdu(ReleaseRQ()))
        assert link.receive() == ReleaseRP()


def _serve_one(server: socket.socket, seen: list[PDU]) -> None:
    """Acceptor: accept context 1, reject the rest (empty TS sub-item), answer one echo."""
    conn, _ = server.accept()
    with conn:
        conn.settimeout(10)
        link = _Link(conn)
        rq = link.receive()
        seen.append(rq)
        assert isinstance(rq, AssociateRQ)
        answers = tuple(
            PresentationContextAC(pc.context_id, 0, IMPLICIT_LE)
            if pc.context_id == 1
            else PresentationContextAC(pc.context_id, 2, "")
            for pc in rq.presentation_contexts
        )
        ac = AssociateAC(
            rq.called_ae,
            rq.calling_ae,
            answers,
            UserInformation(max_length=16384, implementation_class_uid="1.2.3.4"),
        )
        link.send(encode_pdu(ac))
        request = link.receive()
        seen.append(request)
        assert isinstance(request, PDataTF)
        fields = _parse_command(b"".join(pdv.data for pdv in request.pdvs))
        message_id = struct.unpack("<H", fields[0x0110])[0]
        link.send(
            encode_pdata([PDV(request.pdvs[0].context_id, True, True, _echo_rsp(message_id))])
        )
        seen.append(link.receive())
        link.send(encode_pdu(ReleaseRP()))


def test_dcmtk_requestor_accepts_our_answer() -> None:
    seen: list[PDU] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(15)
        port = server.getsockname()[1]
        thread = threading.Thread(target=_serve_one, args=(server, seen), daemon=True)
        thread.start()
        result = subprocess.run(
            ["/usr/bin/echoscu", "-ppc", "3", "-aec", "OURSCP", "127.0.0.1", str(port)],
            env=DCMTK_ENV,
            capture_output=True,
            timeout=30,
            check=False,
        )
        thread.join(timeout=15)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    rq = seen[0]
    assert isinstance(rq, AssociateRQ)
    assert rq.called_ae == "OURSCP"
    assert [pc.context_id for pc in rq.presentation_contexts] == [1, 3, 5]
    assert all(pc.abstract_syntax == VERIFICATION for pc in rq.presentation_contexts)
    assert rq.user_information.max_length is not None
    assert rq.user_information.implementation_class_uid
    assert seen[2] == ReleaseRQ()
