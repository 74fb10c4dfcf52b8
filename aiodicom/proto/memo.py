"""Small bounded memos for the pure, repeated work of association set-up and DIMSE.

A peer typically sends the same A-ASSOCIATE-RQ byte for byte on every association (same AE
titles, presentation contexts and user information, PS3.8 9.3.2) and starts every
association with Message ID 1, so the server decodes the same RQ, answers it with the
same A-ASSOCIATE-AC (PS3.8 9.3.3) and encodes the same command sets (PS3.7 E.1) again and
again. Those functions are pure and their results immutable (frozen dataclasses, bytes),
so they are memoized by value: a hit returns what the general path would compute.

Each memo holds at most ``size`` entries and drops the oldest first, so a peer sending
ever-different PDUs only costs a miss each. Callers never keep PDUs carrying a user
identity (PS3.7 D.3.3.7): those may hold a passcode.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from aiodicom.proto.pdus import UserInformation

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_KEY_BYTES = 8192
"""PDU bodies longer than this are never memoized (bounds the memory a memo holds)."""


class BoundedMemo(Generic[K, V]):
    """A dict of at most ``size`` entries, the oldest evicted first (FIFO)."""

    __slots__ = ("_items", "size")

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError(f"memo size {size} must be >= 1")
        self.size = size
        self._items: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """The remembered value for ``key``, or None (also for an unhashable key)."""
        try:
            return self._items.get(key)
        except TypeError:  # e.g. a list where a tuple is expected: never memoized
            return None

    def put(self, key: K, value: V) -> None:
        """Remember ``value``; evict the oldest entry when full. Unhashable keys are skipped."""
        items = self._items
        try:
            if key not in items and len(items) >= self.size:
                del items[next(iter(items))]
            items[key] = value
        except TypeError:  # unhashable key
            return

    def remember(self, key: K, compute: Callable[[], V], keep: Callable[[V], bool]) -> V:
        """The value for ``key``: remembered, or computed and kept if ``keep(value)``.

        Exceptions of ``compute`` propagate and nothing is remembered.
        """
        value = self.get(key)
        if value is None:
            value = compute()
            if keep(value):
                self.put(key, value)
        return value

    def clear(self) -> None:
        self._items.clear()


def without_identity(info: UserInformation) -> bool:
    """True when the user information has no user identity sub-item (PS3.7 D.3.3.7)."""
    return info.user_identity_rq is None and info.user_identity_ac is None


def always(_value: object) -> bool:
    """A ``keep`` predicate for :meth:`BoundedMemo.remember` that keeps every value."""
    return True
