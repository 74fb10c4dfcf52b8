"""Bad input aborts only the offending association (PS3.8 9.3.1, 9.2 AA-8); TLS transport."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import Dataset
from structlog.testing import capture_logs

import aiodicom
from aiodicom import ServerConfig
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.proto.dimse import encode_command
from aiodicom.proto.messages import CFindRQ
from aiodicom.proto.negotiation import IMPLICIT_VR_LE, QueryModel, requestor_contexts
from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import (
    PDV,
    Abort,
    AssociateAC,
    AssociateRQ,
    ReleaseRP,
    ReleaseRQ,
    UserInformation,
)
from aiodicom.proto.status import SUCCESS
from tests.net.helpers import (
    Recorder,
    Serve,
    counting_handler,
    identifier,
    query,
    read_until_closed,
)

BAD_INPUTS = {
    "unknown-pdu-type": b"\x09\x00\x00\x00\x00\x04abcd",
    "oversized-pdu": b"\x01\x00\x7f\xff\xff\xff" + b"\x00" * 64,
    "out-of-order-pdu": b"\x04\x00\x00\x00\x00\x0a\x00\x00\x00\x06\x01\x03abcd",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
async def test_bad_pdu_aborts_one_association_while_another_keeps_working(
    name: str, serve: Serve
) -> None:
    recorder = Recorder()
    handler = counting_handler(50, recorder)
    with capture_logs() as logs:
        async with (
            serve(ServerConfig(), {"worklist": handler}) as server,
            aiodicom.connect("127.0.0.1", server.port) as good,
        ):
            first = [ds async for ds in good.find(query())]
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(BAD_INPUTS[name])
            await writer.drain()
            reply = await read_until_closed(reader, 5.0)
            writer.close()
            second = [ds async for ds in good.find(query())]
            assert await good.echo() == SUCCESS
    assert len(first) == len(second) == 50
    # PS3.8 9.3.8: an A-ABORT PDU (type 7) from the service provider (source 2)
    assert reply[:1] == b"\x07"
    assert reply[8] == 2
    warnings = [e for e in logs if e["log_level"] == "warning" and "peer" in e]
    assert warnings, logs
    assert any("reason" in e and e["peer"].startswith("127.0.0.1:") for e in warnings)


WORKLIST_CTX = 1
RAW_RQ = encode_pdu(
    AssociateRQ(
        called_ae="ANY-SCP",
        calling_ae="RAW-SCU",
        presentation_contexts=requestor_contexts(
            [QueryModel.WORKLIST.sop_class_uid], [IMPLICIT_VR_LE]
        ),
        user_information=UserInformation(max_length=16384),
    )
)
RAW_FIND = encode_pdata(
    [
        PDV(
            WORKLIST_CTX, True, True, encode_command(CFindRQ(1, QueryModel.WORKLIST.sop_class_uid))
        ),
        PDV(WORKLIST_CTX, False, True, encode_identifier(query(), IMPLICIT_VR_LE)),
    ]
)
AFTER_RELEASE_RQ = {
    # tail: (A-ABORT reason expected, PS3.8 Table 9-26; None: closed without a PDU)
    "p-data-c-find": (RAW_FIND, 2),  # unexpected-PDU
    "second-release-rq": (encode_pdu(ReleaseRQ()), 2),
    "release-rp": (encode_pdu(ReleaseRP()), 2),
    "unknown-pdu": (b"\x09\x00\x00\x00\x00\x00", 1),  # unrecognized-PDU
    "a-abort": (encode_pdu(Abort(0, 0)), None),
}


async def _raw_associate(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RAW_RQ)
    header = await asyncio.wait_for(reader.readexactly(6), 5.0)
    body = await asyncio.wait_for(reader.readexactly(int.from_bytes(header[2:], "big")), 5.0)
    assert isinstance(PDUDecoder(0).feed(header + body)[0], AssociateAC)
    return reader, writer


@pytest.mark.parametrize("name", sorted(AFTER_RELEASE_RQ))
async def test_pdu_after_release_rq_in_the_same_read(name: str, serve: Serve) -> None:
    """Issue 15.1: A-RELEASE-RQ + another PDU in one sendall.

    PS3.8 Table 9-10: AR-2 takes the association to Sta8 (awaiting our A-RELEASE
    response); a PDU other than A-ABORT there is AA-8 (A-ABORT, source 2, unexpected
    PDU), an A-ABORT is AA-3 (close). The server never raises, logs no traceback and
    keeps serving other associations.
    """
    tail, reason = AFTER_RELEASE_RQ[name]
    loop_errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    recorder = Recorder()
    try:
        with capture_logs() as logs:
            async with serve(ServerConfig(), {"worklist": counting_handler(3, recorder)}) as server:
                reader, writer = await _raw_associate(server.port)
                writer.write(encode_pdu(ReleaseRQ()) + tail)
                reply = await read_until_closed(reader, 5.0)
                writer.close()
                async with aiodicom.connect("127.0.0.1", server.port) as good:
                    assert len([ds async for ds in good.find(query())]) == 3
    finally:
        loop.set_exception_handler(None)
    pdus = PDUDecoder(0).feed(reply)
    assert pdus == ([] if reason is None else [Abort(2, reason)])
    assert loop_errors == []
    assert not [e for e in logs if "exc_info" in e or e["log_level"] in ("error", "critical")]


async def test_local_abort_stops_handlers_started_in_the_same_read(serve: Serve) -> None:
    """Found by the fuzzer: two C-FIND-RQs with one Message ID in one read. The first
    starts its handler task, the second aborts the association (PS3.7 9.1.1.1.1); the
    first handler must stop, not send into the aborted association (Evt9 in Sta13)."""

    async def handler(request: aiodicom.FindRequest) -> AsyncIterator[Dataset]:
        await asyncio.sleep(0)  # suspends: a task runs it on the eager path too
        for index in range(3):
            yield identifier(index)

    loop_errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    try:
        with capture_logs() as logs:
            async with serve(ServerConfig(), {"worklist": handler}) as server:
                reader, writer = await _raw_associate(server.port)
                writer.write(RAW_FIND + RAW_FIND)
                reply = await read_until_closed(reader, 5.0)
                writer.close()
                async with aiodicom.connect("127.0.0.1", server.port) as good:
                    assert await good.echo() == SUCCESS
    finally:
        loop.set_exception_handler(None)
    assert PDUDecoder(0).feed(reply)[-1] == Abort(2, 0)
    assert loop_errors == []
    assert not [e for e in logs if "exc_info" in e or e["log_level"] in ("error", "critical")]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "/usr/bin/openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


async def test_tls_echo_and_find(tls_files: tuple[Path, Path], serve: Serve) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    recorder = Recorder()
    config = ServerConfig(ssl=server_ctx)
    async with (
        serve(config, {"worklist": counting_handler(300, recorder)}) as server,
        aiodicom.connect("127.0.0.1", server.port, ssl=client_ctx) as assoc,
    ):
        assert await assoc.echo() == SUCCESS
        ids = [str(ds.PatientID) async for ds in assoc.find(query())]
        assert len(ids) == 300
        sock = assoc._protocol.transport.get_extra_info("ssl_object")  # type: ignore[union-attr]
        assert sock is not None


async def test_tls_client_refuses_an_untrusted_server(
    tls_files: tuple[Path, Path], serve: Serve
) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with serve(ServerConfig(ssl=server_ctx), {}) as server:
        with pytest.raises((ssl.SSLError, aiodicom.AssociationAborted, ConnectionError)):
            await aiodicom.connect(
                "127.0.0.1", server.port, ssl=ssl.create_default_context(), connect_timeout=5
            )
