"""The asyncio edge: one asyncio.Protocol per association feeding the sans-IO core."""

from aiodicom.net.client import ClientAssociation, Connector, connect
from aiodicom.net.find import FindResultStream, FindStream
from aiodicom.net.query import EncodedQuery, encode_query
from aiodicom.net.server import Server, ServerConfig, serve
from aiodicom.net.types import FindHandler, FindRequest, FindResponse, FindResult

__all__ = [
    "ClientAssociation",
    "Connector",
    "EncodedQuery",
    "FindHandler",
    "FindRequest",
    "FindResponse",
    "FindResult",
    "FindResultStream",
    "FindStream",
    "Server",
    "ServerConfig",
    "connect",
    "encode_query",
    "serve",
]
