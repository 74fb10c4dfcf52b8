"""Shared helpers for the asyncio edge tests: identifiers, handlers, raw sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from pydicom import Dataset

from aiodicom import FindHandler, FindRequest, FindResponse
from aiodicom.dicom.identifier import encode_identifier
from aiodicom.net.server import Server

Serve = Callable[..., AbstractAsyncContextManager[Server]]
"""How a test of the net layer starts a server: ``aiodicom.serve`` (the ``serve``
fixture), or a variant of it a test module chooses by overriding the fixture."""


def identifier(index: int) -> Dataset:
    """A small worklist-ish identifier whose PatientID encodes ``index``."""
    ds = Dataset()
    ds.PatientName = f"DOE^JOHN{index}"
    ds.PatientID = f"ID{index:06d}"
    return ds


def query(name: str = "*") -> Dataset:
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = ""
    return ds


@dataclass
class Recorder:
    """What a handler saw: requests, how many items it produced, whether it was closed."""

    requests: list[FindRequest] = field(default_factory=list)
    produced: int = 0
    closed: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)


def counting_handler(
    count: int, recorder: Recorder, *, delay: float = 0.0, as_bytes: bool = True
) -> FindHandler:
    """A handler yielding ``count`` identifiers (pre-encoded bytes by default)."""

    async def handler(request: FindRequest) -> AsyncIterator[Dataset | bytes | FindResponse]:
        recorder.requests.append(request)
        recorder.started.set()
        try:
            for index in range(count):
                ds = identifier(index)
                recorder.produced += 1
                if as_bytes:
                    yield encode_identifier(ds, request.transfer_syntax)
                else:
                    yield ds
                if delay:
                    await asyncio.sleep(delay)
        finally:
            recorder.closed += 1

    return handler


async def read_until_closed(reader: asyncio.StreamReader, limit: float) -> bytes:
    """Read everything until EOF, at most ``limit`` seconds."""
    chunks = []
    async with asyncio.timeout(limit):
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
