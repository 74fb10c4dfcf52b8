"""Server security from config: TLS context, user identity checker, calling-AE allow-list.

The ``security`` section of a server YAML file::

    security:
      tls:                          # PS3.15 B.1: the TLS secure transport connection profile
        cert: server.pem
        key: server.key
        ca: clients-ca.pem          # optional: trust anchors for client certificates
        require_client_cert: false
      user_identity:                # PS3.7 D.3.3.7: user identity negotiation
        required: false             # reject associations that carry no user identity
        users:
          - {username: alice, password_env: ALICE_PASSWORD}
          - {username: bob, password_sha256: "<hex of sha256(password)>"}
      access:                       # calling-AE allow-list per called AE, optionally per host
        - {called_ae: WLMSCP, calling_aes: [MODALITY1], hosts: [10.0.0.5]}

Passwords are compared as SHA-256 digests with :func:`hmac.compare_digest` and are never
logged, stored in an exception message or put in a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiodicom.config.common import build_section, read_yaml
from aiodicom.errors import ConfigError
from aiodicom.proto.pdus import UserIdentityRQ

USERNAME = 1
USERNAME_AND_PASSCODE = 2
"""PS3.7 D.3.3.7.1, Table D.3-14: the user identity types we check (1 and 2)."""


@dataclass(frozen=True, slots=True)
class TLSSection:
    """Certificate, key and the optional client CA (PS3.15 B.1 TLS profile)."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    require_client_cert: bool = False


@dataclass(frozen=True, slots=True)
class UserEntry:
    """One user: exactly one of ``password``, ``password_sha256``, ``password_env``, or
    none of them for a user that may authenticate with a username alone (type 1)."""

    username: str = ""
    password: str | None = field(default=None, repr=False)
    password_sha256: str | None = field(default=None, repr=False)
    password_env: str | None = None


