"""Audit log: one line per association and one per C-FIND query.

Lines go to the structlog logger with ``audit=True`` and the event ``audit.association``
or ``audit.query``: who (calling AE, user name), from where (peer address), to which
called AE, which keys (matching keys with their values, return keys by name), how many
matches and the outcome (final DIMSE status, PS3.7 Annex C). Secrets never appear: the
user identity passcode (PS3.7 D.3.3.7.1 secondary field) is not read at all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from pydicom import Dataset
from pydicom.datadict import keyword_for_tag
from structlog.typing import FilteringBoundLogger

from aiodicom.log import get_logger
from aiodicom.net.types import FindRequest
from aiodicom.proto.pdus import AssociateRQ

MAX_KEYS = 32
"""At most this many keys are listed per query; the rest are counted."""
MAX_VALUE = 64
"""Key values are cut to this many characters."""
_NOT_LOGGED = frozenset({0x00080005})  # Specific Character Set: not a query key


def _name(tag: int) -> str:
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _value_text(value: Any) -> str:
    try:
        text = str(value)
    except Exception:  # a value pydicom cannot render (e.g. bad character set)
        return "<undecodable>"
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."


def describe_keys(identifier: Dataset) -> dict[str, Any]:
    """``{"match": {keyword: value}, "return": [keyword, ...], "more": n}`` for a query.

    A key with a value is a matching key (PS3.4 C.2.2.1.1); a zero-length key only asks
    for the attribute to be returned (C.2.2.1.2). Sequences list their item keys.
    """
    matching: dict[str, str] = {}
    returned: list[str] = []
    listed = 0
    total = 0
    try:
        elements = list(identifier)
    except Exception:
        return {"match": {}, "return": [], "more": 0, "error": "undecodable identifier"}
    for element in elements:
        if element.tag in _NOT_LOGGED:
            continue
        total += 1
        if listed >= MAX_KEYS:
            continue
        listed += 1
        name = _name(int(element.tag))
        try:
            empty = element.is_empty
        except Exception:
            empty = False
        if element.VR == "SQ":
            subkeys = [_name(int(e.tag)) for item in element.value[:1] for e in item]
            returned.append(f"{name}[{','.join(subkeys[:MAX_KEYS])}]")
        elif empty:
            returned.append(name)
        else:
            matching[name] = _value_text(element.value)
    return {"match": matching, "return": returned, "more": total - listed}


def username_of(rq: AssociateRQ | None) -> str | None:
    """The user name of a user identity sub-item of type 1 or 2 (PS3.7 D.3.3.7.1)."""
    if rq is None:
        return None
    identity = rq.user_information.user_identity_rq
    if identity is None or identity.identity_type not in (1, 2):
        return None
    return identity.primary_field.decode("utf-8", "replace")[:MAX_VALUE]


class AuditLog:
    """Writes audit lines; ``enabled=False`` turns it into a no-op. ``describe`` gives
    the ``keys`` of a query line (:func:`describe_keys`)."""

    def __init__(
        self,
        logger: FilteringBoundLogger | None = None,
        *,
        enabled: bool = True,
        describe: Callable[[Dataset], dict[str, Any]] = describe_keys,
    ):
        self.enabled = enabled
        self.log = logger if logger is not None else get_logger(audit=True)
        self.describe = describe

    def association(
        self,
        *,
        association_id: str,
        peer: tuple[str, int],
        rq: AssociateRQ | None,
        outcome: str,
        queries: int,
        seconds: float,
    ) -> None:
        """One line when a connection ends (PS3.8 7.1-7.4: accepted/rejected/released/
        aborted, or closed before any A-ASSOCIATE-RQ). Nothing is built when filtered."""
        if not self.enabled or not self.log.is_enabled_for(logging.INFO):
            return
        self.log.info(
            "audit.association",
            pid=os.getpid(),
            assoc=association_id,
            peer=f"{peer[0]}:{peer[1]}",
            calling_ae=rq.calling_ae if rq else None,
            called_ae=rq.called_ae if rq else None,
            user=username_of(rq),
            outcome=outcome,
            queries=queries,
            seconds=round(seconds, 3),
        )

    def query(
        self,
        request: FindRequest,
        *,
        matches: int,
        status: int | None,
        outcome: str,
        seconds: float,
    ) -> None:
        """One line per C-FIND (PS3.7 9.1.2): keys, matches and the final status.

        Nothing is computed when the line would be filtered out by the log level: the key
        description reads every element of the identifier.
        """
        if not self.enabled or not self.log.is_enabled_for(logging.INFO):
            return
        self.log.info(
            "audit.query",
            pid=os.getpid(),
            assoc=request.association_id,
            peer=f"{request.peer[0]}:{request.peer[1]}",
            calling_ae=request.calling_ae,
            called_ae=request.called_ae,
            model=request.model.value if request.model else request.sop_class_uid,
            message_id=request.message_id,
            keys=self.describe(request.identifier),
            matches=matches,
            status=None if status is None else f"0x{status:04X}",
            outcome=outcome,
            seconds=round(seconds, 4),
        )
