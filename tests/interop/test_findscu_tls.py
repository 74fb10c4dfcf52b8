"""aiodicom-findscu TLS options (+tls, +tla, +cf, -rc/-vc/-ic, +pw) against aiodicom.Server.

DCMTK's wlmscpfs and dcmqrscp have no TLS, so the peer is our own SCP with an
``ssl.SSLContext`` (PS3.15 B.1 TLS secure transport), run on its own event loop thread.
Certificates come from a throwaway CA made with the openssl command line.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from aiodicom import FindRequest, QueryModel, Server, ServerConfig
from clients.findscu.__main__ import main
from clients.findscu.cli import ExitCode

pytestmark = pytest.mark.interop

OPENSSL = "/usr/bin/openssl"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _issue(name: str, cwd: Path, *, password: str | None = None) -> None:
    """EC key + certificate for ``name`` signed by ``ca``."""
    key_args = ["-nodes"] if password is None else ["-passout", f"pass:{password}"]
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", *key_args,
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=aiodicom-test-ca",
        cwd=root,
    )  # fmt: skip
    _issue("server", root)
    _issue("client", root)
    _issue("locked", root, password="s3cret")
    return root


async def _handler(request: FindRequest) -> AsyncIterator[Dataset]:
    for index in range(3):
        ds = Dataset()
        ds.PatientName = f"TLS^PATIENT{index}"
        ds.PatientID = f"T{index}"
        yield ds


@dataclass
class ThreadedServer:
    port: int
    loop: asyncio.AbstractEventLoop
    server: Server


@pytest.fixture(scope="module")
def tls_server(pki: Path) -> Iterator[ThreadedServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the SCU must show a certificate
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = Server(ServerConfig(ae_title="TLSSCP", ssl=ctx), {QueryModel.WORKLIST: _handler})
    asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(10)
    try:
        yield ThreadedServer(server.port, loop, server)
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(5.0), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def run(server: ThreadedServer, *args: str) -> int:
    argv = ["-aec", "TLSSCP", "--json", "-k", "PatientName=", "-k", "PatientID=", *args]
    return main([*argv, "127.0.0.1", str(server.port)])


def test_mutual_tls_with_trusted_ca(
    tls_server: ThreadedServer, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(tls_server, "+tls", str(pki / "client.key"), str(pki / "client.pem"),
               "+cf", str(pki / "ca.pem"))  # fmt: skip
    out = capsys.readouterr().out
    assert code == ExitCode.SUCCESS
    ids = [json.loads(line)["00100020"]["Value"][0] for line in out.splitlines()]
    assert ids == ["T0", "T1", "T2"]


def test_encrypted_key_with_password(
    tls_server: ThreadedServer, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = str(pki / "locked.key"), str(pki / "locked.pem")
    assert run(tls_server, "+tls", key, cert, "+pw", "s3cret", "-ic") == ExitCode.SUCCESS
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert run(tls_server, "+tls", key, cert, "+pw", "wrong", "-ic") == ExitCode.USAGE
    assert "+tls: expected a matching private key" in capsys.readouterr().err


def test_untrusted_server_certificate_fails_by_default(
    tls_server: ThreadedServer, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # -rc (default) with no +cf: the server certificate cannot be verified
    code = run(tls_server, "+tls", str(pki / "client.key"), str(pki / "client.pem"))
    assert code == ExitCode.CONNECTION
    assert "certificate verify failed" in capsys.readouterr().err
    # -ic: do not verify the server; the handshake and the query succeed
    code = run(tls_server, "+tls", str(pki / "client.key"), str(pki / "client.pem"), "-ic")
    assert code == ExitCode.SUCCESS


def test_anonymous_tls_refused_by_mutual_tls_server(
    tls_server: ThreadedServer, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(tls_server, "+tla", "+cf", str(pki / "ca.pem"), "-to", "5", "-ta", "5")
    assert code in (ExitCode.CONNECTION, ExitCode.ABORTED)
    assert capsys.readouterr().out == ""


def test_plain_tcp_against_tls_server_fails(tls_server: ThreadedServer) -> None:
    assert run(tls_server, "-ta", "3") in (ExitCode.ABORTED, ExitCode.TIMEOUT)