@dataclass(frozen=True, slots=True)
class UserIdentitySection:
    required: bool = False
    users: tuple[UserEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Calling AE titles allowed to call ``called_ae`` ("*" = any called AE), from ``hosts``
    (None = any peer address)."""

    called_ae: str = "*"
    calling_aes: tuple[str, ...] = ()
    hosts: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SecuritySection:
    tls: TLSSection | None = None
    user_identity: UserIdentitySection | None = None
    access: tuple[AccessRule, ...] | None = None


def load_security(path: Path | str) -> SecuritySection:
    """Read the ``security`` section of a YAML config file (other sections are ignored).

    Relative TLS paths are relative to the file. ConfigError names file and key.
    """
    file = Path(path)
    document = read_yaml(file)
    if document is not None and not isinstance(document, Mapping):
        raise ConfigError(str(file), "<top level>", "a mapping", document)
    raw: Any = (document or {}).get("security")
    section = build_section(SecuritySection, raw, str(file), "security")
    if section.tls is not None:
        section = _resolve_tls(section, file.parent)
    validate_security(section, str(file))
    return section


def _resolve_tls(section: SecuritySection, base: Path) -> SecuritySection:
    tls = section.tls
    assert tls is not None

    def resolve(value: Path | None) -> Path | None:
        return value if value is None or value.is_absolute() else (base / value).resolve()

    resolved = TLSSection(
        resolve(tls.cert), resolve(tls.key), resolve(tls.ca), tls.require_client_cert
    )
    return SecuritySection(resolved, section.user_identity, section.access)


def validate_security(section: SecuritySection, file: str | None = None) -> None:
    """Checks the types cannot express; ConfigError names the dotted key (never a secret)."""
    tls = section.tls
    if tls is not None:
        if tls.cert is None or tls.key is None:
            raise ConfigError(file, "security.tls", "both cert and key")
        if tls.require_client_cert and tls.ca is None:
            raise ConfigError(file, "security.tls.ca", "a CA file when require_client_cert")
    identity = section.user_identity
    for index, user in enumerate(identity.users if identity else ()):
        key = f"security.user_identity.users[{index}]"
        if not user.username:
            raise ConfigError(file, f"{key}.username", "a non-empty user name")
        given = [v for v in (user.password, user.password_sha256, user.password_env) if v]
        if len(given) > 1:
            raise ConfigError(file, key, "at most one of password, password_sha256, password_env")
        digest = user.password_sha256
        if digest is not None and (len(digest) != 64 or not _is_hex(digest)):
            raise ConfigError(file, f"{key}.password_sha256", "64 hexadecimal digits")
    for index, rule in enumerate(section.access or ()):
        if not rule.calling_aes:
            raise ConfigError(file, f"security.access[{index}].calling_aes", "a non-empty list")


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def server_ssl_context(tls: TLSSection, file: str | None = None) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+, PS3.15 B.1/B.9); client certificates required when
    ``require_client_cert`` (verified against ``ca``). ConfigError on unreadable files."""
    if tls.cert is None or tls.key is None:
        raise ConfigError(file, "security.tls", "both cert and key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            file, "security.tls.cert", "a readable PEM certificate and key", str(tls.cert)
        ) from exc
    if tls.ca is not None:
        try:
            context.load_verify_locations(cafile=str(tls.ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                file, "security.tls.ca", "a readable PEM CA file", str(tls.ca)
            ) from exc
        context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return context


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class UserIdentityChecker:
    """PS3.7 D.3.3.7: checks username (type 1) or username + passcode (type 2).

    Usable as ``ServerConfig.user_identity`` / ``AcceptorPolicy.user_identity``: returns
    b"" (the empty server response of types 1 and 2, D.3.3.7.2) to accept, None to refuse.
    Only digests are kept; ``repr`` shows user names only.
    """

    def __init__(self, section: UserIdentitySection, file: str | None = None) -> None:
        self.required = section.required
        self._digests: dict[str, bytes | None] = {}
        for index, user in enumerate(section.users):
            self._digests[user.username] = _digest_of(user, file, index)

    def __repr__(self) -> str:
        return f"UserIdentityChecker(users={sorted(self._digests)!r}, required={self.required})"

    def __call__(self, identity: UserIdentityRQ) -> bytes | None:
        try:
            username = identity.primary_field.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if username not in self._digests:
            return None
        expected = self._digests[username]
        if identity.identity_type == USERNAME:
            return b"" if expected is None else None
        if identity.identity_type != USERNAME_AND_PASSCODE or expected is None:
            return None
        given = _sha256(identity.secondary_field)
        return b"" if hmac.compare_digest(given, expected) else None


def _digest_of(user: UserEntry, file: str | None, index: int) -> bytes | None:
    if user.password is not None:
        return _sha256(user.password.encode("utf-8"))
    if user.password_sha256 is not None:
        return bytes.fromhex(user.password_sha256)
    if user.password_env is not None:
        value = os.environ.get(user.password_env)
        if value is None:
            key = f"security.user_identity.users[{index}].password_env"
            raise ConfigError(
                file, key, "the name of a set environment variable", user.password_env
            )
        return _sha256(value.encode("utf-8"))
    return None


class AccessPolicy:
    """Calling-AE allow-list per called AE, optionally bound to the peer IP address.

    PS3.8 9.3.4: a refused calling AE is rejected permanently with source 1, reason 3
    (calling-AE-title-not-recognized). With no rule for a called AE, rules for "*" apply;
    with no applicable rule at all, the association is refused.
    """

    def __init__(self, rules: tuple[AccessRule, ...]) -> None:
        self.rules = rules

    def allows(self, called_ae: str, calling_ae: str, host: str) -> bool:
        specific = [r for r in self.rules if r.called_ae == called_ae]
        applicable = specific or [r for r in self.rules if r.called_ae == "*"]
        return any(
            calling_ae in rule.calling_aes and (rule.hosts is None or host in rule.hosts)
            for rule in applicable
        )
