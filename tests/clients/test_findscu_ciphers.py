"""``+cs`` takes the IANA names DCMTK users write and OpenSSL's names (#14.4)."""

from __future__ import annotations

import re
import ssl
import subprocess
from pathlib import Path

import pytest

from aiodicom.errors import ConfigError
from clients.findscu.ciphers import openssl_name
from clients.findscu.cli import parse_args
from clients.findscu.tls import build_ssl_context
from tests.clients.peers import DCMTK_ENV, FINDSCU


def _context(*ciphers: str) -> ssl.SSLContext:
    argv = ["+tla", "-ic"]
    for name in ciphers:
        argv += ["+cs", name]
    ns, _ = parse_args([*argv, "h", "104", "-k", "PatientID"])
    ctx = build_ssl_context(ns)
    assert ctx is not None
    return ctx


def _tls12_names(ctx: ssl.SSLContext) -> set[str]:
    return {c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384"),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
        ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    ],
)
def test_cipher_names_dcmtk_and_openssl(given: str, expected: str) -> None:
    assert _tls12_names(_context(given)) == {expected}


def test_several_names_and_tls13_names() -> None:
    ctx = _context(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",  # TLS 1.3: always on, accepted
        "ECDHE-RSA-AES256-GCM-SHA384",
    )
    assert _tls12_names(ctx) == {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}


@pytest.mark.parametrize("bad", ["TLS_FOO_WITH_BAR", "NOT-A-CIPHER"])
def test_unknown_cipher_names_the_value(bad: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(bad)):
        _context(bad)


@pytest.mark.skipif(not Path(FINDSCU).exists(), reason="DCMTK findscu not installed")
def test_every_suite_dcmtk_lists_maps_to_an_openssl_suite() -> None:
    listing = subprocess.run(
        [FINDSCU, "+cc"], capture_output=True, text=True, env=DCMTK_ENV, timeout=10, check=False
    ).stdout
    names = re.findall(r"^\s+(TLS_\w+)$", listing, flags=re.MULTILINE)
    assert len(names) > 20, listing
    everything = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    everything.set_ciphers("ALL:eNULL:@SECLEVEL=0")
    known = {c["name"] for c in everything.get_ciphers()}
    unknown = {name: openssl_name(name) for name in names if openssl_name(name) not in known}
    assert unknown == {}
