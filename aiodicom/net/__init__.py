"""The asyncio edge: one asyncio.Protocol per association feeding the sans-IO core."""

from aiodicom.net.client import ClientAssociation, Connector, connect
from aiodicom.net.client_protocol import Trace
from aiodicom.net.find import FindResultStream, FindStream
from aiodicom.net.loop import run
from aiodicom.net.n_scp import NCreateOperation, NSetOperation, register_n_service
from aiodicom.net.n_types import NEnd, NHandler, NObserver, NOutcome, NRequest, NResult
from aiodicom.net.pool import AssociationPool, FindQuery, PeerSpec, QueryOutcome, find_many
from aiodicom.net.query import EncodedQuery, encode_query
from aiodicom.net.server import Server, ServerConfig, serve
from aiodicom.net.types import FindHandler, FindRequest, FindResponse, FindResult

__all__ = [
    "AssociationPool",
    "ClientAssociation",
    "Connector",
    "EncodedQuery",
    "FindHandler",
    "FindQuery",
    "FindRequest",
    "FindResponse",
    "FindResult",
    "FindResultStream",
    "FindStream",
    "NCreateOperation",
    "NEnd",
    "NHandler",
    "NObserver",
    "NOutcome",
    "NRequest",
    "NResult",
    "NSetOperation",
    "PeerSpec",
    "QueryOutcome",
    "Server",
    "ServerConfig",
    "Trace",
    "connect",
    "encode_query",
    "find_many",
    "register_n_service",
    "run",
    "serve",
]
