"""Observing how each C-FIND ends, without wrapping the handler's stream.

An observer (audit line, metrics, the web query log) wants one report per C-FIND
(PS3.7 9.1.2: one request, its pending responses, one final response): how many matches
went out, the final status and how long it took. Wrapping the handler in another async
generator costs an extra ``asend`` per match and a generator per query for each
observer; instead :func:`observed` marks the handler, and the server runs the innermost
handler itself and hands each observer one :class:`FindEnd` when the C-FIND ends.

Called directly (outside a server), an observed handler still reports: it then wraps the
stream and derives the same :class:`FindEnd` from how the stream ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pydicom import Dataset

from aiodicom.errors import DataError, QueryError
from aiodicom.net.types import (
    FindHandler,
    FindRequest,
    FindResponse,
    HandlerTraits,
    declare_traits,
    handler_traits,
)
from aiodicom.proto.status import CANCEL, SUCCESS, UNABLE_TO_PROCESS

SUCCEEDED, REFUSED, CANCELLED, INTERRUPTED, FAILED = (
    "success",
    "refused",
    "cancelled",
    "interrupted",
    "handler-error",
)
"""How a C-FIND that reached its handler ended (:attr:`FindEnd.outcome`)."""

FINISHED: tuple[int, str | None, str] = (SUCCESS, None, SUCCEEDED)
"""(final status, Error Comment, outcome) of a handler that finished its stream."""


@dataclass(slots=True)
class FindEnd:
    """One C-FIND, reported once when it ends.

    ``matches``: pending responses sent. ``status`` / ``comment``: the final response
    (PS3.7 9.3.2.2; None when none was sent: connection lost or server shut down).
    ``outcome``: success, refused (the handler raised QueryError), cancelled (C-CANCEL,
    final 0xFE00, PS3.7 9.3.2.3), interrupted (no final response) or handler-error
    (0xC000). ``error``: the exception behind refused / handler-error.
    """

    request: FindRequest
    matches: int
    status: int | None
    comment: str | None
    outcome: str
    error: BaseException | None
    seconds: float


FindObserver = Callable[[FindEnd], None]
FindItem = Dataset | bytes | FindResponse
_OBSERVED = "aiodicom_find_observed"


def failure(exc: Exception) -> tuple[int, str | None, str]:
    """(final status, Error Comment, outcome) for a handler that raised ``exc``.

    QueryError carries its own failure status (PS3.4 C.4.1.1.4 / K.4.1.1.4); anything
    else is 0xC000 (Unable to process), DataError with its reason.
    """
    if isinstance(exc, QueryError):
        return exc.status, exc.comment, REFUSED
    if isinstance(exc, DataError):
        return UNABLE_TO_PROCESS, exc.reason, FAILED
    return UNABLE_TO_PROCESS, f"{type(exc).__name__}: {exc}", FAILED


def observed(handler: FindHandler, observer: FindObserver) -> FindHandler:
    """``handler`` reporting every C-FIND it serves to ``observer`` (same traits)."""

    def standalone(request: FindRequest) -> AsyncIterator[FindItem]:
        return _watch(handler, observer, request)

    setattr(standalone, _OBSERVED, (handler, observer))
    return declare_traits(standalone, handler_traits(handler))  # the marking adds no needs


@dataclass(slots=True, frozen=True)
class FindRoute:
    """What the server runs for a registered handler: the innermost handler, its traits
    (:class:`~aiodicom.net.types.HandlerTraits`), and the observers of every
    :func:`observed` layer (innermost first)."""

    source: FindHandler
    handler: FindHandler
    traits: HandlerTraits
    observers: tuple[FindObserver, ...]

    @classmethod
    def of(cls, source: FindHandler) -> FindRoute:
        handler = source
        observers: list[FindObserver] = []
        layer = getattr(handler, _OBSERVED, None)
        while isinstance(layer, tuple):
            handler, observer = layer
            observers.insert(0, observer)
            layer = getattr(handler, _OBSERVED, None)
        return cls(source, handler, handler_traits(handler), tuple(observers))


async def _watch(
    handler: FindHandler, observer: FindObserver, request: FindRequest
) -> AsyncIterator[FindItem]:
    """The stream of ``handler``, reported to ``observer`` as the server would."""
    started = time.perf_counter()
    matches, status, comment, outcome = 0, None, None, INTERRUPTED
    error: BaseException | None = None
    stream = handler(request)
    exhausted = False
    try:
        async for item in stream:
            matches += 1
            yield item
        exhausted = True
        status, comment, outcome = FINISHED
    except Exception as exc:
        status, comment, outcome = failure(exc)
        error = exc
        raise
    except (asyncio.CancelledError, GeneratorExit):
        if request.cancelled:
            status, outcome = CANCEL, CANCELLED
        raise
    finally:
        closer = None if exhausted else getattr(stream, "aclose", None)
        if closer is not None:  # stopped early: close the handler's stream now
            await closer()
        end = FindEnd(
            request, matches, status, comment, outcome, error, time.perf_counter() - started
        )
        observer(end)
