"""Glue between ``aiodicom-worklist`` and the HL7 v2 order feed (:mod:`aiodicom.hl7`).

Like :mod:`.webglue`: the flags of the ``hl7:`` config section, and starting/stopping
the MLLP listener in the server's event loop. Off unless ``hl7.port`` / ``--hl7-port``
is set.
"""

from __future__ import annotations

import argparse
import dataclasses

from aiodicom.config import WorklistServerConfig
from aiodicom.errors import ListenError
from aiodicom.hl7 import FeedSettings, Hl7Listener, ListenerSettings, OrderFeed, start_listener
from aiodicom.store import WorklistStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("HL7 v2 order feed (MLLP; off unless a port is given)")
    group.add_argument("--hl7-port", type=int, help="MLLP port for ORM^O01 / OMI^O23 orders")
    group.add_argument("--hl7-host", help="address of the MLLP listener (default 127.0.0.1)")


def apply_arguments(config: WorklistServerConfig, args: argparse.Namespace) -> WorklistServerConfig:
    """Flags on top of the ``hl7:`` section (validated later with the whole config)."""
    changes = {
        key: value for key, value in (("port", args.hl7_port), ("host", args.hl7_host)) if value
    }
    if args.hl7_port == 0:
        changes["port"] = 0
    return dataclasses.replace(config, hl7=dataclasses.replace(config.hl7, **changes))


async def start(config: WorklistServerConfig, store: WorklistStore) -> Hl7Listener | None:
    """Start the listener when a port is configured (ListenError when it cannot bind)."""
    hl7 = config.hl7
    if hl7.port is None:
        return None
    feed = OrderFeed(
        store,
        FeedSettings(
            default_ae=hl7.ae_title or config.server.ae_title,
            stations=hl7.stations,
            mapping=hl7.mapping,
        ),
    )
    settings = ListenerSettings(
        host=hl7.host,
        port=hl7.port,
        allowed_senders=hl7.allowed_senders,
        max_message_kb=hl7.max_message_kb,
        idle_timeout=hl7.idle_timeout,
        max_connections=hl7.max_connections,
    )
    try:
        return await start_listener(feed, settings)
    except OSError as exc:
        raise ListenError("HL7 port: --hl7-port or hl7.port", hl7.host, hl7.port, exc) from None
