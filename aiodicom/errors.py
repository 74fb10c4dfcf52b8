"""The one exception hierarchy of aiodicom.

Protocol errors carry what goes on the wire (A-ABORT source and reason, A-ASSOCIATE-RJ
result/source/reason, DIMSE status). User errors name the file, key or option at fault.

    AiodicomError
    ├── ProtocolError            the peer broke PS3.8/PS3.7; carries A-ABORT source + reason
    ├── LocalProtocolError       we were asked to do something illegal in this state
    ├── AssociationError
    │   ├── AssociationRejected  A-ASSOCIATE-RJ received (result, source, reason)
    │   ├── AssociationAborted   A-ABORT / A-P-ABORT received or connection lost
    │   ├── ConnectFailed        TCP/TLS connect failed (also a ConnectionError)
    │   └── NegotiationError     accepted, but no usable presentation context for the request
    ├── DimseStatusError         a DIMSE response with a failure (or refused) status
    │   └── QueryError           an SCP-side refusal of an identifier, raised by handlers
    ├── DicomTimeoutError        connect / ARTIM / DIMSE timeout (also a TimeoutError)
    ├── ConfigError              a bad config value: names file, key and what was expected
    ├── DataError                a bad data file: names the file and the reason
    ├── ListenError              a listening socket could not be opened: address, port, flag
    └── Hl7Error                 an HL7 v2 message we refuse: segment, field, HL7 error code
"""

from __future__ import annotations

import errno
from enum import IntEnum

__all__ = [
    "AbortReason",
    "AbortSource",
    "AiodicomError",
    "AssociationAborted",
    "AssociationError",
    "AssociationRejected",
    "ConfigError",
    "ConnectFailed",
    "DataError",
    "DicomTimeoutError",
    "DimseStatusError",
    "Hl7Error",
    "IndexConnectError",
    "IndexUnavailable",
    "ListenError",
    "LocalProtocolError",
    "NegotiationError",
    "ProtocolError",
    "QueryError",
]


class AbortSource(IntEnum):
    """PS3.8 9.3.8, Table 9-26: A-ABORT source field."""

    SERVICE_USER = 0
    RESERVED = 1
    SERVICE_PROVIDER = 2


class AbortReason(IntEnum):
    """PS3.8 9.3.8, Table 9-26: A-ABORT reason/diag (meaningful when source is provider)."""

    NOT_SPECIFIED = 0
    UNRECOGNIZED_PDU = 1
    UNEXPECTED_PDU = 2
    RESERVED = 3
    UNRECOGNIZED_PDU_PARAMETER = 4
    UNEXPECTED_PDU_PARAMETER = 5
    INVALID_PDU_PARAMETER_VALUE = 6


class AiodicomError(Exception):
    """Base of every exception raised by aiodicom."""


class ProtocolError(AiodicomError):
    """The peer violated the protocol. The association is aborted with ``source``/``reason``.

    PS3.8 9.3.8: the A-ABORT PDU carries the source and the reason/diag of the abort.
    """

    def __init__(
        self,
        message: str,
        *,
        source: int = AbortSource.SERVICE_PROVIDER,
        reason: int = AbortReason.INVALID_PDU_PARAMETER_VALUE,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.args[0]} (A-ABORT source={self.source}, reason={self.reason})"


class LocalProtocolError(AiodicomError):
    """The local user asked for something illegal, e.g. sending data in the wrong state."""


class AssociationError(AiodicomError):
    """Base for association-level failures seen by a user of the API."""


REJECT_REASONS: dict[tuple[int, int], str] = {
    # PS3.8 9.3.4, Table 9-21: (source, reason) -> name
    (1, 1): "no-reason-given",
    (1, 2): "application-context-name-not-supported",
    (1, 3): "calling-AE-title-not-recognized",
    (1, 7): "called-AE-title-not-recognized",
    (2, 1): "no-reason-given",
    (2, 2): "protocol-version-not-supported",
    (3, 1): "temporary-congestion",
    (3, 2): "local-limit-exceeded",
}


class AssociationRejected(AssociationError):
    """PS3.8 9.3.4: an A-ASSOCIATE-RJ was received. ``result`` 1 = permanent, 2 = transient."""

    def __init__(self, result: int, source: int, reason: int) -> None:
        self.result = result
        self.source = source
        self.reason = reason
        self.reason_name = REJECT_REASONS.get((source, reason), f"reason-{reason}")
        kind = "permanent" if result == 1 else "transient"
        super().__init__(
            f"association rejected ({kind}): {self.reason_name} (source={source}, reason={reason})"
        )


class AssociationAborted(AssociationError):
    """PS3.8 9.3.8 / 7.3-7.4: the association was aborted (A-ABORT, A-P-ABORT or lost link)."""

    def __init__(self, message: str, *, source: int | None = None, reason: int | None = None):
        super().__init__(message)
        self.source = source
        self.reason = reason


