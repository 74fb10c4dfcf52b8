"""Security pieces of aiodicom.ops on loopback: TLS from config, user identity, access
list per called AE and peer address, audit lines, and no secret in any log line."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
import yaml
from pydicom import Dataset
from structlog.testing import capture_logs

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.errors import AssociationRejected, ConfigError
from aiodicom.log import configure
from aiodicom.ops.app import secure_config
from aiodicom.ops.audit import AuditLog
from aiodicom.ops.security import (
    AccessPolicy,
    AccessRule,
    UserEntry,
    UserIdentityChecker,
    UserIdentitySection,
    load_security,
)
from aiodicom.ops.server import OpsHooks, OpsServer
from aiodicom.proto.negotiation import check_user_identity, default_policy, negotiate
from aiodicom.proto.pdus import UserIdentityAC, UserIdentityRQ
from aiodicom.proto.status import SUCCESS
from tests.hardening.support import associate_rq

SECRET = "s3cret-Pa55word"


async def _handler(request: FindRequest) -> AsyncIterator[Dataset]:
    for index in range(2):
        ds = Dataset()
        ds.PatientName = f"DOE^{index}"
        ds.PatientID = f"P{index}"
        yield ds


def _query() -> Dataset:
    ds = Dataset()
    ds.PatientName = "DOE*"
    ds.PatientID = ""
    return ds


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            "/usr/bin/openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    _self_signed(folder, "server")
    _self_signed(folder, "client")
    return folder


def _write_security(folder: Path, section: object) -> Path:
    path = folder / "security.yaml"
    path.write_text(yaml.safe_dump({"server": {"port": 1}, "security": section}))
    return path


def _client_tls(pki: Path, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "server.pem"))
    if with_cert:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


async def test_tls_from_config_with_required_client_certificate(pki: Path) -> None:
    """Expected: cert/key/ca paths are relative to the YAML file; a client with a trusted
    certificate gets C-ECHO Success, one without a certificate fails the handshake."""
    path = _write_security(
        pki,
        {"tls": {"cert": "server.pem", "key": "server.key", "ca": "client.pem",
                 "require_client_cert": True}},
    )  # fmt: skip
    section = load_security(path)
    config = secure_config(ServerConfig(), section, str(path))
    assert config.ssl is not None and config.ssl.verify_mode is ssl.CERT_REQUIRED
    async with aiodicom.serve(config, {"worklist": _handler}) as server:
        async with aiodicom.connect(
            "127.0.0.1", server.port, ssl=_client_tls(pki, with_cert=True)
        ) as assoc:
            assert await assoc.echo() == SUCCESS
        with pytest.raises((aiodicom.AiodicomError, OSError, ssl.SSLError)):
            async with aiodicom.connect(
                "127.0.0.1", server.port, ssl=_client_tls(pki, with_cert=False), acse_timeout=5
            ) as assoc:
                await assoc.echo()


def test_security_config_errors_name_the_key_and_hide_secrets(tmp_path: Path) -> None:
    bad = [
        ({"tls": {"cert": "a.pem"}}, "security.tls"),
        ({"tls": {"cert": "a", "key": "b", "require_client_cert": True}}, "security.tls.ca"),
        ({"user_identity": {"users": [{"username": "u", "password": SECRET,
                                       "password_env": "X"}]}}, "users[0]"),
        ({"user_identity": {"users": [{"username": "u", "password_sha256": "zz"}]}},
         "password_sha256"),
        ({"access": [{"called_ae": "X", "calling_aes": []}]}, "security.access[0].calling_aes"),
        ({"bogus": 1}, "security.bogus"),
    ]  # fmt: skip
    for section, key in bad:
        with pytest.raises(ConfigError) as info:
            load_security(_write_security(tmp_path, section))
        assert key in str(info.value)
        assert SECRET not in str(info.value)


def test_user_identity_checker_types_and_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    """PS3.7 D.3.3.7: type 2 checks the passcode; type 1 only for password-less users;
    other types (Kerberos, SAML, JWT) are refused; the checker repr hides passwords."""
    monkeypatch.setenv("BOB_PW", "bob-pw")
    import hashlib

    checker = UserIdentityChecker(
        UserIdentitySection(
            users=(
                UserEntry("alice", password=SECRET),
                UserEntry("bob", password_env="BOB_PW"),
                UserEntry("carol", password_sha256=hashlib.sha256(b"c-pw").hexdigest()),
                UserEntry("robot"),
            )
        )
    )
    assert checker(UserIdentityRQ(2, True, b"alice", SECRET.encode())) == b""
    assert checker(UserIdentityRQ(2, True, b"alice", b"wrong")) is None
    assert checker(UserIdentityRQ(2, False, b"bob", b"bob-pw")) == b""
    assert checker(UserIdentityRQ(2, False, b"carol", b"c-pw")) == b""
    assert checker(UserIdentityRQ(1, False, b"alice")) is None
    assert checker(UserIdentityRQ(1, False, b"robot")) == b""
    assert checker(UserIdentityRQ(2, False, b"robot", b"")) is None
    assert checker(UserIdentityRQ(5, False, b"alice", SECRET.encode())) is None
    assert checker(UserIdentityRQ(2, False, b"\xff\xfe", b"x")) is None
    assert SECRET not in repr(checker)
    assert "bob-pw" not in repr(checker)


def test_positive_response_is_sent_when_requested() -> None:
    """PS3.7 D.3.3.7.2: with a positive response requested, the A-ASSOCIATE-AC carries a
    User Identity sub-item (empty server response for types 1 and 2); else none."""
    policy = default_policy()
    policy.user_identity = UserIdentityChecker(
        UserIdentitySection(users=(UserEntry("alice", password=SECRET),))
    )
    for wanted, expected in ((True, UserIdentityAC(b"")), (False, None)):
        rq = associate_rq()
        info = rq.user_information
        identity = UserIdentityRQ(2, wanted, b"alice", SECRET.encode())
        rq = type(rq)(rq.called_ae, rq.calling_ae, rq.presentation_contexts,
                      type(info)(max_length=info.max_length,
                                 implementation_class_uid=info.implementation_class_uid,
                                 user_identity_rq=identity))  # fmt: skip
        ac = negotiate(rq, policy, identity=check_user_identity(rq, policy))
        assert ac.user_information.user_identity_ac == expected


def test_access_policy_per_called_ae_and_host() -> None:
    policy = AccessPolicy(
        (
            AccessRule("WLMSCP", ("MOD1", "MOD2"), ("10.0.0.5",)),
            AccessRule("WLMSCP", ("ADMIN",)),
            AccessRule("*", ("VIEWER",)),
        )
    )
    assert policy.allows("WLMSCP", "MOD1", "10.0.0.5")
    assert not policy.allows("WLMSCP", "MOD1", "127.0.0.1")  # bound to its host
    assert policy.allows("WLMSCP", "ADMIN", "192.168.1.1")  # any host
    assert not policy.allows("WLMSCP", "VIEWER", "10.0.0.5")  # specific rules win
    assert policy.allows("QRSCP", "VIEWER", "10.0.0.5")
    assert not policy.allows("QRSCP", "MOD1", "10.0.0.5")


def _ops_server(hooks: OpsHooks) -> OpsServer:
    return OpsServer(ServerConfig(), {"worklist": _handler}, hooks)


async def _reject_reason(port: int, **kwargs: object) -> int:
    with pytest.raises(AssociationRejected) as info:
        async with aiodicom.connect("127.0.0.1", port, acse_timeout=5, **kwargs) as assoc:  # type: ignore[arg-type]
            await assoc.echo()
    return info.value.reason


@pytest.fixture
def info_logging() -> Iterator[None]:
    """Log at level info during the test (audit lines are info); restore afterwards."""
    saved = structlog.get_config()
    configure("console", "debug")
    try:
        yield
    finally:
        structlog.configure(**saved)


async def test_live_policy_identity_audit_and_no_secrets(info_logging: None) -> None:
    """Expected on the wire (PS3.8 9.3.4): calling AE not on the list for this called AE
    or host -> RJ reason 3; wrong password or missing identity when required -> RJ
    reason 1; the right one -> accepted. Audit: one line per association and per query
    with who/where/keys/matches/outcome; the password appears in no log line."""
    identity = UserIdentityChecker(
        UserIdentitySection(required=True, users=(UserEntry("alice", password=SECRET),))
    )
    access = AccessPolicy(
        (AccessRule("WLMSCP", ("MOD1",)), AccessRule("WLMSCP", ("MOD2",), ("10.1.1.1",)))
    )
    good: dict[str, object] = {"calling_ae": "MOD1", "called_ae": "WLMSCP"}
    with capture_logs() as logs:
        hooks = OpsHooks(access=access, identity=identity, audit=AuditLog())
        server = _ops_server(hooks)
        await server.start()
        try:
            port = server.port
            assert await _reject_reason(port, calling_ae="EVIL", called_ae="WLMSCP") == 3
            assert await _reject_reason(port, calling_ae="MOD2", called_ae="WLMSCP") == 3
            assert await _reject_reason(port, **good) == 1  # identity required
            bad_pw = ("alice", "not-" + SECRET)
            assert await _reject_reason(port, user_identity=bad_pw, **good) == 1
            async with aiodicom.connect(
                "127.0.0.1",
                port,
                calling_ae="MOD1",
                called_ae="WLMSCP",
                user_identity=("alice", SECRET),
            ) as assoc:
                found = [ds async for ds in assoc.find(_query(), "worklist")]
        finally:
            await server.shutdown(2.0)
    assert len(found) == 2
    associations = [e for e in logs if e.get("event") == "audit.association"]
    queries = [e for e in logs if e.get("event") == "audit.query"]
    outcomes = sorted(e["outcome"] for e in associations)
    assert outcomes == [
        "rejected:calling-ae-not-allowed",
        "rejected:calling-ae-not-allowed",
        "rejected:policy",
        "rejected:user-identity-required",
        "released",
    ], outcomes
    (query,) = queries
    assert query["calling_ae"] == "MOD1" and query["peer"].startswith("127.0.0.1:")
    assert query["keys"]["match"] == {"PatientName": "DOE*"}
    assert query["keys"]["return"] == ["PatientID"]
    assert query["matches"] == 2 and query["status"] == "0x0000"
    assert any(e.get("user") == "alice" for e in associations)
    assert SECRET not in repr(logs)
