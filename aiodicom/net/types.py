"""Value types shared by the client and the server side of the asyncio edge.

C-FIND semantics follow PS3.4 C.4.1 (Query/Retrieve) and K.4.1 (Modality Worklist): an
SCP answers one C-FIND-RQ with zero or more Pending responses carrying an identifier and
exactly one final response (Success, Cancel or a failure) without one (PS3.7 9.1.2).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pydicom import Dataset

from aiodicom.dicom.identifier import decode_identifier
from aiodicom.proto.negotiation import QueryModel
from aiodicom.proto.status import PENDING, StatusCategory


class FindRequest:
    """One C-FIND-RQ as seen by a handler (PS3.7 9.1.2.1).

    ``identifier_bytes`` is the raw data set in ``transfer_syntax``. ``identifier`` is
    decoded from it on first read (its structure checked, its values left raw until read),
    so a handler that works on the bytes never pays for a pydicom Dataset; bytes that do
    not form a data set raise :class:`~aiodicom.errors.DataError` there, and the server
    answers 0xC000. A request built in process may pass ``identifier`` directly.
    ``cancelled`` turns True when a C-CANCEL-RQ (PS3.7 9.3.2.3) for this message arrives;
    the server also closes the handler generator at once.
    """

    __slots__ = (
        "_cancelled",
        "_identifier",
        "association_id",
        "called_ae",
        "calling_ae",
        "extended_negotiation",
        "identifier_bytes",
        "message_id",
        "model",
        "peer",
        "priority",
        "sop_class_uid",
        "transfer_syntax",
    )

    def __init__(
        self,
        *,
        identifier: Dataset | None = None,
        identifier_bytes: bytes,
        transfer_syntax: str,
        sop_class_uid: str,
        model: QueryModel | None,
        message_id: int,
        priority: int,
        calling_ae: str,
        called_ae: str,
        peer: tuple[str, int],
        association_id: str,
        extended_negotiation: bytes | None = None,
    ) -> None:
        self._identifier = identifier
        self.identifier_bytes = identifier_bytes
        self.transfer_syntax = transfer_syntax
        self.sop_class_uid = sop_class_uid
        self.model = model
        self.message_id = message_id
        self.priority = priority
        self.calling_ae = calling_ae
        self.called_ae = called_ae
        self.peer = peer
        self.association_id = association_id
        self.extended_negotiation = extended_negotiation
        self._cancelled = False

    @property
    def identifier(self) -> Dataset:
        """The decoded identifier (DataError when the bytes do not form a data set)."""
        if self._identifier is None:
            self._identifier = decode_identifier(
                self.identifier_bytes, self.transfer_syntax, materialize=False
            )
        return self._identifier

    @property
    def cancelled(self) -> bool:
        """True once the SCU has sent C-CANCEL-RQ for this request."""
        return self._cancelled

    def mark_cancelled(self) -> None:
        """Record that a C-CANCEL-RQ arrived (called by the server)."""
        self._cancelled = True

    def __repr__(self) -> str:
        return (
            f"FindRequest(message_id={self.message_id}, sop_class_uid={self.sop_class_uid!r}, "
            f"calling_ae={self.calling_ae!r}, called_ae={self.called_ae!r}, "
            f"identifier={len(self.identifier_bytes)} bytes)"
        )


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


@dataclass(slots=True, frozen=True)
class HandlerTraits:
    """What a :data:`FindHandler` declares about itself, so the server can skip work.

    ``eager``: the handler needs no current asyncio task (no ``asyncio.current_task``,
    ``asyncio.timeout`` or task-local context) until it first suspends; the server then
    runs it at once inside ``data_received`` and creates a task only if it suspends.

    ``checks_identifier``: the handler checks the structure of ``identifier_bytes``
    itself, with :func:`aiodicom.dicom.identifier.check_identifier`, before anything
    else (the first step of PS3.4 C.4.1.3.1 / K.4.1.2.2), and raises its DataError; the
    server then does not check it first. The final response is the same (0xC000 with the
    reason as Error Comment), but the C-FIND counts as performed (observers hear of it).
    """

    eager: bool = False
    checks_identifier: bool = False


PLAIN_HANDLER = HandlerTraits()
_TRAITS_ATTRIBUTE = "aiodicom_find_traits"


def handler_traits(handler: FindHandler) -> HandlerTraits:
    """The traits ``handler`` declares (:data:`PLAIN_HANDLER` when none)."""
    traits = getattr(handler, _TRAITS_ATTRIBUTE, PLAIN_HANDLER)
    return traits if isinstance(traits, HandlerTraits) else PLAIN_HANDLER


def declare_traits(handler: FindHandler, traits: HandlerTraits) -> FindHandler:
    """``handler`` marked with ``traits`` (a plain function is marked in place; a bound
    method, which takes no attributes, through a ``functools.partial``)."""
    try:
        setattr(handler, _TRAITS_ATTRIBUTE, traits)
    except AttributeError:
        marked = functools.partial(handler)
        setattr(marked, _TRAITS_ATTRIBUTE, traits)
        return marked
    return handler


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