class ConnectFailed(AssociationError, ConnectionError):
    """The transport connection (TCP, then TLS) to ``host:port`` could not be opened.

    PS3.8 7.1: no association was ever requested, so nothing was aborted. Also an
    :class:`OSError` (``ConnectionError``) carrying the ``errno`` of the cause.
    """

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {cause}")
        self.host = host
        self.port = port
        self.errno = cause.errno
        self.strerror = cause.strerror

    def __str__(self) -> str:  # OSError's would print only "[Errno n] strerror"
        return str(self.args[0])


class NegotiationError(AssociationError):
    """The association exists, but no accepted presentation context fits the request."""


class DimseStatusError(AiodicomError):
    """PS3.7 Annex C: a DIMSE response carried a failure/refused status (``error_id``: the
    Error ID (0000,0903) of a DIMSE-N response, e.g. 0xA710 of PS3.4 Table F.7.2-2)."""

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        comment: str | None = None,
        error_id: int | None = None,
    ) -> None:
        self.status = status
        self.comment = comment
        self.error_id = error_id
        text = message or f"DIMSE failure status 0x{status:04X}"
        if comment:
            text += f": {comment}"
        super().__init__(text)


class QueryError(DimseStatusError):
    """Raised by a C-FIND handler to refuse an identifier with a precise failure status.

    PS3.4 C.4.1.1.4 / K.4.1.1.4: e.g. 0xA900 (identifier does not match SOP class) or
    0xC000-0xCFFF (unable to process). ``comment`` goes into Error Comment (0000,0902).
    """


class IndexUnavailable(QueryError):
    """The Q/R index (e.g. its PostgreSQL server) cannot be reached or failed mid-query.

    PS3.4 C.4.1.1.4 allows 0xA700 (Refused: Out of Resources) for a C-FIND the SCP cannot
    serve now; PS3.4 B.2.3 the same for a C-STORE it cannot index. The server keeps serving.
    """

    OUT_OF_RESOURCES = 0xA700

    def __init__(self, cause: str) -> None:
        super().__init__(self.OUT_OF_RESOURCES, comment=f"Q/R index unavailable: {cause}")


class StoreError(DimseStatusError):
    """Raised by a C-STORE handler to refuse an instance with a failure status.

    PS3.4 B.2.3: 0xA7xx out of resources, 0xA9xx data set does not match SOP class,
    0xCxxx cannot understand; ``comment`` goes into Error Comment (0000,0902).
    """


class DicomTimeoutError(AiodicomError, TimeoutError):
    """A connect, ARTIM or DIMSE timeout expired. ``what`` names the timer."""

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what} timed out after {seconds:g} s")


class ConfigError(AiodicomError):
    """A config value is wrong. Names the file, the key and what was expected."""

    def __init__(self, file: str | None, key: str, expected: str, got: object = None) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        self.got = got
        where = f"{file}: " if file else ""
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{where}{key}: expected {expected}{got_text}")


class DataError(AiodicomError):
    """A data file could not be used. Names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


_LISTEN_REASONS = {
    errno.EADDRINUSE: "address already in use (another process listens there)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "address not available on this host",
}


class ListenError(AiodicomError):
    """A server could not listen on ``host``:``port``; ``setting`` names the flag/key."""

    def __init__(self, setting: str, host: str, port: int, exc: OSError) -> None:
        self.setting = setting
        self.host = host
        self.port = port
        self.errno = exc.errno
        reason = _LISTEN_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
        super().__init__(f"cannot listen on address {host} port {port} ({setting}): {reason}")


class Hl7Error(AiodicomError):
    """An HL7 v2 message refused; what its ACK's ERR segment says (HL7 v2.5 2.15.5).

    ``segment``/``field`` locate the problem (``field`` 0: the whole segment or message),
    ``code`` is from HL7 Table 0357 (101 required field missing, 102 data type error,
    103 table value not found, 200 unsupported message type, 204 unknown key...),
    ``ack_code`` is MSA-1: ``AE`` (application error) or ``AR`` (application reject).
    """

    def __init__(
        self, segment: str, field: int, code: int, problem: str, ack_code: str = "AE"
    ) -> None:
        self.segment = segment
        self.field = field
        self.code = code
        self.problem = problem
        self.ack_code = ack_code
        where = f"{segment}-{field}" if field else segment
        super().__init__(problem if problem.startswith(segment) else f"{where}: {problem}")


class IndexConnectError(AiodicomError):
    """The Q/R index database could not be opened at start; names the setting and the URL
    (without its password) and the reason."""

    def __init__(self, setting: str, url: str, reason: str) -> None:
        self.setting = setting
        self.url = url
        self.reason = reason
        super().__init__(f"cannot open the Q/R index {url} ({setting}): {reason}")
