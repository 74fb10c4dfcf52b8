"""Observers of a server's association and operation events.

Audit, metrics and the like attach to a :class:`~aiodicom.net.server.Server` as
:class:`ServerObserver`\\ s (``Server.observers``) instead of subclassing its protocol:
the server calls each method at the moment it names, and an observer that raises is
logged and never changes the association or the operation.

An association's life (PS3.8 7.1-7.4) is summed up by ``ServerProtocol.outcome`` when it
ends: ``closed-before-request``, ``rejected:<label>`` (:class:`aiodicom.net.policy.Refusal`),
``accepted`` then ``released``, ``aborted:peer`` / ``aborted:local`` /
``aborted:protocol-error``, or ``connection-lost``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiodicom.net.operations import Operation
    from aiodicom.net.policy import Refusal
    from aiodicom.net.scp import ServerProtocol


class ServerObserver:
    """Hears what happens on a server's associations; every method does nothing here."""

    def association_accepted(self, scp: ServerProtocol) -> None:
        """An A-ASSOCIATE-AC was sent (PS3.8 7.1.1)."""

    def association_rejected(self, scp: ServerProtocol, refusal: Refusal) -> None:
        """An A-ASSOCIATE-RJ was sent by the association policy (PS3.8 9.3.4)."""

    def operation_started(self, scp: ServerProtocol, operation: Operation) -> None:
        """A request passed its checks and is being performed (PS3.7 9.1)."""

    def operation_ended(self, scp: ServerProtocol, report: object) -> None:
        """An operation ended; ``report`` is its service's report (C-FIND:
        :class:`aiodicom.net.observe.FindEnd`), given before the final response."""

    def association_ended(self, scp: ServerProtocol) -> None:
        """The connection closed; ``scp.outcome`` says how (module docstring)."""


EVENTS = (
    "association_accepted",
    "association_rejected",
    "operation_started",
    "operation_ended",
    "association_ended",
)
"""The :class:`ServerObserver` methods, in the order of an association's life."""


class ObserverTable:
    """For each event, the bound methods of the observers that hear it: those whose class
    overrides the :class:`ServerObserver` method (or that are no ServerObserver at all).

    A server keeps one per list of observers (``Server.observer_table``): an event no
    observer listens to (``operation_started`` for audit and metrics, on every C-FIND)
    costs no call.
    """

    __slots__ = (*EVENTS, "observers")

    def __init__(self, observers: tuple[ServerObserver, ...]) -> None:
        self.observers = observers
        for event in EVENTS:
            setattr(self, event, _listening(observers, event))

    association_accepted: tuple[Callable[[ServerProtocol], None], ...]
    association_rejected: tuple[Callable[[ServerProtocol, Refusal], None], ...]
    operation_started: tuple[Callable[[ServerProtocol, Operation], None], ...]
    operation_ended: tuple[Callable[[ServerProtocol, object], None], ...]
    association_ended: tuple[Callable[[ServerProtocol], None], ...]


def _listening(observers: tuple[ServerObserver, ...], event: str) -> tuple[Any, ...]:
    silent = getattr(ServerObserver, event)
    return tuple(
        getattr(observer, event)
        for observer in observers
        if getattr(type(observer), event, None) is not silent
    )
