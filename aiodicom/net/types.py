"""Value types shared by the client and the server side of the asyncio edge.

C-FIND semantics follow PS3.4 C.4.1 (Query/Retrieve) and K.4.1 (Modality Worklist): an
SCP answers one C-FIND-RQ with zero or more Pending responses carrying an identifier and
exactly one final response (Success, Cancel or a failure) without one (PS3.7 9.1.2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pydicom import Dataset

from aiodicom.codec import decode_identifier
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.status import PENDING, StatusCategory


@dataclass(slots=True)
class FindRequest:
    """One C-FIND-RQ as seen by a handler (PS3.7 9.1.2.1).

    ``identifier`` is decoded once by the server, its structure checked and its values left
    raw until read (a value that cannot be converted raises then, and the server answers
    0xC000); ``identifier_bytes`` is the raw data set in ``transfer_syntax``.
    ``cancelled`` turns True when a C-CANCEL-RQ (PS3.7 9.3.2.3)
    for this message arrives; the server also closes the handler generator at once.
    """

    identifier: Dataset
    identifier_bytes: bytes
    transfer_syntax: str
    sop_class_uid: str
    model: QueryModel | None
    message_id: int
    priority: int
    calling_ae: str
    called_ae: str
    peer: tuple[str, int]
    association_id: str
    extended_negotiation: bytes | None = None
    _cancelled: bool = field(default=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the SCU has sent C-CANCEL-RQ for this request."""
        return self._cancelled

    def mark_cancelled(self) -> None:
        """Record that a C-CANCEL-RQ arrived (called by the server)."""
        self._cancelled = True


@dataclass(slots=True, frozen=True)
class FindResponse:
    """A pending response with an explicit status (PS3.4 C.4.1.1.4: FF00 or FF01).

    ``identifier`` as bytes must already be encoded in the request's transfer syntax
    (the fast path: no per-response encoding).
    """

    identifier: Dataset | bytes
    status: int = PENDING


FindHandler = Callable[[FindRequest], AsyncIterator["Dataset | bytes | FindResponse"]]
"""An async generator producing the matches of one C-FIND request.

Raise :class:`aiodicom.errors.QueryError` for a failure final status; a normal end
gives Success (0x0000); on C-CANCEL the server closes the generator and answers 0xFE00.
"""


class FindResult:
    """One C-FIND-RSP received by the SCU (PS3.7 9.3.2.2).

    The identifier is decoded lazily on first access of :attr:`identifier`, so a caller
    that only counts responses never builds a pydicom Dataset. ``raw`` holds the encoded
    data set (None for the final response, which carries none per PS3.4 C.4.1.1.4).
    """

    __slots__ = (
        "_decoded",
        "category",
        "elapsed",
        "message_id",
        "raw",
        "status",
        "transfer_syntax",
    )

    def __init__(
        self,
        status: int,
        category: StatusCategory,
        raw: bytes | None,
        *,
        transfer_syntax: str,
        message_id: int,
        elapsed: float,
    ) -> None:
        self.status = status
        self.category = category
        self.raw = raw
        self.transfer_syntax = transfer_syntax
        self.message_id = message_id
        self.elapsed = elapsed
        self._decoded: Dataset | None = None

    @property
    def identifier(self) -> Dataset | None:
        """The decoded identifier, or None when the response carries no data set."""
        if self.raw is None:
            return None
        if self._decoded is None:
            self._decoded = decode_identifier(self.raw, self.transfer_syntax)
        return self._decoded

    @property
    def is_final(self) -> bool:
        """True for the last response of the operation (any status but Pending)."""
        return self.category is not StatusCategory.PENDING

    def __repr__(self) -> str:
        size = "none" if self.raw is None else f"{len(self.raw)} bytes"
        return (
            f"FindResult(status=0x{self.status:04X}, category={self.category.name}, "
            f"message_id={self.message_id}, identifier={size}, elapsed={self.elapsed:.6f})"
        )
