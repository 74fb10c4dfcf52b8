"""A bounded memo: a dict of at most ``size`` entries, the oldest evicted first.

Shared by the protocol core (association and DIMSE memos, :mod:`aiodicom.proto.memo`),
the identifier check (:mod:`aiodicom.dicom.identifier`) and the raw query compiler
(:mod:`aiodicom.matching.raw`). No I/O, no asyncio.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._items
        except TypeError:  # unhashable: never memoized
            return False

    def clear(self) -> None:
        self._items.clear()
