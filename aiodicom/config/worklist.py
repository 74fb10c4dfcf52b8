"""Typed configuration of the Modality Worklist SCP (``config/worklist.yaml``).

The ``server``, ``matching`` and ``logging`` sections are shared
(:mod:`aiodicom.config.common`); the ``worklist`` section names the data folder and the
query limits, the ``http`` section the management API.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from aiodicom.config.common import (
    LoggingSection,
    MatchingSection,
    NetworkSection,
    build_section,
    check_range,
    read_yaml,
)
from aiodicom.errors import ConfigError


@dataclass(frozen=True, slots=True)
class WorklistSection:
    """The data folder (``<data>/<AE title>/*.wl|*.yaml``) and the query limits."""

    data: Path = Path("worklist-data")
    max_matches: int = 1000
    watch: bool = True
    poll_interval: float = 2.0
    answer_cache_mb: int = 64


@dataclass(frozen=True, slots=True)
class HttpSection:
    """The worklist management HTTP API (``aiodicom.webapi``), in the server's process.

    Loopback by default; ``token`` is required when ``host`` is not a loopback address.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    query_log_size: int = 200


@dataclass(frozen=True, slots=True)
class MppsSection:
    """The Modality Performed Procedure Step SCP beside the worklist (PS3.4 Annex F).

    ``folder``: where MPPS instances are stored (None: ``<worklist.data>/.mpps``; a
    relative path is relative to the config file). ``keep_final``: a completed or
    discontinued step stays in the worklist with that status instead of leaving it.
    """

    enabled: bool = True
    keep_final: bool = False
    folder: Path | None = None


@dataclass(frozen=True, slots=True)
class Hl7Section:
    """The HL7 v2 order feed (``aiodicom.hl7``): an MLLP listener, off while ``port`` is
    null. Loopback by default; another address needs ``allowed_senders``."""

    port: int | None = None
    host: str = "127.0.0.1"
    allowed_senders: tuple[str, ...] = ()
    ae_title: str | None = None
    stations: dict[str, str] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    max_message_kb: int = 1024
    idle_timeout: float = 300.0
    max_connections: int = 50


@dataclass(frozen=True, slots=True)
class WorklistServerConfig:
    """The whole ``config/worklist.yaml`` file."""

    server: NetworkSection = field(default_factory=NetworkSection)
    worklist: WorklistSection = field(default_factory=WorklistSection)
    matching: MatchingSection = field(default_factory=MatchingSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    http: HttpSection = field(default_factory=HttpSection)
    mpps: MppsSection = field(default_factory=MppsSection)
    hl7: Hl7Section = field(default_factory=Hl7Section)
    source: str | None = None


def check_ae_title(file: str | None, key: str, title: str) -> None:
    """PS3.5 6.2: an AE title is 1 to 16 characters of the default repertoire, no "\\"."""
    if not 0 < len(title.strip()) <= 16 or "\\" in title or not title.isprintable():
        raise ConfigError(file, key, "an AE title of 1 to 16 printable characters", title)


def validate_worklist_config(config: WorklistServerConfig) -> WorklistServerConfig:
    """Range checks that the types cannot express (PS3.5 6.2: AE titles <= 16 chars)."""
    file, net = config.source, config.server
    check_range(file, "server.port", net.port, 0, 65535)
    check_range(file, "server.max_associations", net.max_associations, 1, 100_000)
    check_range(file, "server.max_pdu_length", net.max_pdu_length, 0, 1 << 31)
    check_range(file, "server.async_ops_window", net.async_ops_window, 1, 65535)
    check_range(file, "server.artim_timeout", net.artim_timeout, 0.001, 86400)
    check_range(file, "server.idle_timeout", net.idle_timeout, 0.001, 864000)
    check_range(file, "server.pdu_timeout", net.pdu_timeout, 0.001, 86400)
    check_range(file, "server.message_timeout", net.message_timeout, 0.001, 86400)
    for key in ("max_associations_per_address", "max_associations_per_calling_ae"):
        limit = getattr(net, key)
        if limit is not None:
            check_range(file, f"server.{key}", limit, 1, 100_000)
    check_range(file, "worklist.max_matches", config.worklist.max_matches, 1, 10_000_000)
    check_range(file, "worklist.poll_interval", config.worklist.poll_interval, 0.05, 3600)
    check_range(file, "worklist.answer_cache_mb", config.worklist.answer_cache_mb, 0, 65536)
    titles = [("server.ae_title", net.ae_title)]
    titles += [
        (f"server.allowed_calling_aes[{i}]", t) for i, t in enumerate(net.allowed_calling_aes or ())
    ]
    for key, title in titles:
        check_ae_title(file, key, title)
    _validate_http(config)
    _validate_hl7(config)
    return config


def _validate_hl7(config: WorklistServerConfig) -> None:
    """The ``hl7:`` section: ranges, the bind rule, the routes and the mapping entries."""
    import ipaddress

    from aiodicom.hl7.mapping import build_rules
    from aiodicom.webapi.settings import is_loopback

    file, hl7 = config.source, config.hl7
    if hl7.port is not None:
        check_range(file, "hl7.port", hl7.port, 0, 65535)
    check_range(file, "hl7.max_message_kb", hl7.max_message_kb, 1, 1 << 20)
    check_range(file, "hl7.idle_timeout", hl7.idle_timeout, 0.01, 864000)
    check_range(file, "hl7.max_connections", hl7.max_connections, 1, 100_000)
    for index, sender in enumerate(hl7.allowed_senders):
        try:
            ipaddress.ip_network(sender, strict=False)
        except ValueError:
            key = f"hl7.allowed_senders[{index}]"
            raise ConfigError(file, key, "an IP address or network", sender) from None
    if hl7.port is not None and not is_loopback(hl7.host) and not hl7.allowed_senders:
        raise ConfigError(
            file, "hl7.host",
            "a loopback address, or hl7.allowed_senders (the RIS addresses) to listen on "
            "another address", hl7.host,
        )  # fmt: skip
    titles = [("hl7.ae_title", hl7.ae_title)] if hl7.ae_title is not None else []
    titles += [(f"hl7.stations.{name}", title) for name, title in hl7.stations.items()]
    for key, title in titles:
        check_ae_title(file, key, title)
    for version in ("2.3.1", "2.5.1"):
        try:
            build_rules(version, hl7.mapping)
        except ValueError as exc:
            raise ConfigError(file, "hl7.mapping", str(exc)) from None


def _validate_http(config: WorklistServerConfig) -> None:
    """The ``http:`` section: port range, and a token unless bound to loopback."""
    from aiodicom.webapi.settings import WebSettings, check_bind

    http = config.http
    check_range(config.source, "http.port", http.port, 0, 65535)
    check_range(config.source, "http.query_log_size", http.query_log_size, 1, 100_000)
    if http.enabled:
        check_bind(WebSettings(host=http.host, port=http.port, token=http.token), config.source)


def load_worklist_config(path: Path | str | None) -> WorklistServerConfig:
    """Load and validate a worklist config; ``worklist.data`` is relative to the file."""
    if path is None:
        return validate_worklist_config(WorklistServerConfig())
    file = Path(path)
    config = build_section(WorklistServerConfig, read_yaml(file), str(file))
    data = config.worklist.data
    if not data.is_absolute():
        data = (file.parent / data).resolve()
    worklist = dataclasses.replace(config.worklist, data=data)
    mpps = config.mpps
    if mpps.folder is not None and not mpps.folder.is_absolute():
        mpps = dataclasses.replace(mpps, folder=(file.parent / mpps.folder).resolve())
    return validate_worklist_config(
        dataclasses.replace(config, worklist=worklist, mpps=mpps, source=str(file))
    )
