"""Map DCMTK's TLS options onto an :class:`ssl.SSLContext` for ``aiodicom.connect(ssl=...)``.

PS3.15 B.1 / B.9 (BCP 195 profiles): TLS 1.2 or newer. ``+tls key cert`` authenticates
us with a certificate, ``+tla`` uses TLS without one. Peer verification: ``-rc`` require
(default), ``-vc`` verify if present, ``-ic`` ignore.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from getpass import getpass
from pathlib import Path

from aiodicom.errors import ConfigError

from .ciphers import set_ciphers

_VERIFY_MODES = {
    "require": ssl.CERT_REQUIRED,
    "verify": ssl.CERT_OPTIONAL,
    "ignore": ssl.CERT_NONE,
}


def _password(ns: argparse.Namespace) -> str | None:
    """``+pw`` given, ``-pw`` empty, ``+ps`` (default) prompts only if stdin is a tty."""
    if ns.password is not None:
        return str(ns.password)
    if sys.stdin.isatty():
        return getpass("Enter password for private key: ")
    return None


def _der_to_pem(path: str, label: str) -> str:
    """Write a DER file as PEM next to nothing: returns PEM text for ssl's loaders."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(path, "-der", "a readable DER file", str(exc)) from exc
    if label == "CERTIFICATE":
        return ssl.DER_cert_to_PEM_cert(data)
    import base64

    body = base64.encodebytes(data).decode("ascii")
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def _load_own_certificate(ctx: ssl.SSLContext, ns: argparse.Namespace) -> None:
    key_file, cert_file = ns.tls
    if ns.key_format == "der":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            cert_pem = Path(tmp, "cert.pem")
            cert_pem.write_text(_der_to_pem(cert_file, "CERTIFICATE"))
            key_pem = Path(tmp, "key.pem")
            key_pem.write_text(_der_to_pem(key_file, "PRIVATE KEY"))
            _load_chain(ctx, str(cert_pem), str(key_pem), ns)
        return
    _load_chain(ctx, cert_file, key_file, ns)


def _load_chain(ctx: ssl.SSLContext, cert: str, key: str, ns: argparse.Namespace) -> None:
    try:
        ctx.load_cert_chain(cert, key, password=lambda: _password(ns) or "")
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{key}, {cert}", "+tls", "a matching private key and certificate", str(exc)
        ) from exc


def _load_trust(ctx: ssl.SSLContext, ns: argparse.Namespace) -> None:
    for cert_file in ns.cert_files:
        try:
            if ns.key_format == "der":
                ctx.load_verify_locations(cadata=Path(cert_file).read_bytes())
            else:
                ctx.load_verify_locations(cafile=cert_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(cert_file, "+cf", "a certificate file", str(exc)) from exc
    for cert_dir in ns.cert_dirs:
        if not Path(cert_dir).is_dir():
            raise ConfigError(cert_dir, "+cd", "a directory of certificates")
        ctx.load_verify_locations(capath=cert_dir)
    for crl_file in ns.crl_files:
        try:
            ctx.load_verify_locations(cafile=crl_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(crl_file, "+crl", "a PEM CRL file", str(exc)) from exc
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def build_ssl_context(ns: argparse.Namespace) -> ssl.SSLContext | None:
    """The client SSLContext for the parsed options, or ``None`` without ``+tls``/``+tla``."""
    if ns.tls is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # DICOM peers are identified by certificate, not host name
    ctx.verify_mode = _VERIFY_MODES[ns.peer_cert]
    if ns.ciphers:
        set_ciphers(ctx, ns.ciphers)  # IANA (DCMTK) or OpenSSL names
    _load_trust(ctx, ns)
    if ns.tls:  # +tls key cert (an empty tuple means +tla: anonymous)
        _load_own_certificate(ctx, ns)
    return ctx
