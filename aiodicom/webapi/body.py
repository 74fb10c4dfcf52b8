"""JSON request bodies of the HTTP API, read within a size and a nesting-depth limit.

Python's JSON parser and the YAML writer both recurse once per nesting level, so a body
of 100,000 ``[`` (or DICOM JSON with hundreds of nested sequences, PS3.18 F.2.2) would
end in RecursionError. The depth is therefore measured *before* parsing, without
recursion: strings are blanked out, the remaining brackets counted. A body larger than
:data:`MAX_BODY` is refused with 413 (aiohttp's ``client_max_size``), a deeper one
with 400; both name their limit.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from aiohttp import web

from aiodicom.errors import DataError
from aiodicom.store.worklist_validate import FieldError
from aiodicom.webapi.items import ItemInvalid

MAX_BODY = 256 * 1024
"""Largest request body in bytes (aiohttp ``client_max_size``); a worklist item is ~2 KB."""
MAX_DEPTH = 64
"""Deepest JSON nesting: DICOM JSON takes 3 levels per sequence level, so ~20 sequences."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))


class BodyTooLarge(DataError):
    """A request body over :data:`MAX_BODY` bytes (HTTP 413)."""

    def __init__(self) -> None:
        super().__init__("request body", self.message())

    @staticmethod
    def message() -> str:
        return f"request body larger than the limit of {MAX_BODY} bytes"


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar); iterative."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS).translate(_BRACKETS)
    return max(accumulate(mark - 1 for mark in brackets), default=0)


def parse_json(data: bytes) -> Any:
    """A JSON body checked for depth first (ItemInvalid naming the limit or the parse error)."""
    if json_depth(data) > MAX_DEPTH:
        rule = f"JSON nested deeper than the limit of {MAX_DEPTH} levels"
        raise ItemInvalid([FieldError("body", rule)])
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ItemInvalid([FieldError("body", f"not valid JSON: {exc}")]) from exc


async def read_json(request: web.Request) -> Any:
    """The request's JSON body within :data:`MAX_BODY` and :data:`MAX_DEPTH`."""
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BodyTooLarge() from exc
    return parse_json(data)
