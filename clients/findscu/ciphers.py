"""``+cs`` cipher suite names: the IANA names DCMTK lists (``findscu +cc``) and OpenSSL's.

DCMTK users write the IANA (RFC) name of a TLS 1.2 suite, e.g.
``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``; Python's :meth:`ssl.SSLContext.set_ciphers`
wants OpenSSL's, ``ECDHE-RSA-AES128-GCM-SHA256``. :func:`openssl_name` translates the
first into the second by OpenSSL's naming rules (key exchange and authentication
prefix, cipher, MAC); an OpenSSL name passes unchanged. TLS 1.3 suites
(``TLS_AES_128_GCM_SHA256``, PS3.15 B.9 / BCP 195) are not configurable through
``set_ciphers`` and are always enabled by OpenSSL; they are accepted and left out.
"""

from __future__ import annotations

import re
import ssl

from aiodicom.errors import ConfigError

TLS13_SUITES = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)
_KEY_EXCHANGE = {
    "RSA": "",
    "ECDHE_RSA": "ECDHE-RSA",
    "ECDHE_ECDSA": "ECDHE-ECDSA",
    "DHE_RSA": "DHE-RSA",
    "DHE_DSS": "DHE-DSS",
    "ECDHE_PSK": "ECDHE-PSK",
    "DHE_PSK": "DHE-PSK",
    "RSA_PSK": "RSA-PSK",
    "PSK": "PSK",
}
_BULK = re.compile(
    r"^(?P<cipher>AES|CAMELLIA|ARIA)_(?P<bits>128|256)_(?P<mode>GCM|CBC|CCM)"
    r"(?:_(?P<mac>SHA|SHA256|SHA384|8))?$"
)


def _bulk_name(bulk: str) -> str | None:
    """``AES_128_GCM_SHA256`` -> ``AES128-GCM-SHA256``; None when not a known shape."""
    if bulk == "CHACHA20_POLY1305_SHA256":
        return "CHACHA20-POLY1305"
    if bulk == "NULL_SHA":
        return "NULL-SHA"
    if bulk == "3DES_EDE_CBC_SHA":
        return "DES-CBC3-SHA"
    match = _BULK.match(bulk)
    if match is None:
        return None
    base = f"{match['cipher']}{match['bits']}"
    mode, mac = match["mode"], match["mac"]
    if mode == "CCM":
        return f"{base}-CCM8" if mac == "8" else f"{base}-CCM"
    if mode == "GCM":
        return f"{base}-GCM-{mac}" if mac else None
    return f"{base}-{mac}" if mac else None  # CBC: OpenSSL leaves "CBC" out


def openssl_name(name: str) -> str | None:
    """The OpenSSL name of an IANA ``TLS_*_WITH_*`` suite; the name itself when it is not
    an IANA name; None for a TLS 1.3 suite (see the module docstring)."""
    upper = name.upper()
    if upper in TLS13_SUITES:
        return None
    if not upper.startswith("TLS_") or "_WITH_" not in upper:
        return name
    exchange, _, bulk = upper[4:].partition("_WITH_")
    prefix = _KEY_EXCHANGE.get(exchange)
    cipher = _bulk_name(bulk)
    if prefix is None or cipher is None:
        raise ConfigError(None, "+cs", "a TLS cipher suite name (IANA or OpenSSL)", name)
    if exchange == "RSA" and cipher == "DES-CBC3-SHA":
        return cipher
    if exchange.startswith("DHE_") and cipher.startswith("DES-CBC3"):
        return f"{prefix[:3]}-{exchange[4:]}-DES-CBC3-SHA"
    return f"{prefix}-{cipher}" if prefix else cipher


def set_ciphers(ctx: ssl.SSLContext, names: list[str]) -> None:
    """Restrict ``ctx`` to the TLS 1.2 suites ``names`` (IANA or OpenSSL names).

    Each suite must be offered by this OpenSSL build; otherwise a :class:`ConfigError`
    names the ``+cs`` value at fault.
    """
    wanted = {name: openssl_name(name) for name in names}
    tls12 = [value for value in wanted.values() if value is not None]
    if not tls12:
        return  # only TLS 1.3 suites: OpenSSL's defaults for TLS 1.2 stay
    try:
        ctx.set_ciphers(":".join(tls12))
    except ssl.SSLError as exc:
        raise ConfigError(None, "+cs", "a cipher suite this OpenSSL offers", names) from exc
    offered = {cipher["name"] for cipher in ctx.get_ciphers()}
    for name, value in wanted.items():
        if value is not None and value not in offered:
            raise ConfigError(None, "+cs", "a cipher suite this OpenSSL offers", name)
