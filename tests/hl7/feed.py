"""An order feed on a fresh data folder, served by the MLLP listener on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import hl7
from hl7.mllp import open_hl7_connection

from aiodicom.hl7 import FeedSettings, Hl7Listener, ListenerSettings, OrderFeed, start_listener
from aiodicom.store import WorklistStore


@dataclass(slots=True)
class Feed:
    root: Path
    store: WorklistStore
    listener: Hl7Listener

    @property
    def port(self) -> int:
        return self.listener.port

    def items(self, ae_title: str = "WLMSCP") -> dict[str, str]:
        """Item id -> YAML text of every item file in an AE folder."""
        folder = self.root / ae_title
        return {p.stem: p.read_text("utf-8") for p in sorted(folder.glob("*.yaml"))}

    async def send(self, message: str | bytes, encoding: str = "utf-8") -> hl7.Message:
        """One message over MLLP (the ``hl7`` package's client); the parsed ACK."""
        reader, writer = await open_hl7_connection("127.0.0.1", self.port, encoding=encoding)
        try:
            data = message if isinstance(message, bytes) else message.encode(encoding)
            writer.writeblock(data)
            await writer.drain()
            return await reader.readmessage()
        finally:
            writer.close()
            await writer.wait_closed()


@asynccontextmanager
async def order_feed(
    root: Path,
    *,
    titles: tuple[str, ...] = ("WLMSCP",),
    stations: Mapping[str, str] | None = None,
    mapping: Mapping[str, str] | None = None,
    settings: ListenerSettings | None = None,
) -> AsyncIterator[Feed]:
    for title in titles:
        (root / title).mkdir(exist_ok=True)
    store = WorklistStore(root)
    feed = OrderFeed(store, FeedSettings("WLMSCP", dict(stations or {}), dict(mapping or {})))
    listener = await start_listener(feed, settings or ListenerSettings(port=0))
    try:
        yield Feed(root, store, listener)
    finally:
        await listener.stop()


def msa(ack: hl7.Message) -> str:
    return str(ack.segment("MSA")(1))


def err(ack: hl7.Message) -> tuple[str, str, str]:
    """(ERR-2 location, ERR-3.1 code, ERR-8 text) of an ACK."""
    segment = ack.segment("ERR")
    return str(segment(2)), str(segment(3)(1)(1)), str(segment(8))
