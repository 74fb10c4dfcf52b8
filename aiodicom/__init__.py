"""aiodicom: an asyncio-native DICOM C-FIND toolkit.

The public API: :func:`connect` (SCU: C-ECHO, C-FIND, C-CANCEL), :class:`Server` and
:func:`serve` (SCP with C-FIND handlers), the value types and the error hierarchy.
"""

from aiodicom.errors import (
    AiodicomError,
    AssociationAborted,
    AssociationError,
    AssociationRejected,
    ConfigError,
    DataError,
    DicomTimeoutError,
    DimseStatusError,
    LocalProtocolError,
    NegotiationError,
    ProtocolError,
    QueryError,
)
from aiodicom.net import (
    AssociationPool,
    ClientAssociation,
    EncodedQuery,
    FindHandler,
    FindQuery,
    FindRequest,
    FindResponse,
    FindResult,
    FindResultStream,
    FindStream,
    PeerSpec,
    QueryOutcome,
    Server,
    ServerConfig,
    connect,
    encode_query,
    find_many,
    serve,
)
from aiodicom.proto import QueryModel, StatusCategory

__version__ = "0.1.0"

__all__ = [
    "AiodicomError",
    "AssociationAborted",
    "AssociationError",
    "AssociationPool",
    "AssociationRejected",
    "ClientAssociation",
    "ConfigError",
    "DataError",
    "DicomTimeoutError",
    "DimseStatusError",
    "EncodedQuery",
    "FindHandler",
    "FindQuery",
    "FindRequest",
    "FindResponse",
    "FindResult",
    "FindResultStream",
    "FindStream",
    "LocalProtocolError",
    "NegotiationError",
    "PeerSpec",
    "ProtocolError",
    "QueryError",
    "QueryModel",
    "QueryOutcome",
    "Server",
    "ServerConfig",
    "StatusCategory",
    "__version__",
    "connect",
    "encode_query",
    "find_many",
    "serve",
]
