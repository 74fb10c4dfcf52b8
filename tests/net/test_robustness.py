"""Bad input aborts only the offending association (PS3.8 9.3.1, 9.2 AA-8); TLS transport."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import aiodicom
from aiodicom import ServerConfig
from aiodicom.proto.status import SUCCESS
from tests.net.helpers import Recorder, counting_handler, query, read_until_closed

BAD_INPUTS = {
    "unknown-pdu-type": b"\x09\x00\x00\x00\x00\x04abcd",
    "oversized-pdu": b"\x01\x00\x7f\xff\xff\xff" + b"\x00" * 64,
    "out-of-order-pdu": b"\x04\x00\x00\x00\x00\x0a\x00\x00\x00\x06\x01\x03abcd",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
async def test_bad_pdu_aborts_one_association_while_another_keeps_working(name: str) -> None:
    recorder = Recorder()
    handler = counting_handler(50, recorder)
    with capture_logs() as logs:
        async with (
            aiodicom.serve(ServerConfig(), {"worklist": handler}) as server,
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


async def test_tls_echo_and_find(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    recorder = Recorder()
    config = ServerConfig(ssl=server_ctx)
    async with (
        aiodicom.serve(config, {"worklist": counting_handler(300, recorder)}) as server,
        aiodicom.connect("127.0.0.1", server.port, ssl=client_ctx) as assoc,
    ):
        assert await assoc.echo() == SUCCESS
        ids = [str(ds.PatientID) async for ds in assoc.find(query())]
        assert len(ids) == 300
        sock = assoc._protocol.transport.get_extra_info("ssl_object")  # type: ignore[union-attr]
        assert sock is not None


async def test_tls_client_refuses_an_untrusted_server(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with aiodicom.serve(ServerConfig(ssl=server_ctx), {}) as server:
        with pytest.raises((ssl.SSLError, aiodicom.AssociationAborted)):
            await aiodicom.connect(
                "127.0.0.1", server.port, ssl=ssl.create_default_context(), connect_timeout=5
            )
