"""Finish on a task a coroutine that was first stepped by hand, outside any task.

Python 3.11 has no eager task factory: a task always starts at the next loop iteration.
The server steps a C-FIND coroutine at once inside ``data_received`` (most keyed queries
complete right there) and only when it suspends hands it to a task running
:func:`resume`, which continues it exactly as a task running it from the start would.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Resumption(Coroutine[Any, Any, None]):
    """The body of the task that takes over a coroutine stepped outside any task.

    A task drives it directly (it is a :class:`~collections.abc.Coroutine`): its first
    step hands up what the coroutine was suspended on (a future, or None for a bare
    yield); every later value, exception and close goes straight down to the coroutine.
    A task cancelled before its first step therefore throws the CancelledError into the
    suspended coroutine, as a task that had run it from the start would; an ``async def``
    wrapper would end at its first line and leave the coroutine suspended forever.
    """

    __slots__ = ("awaited", "coro", "started")

    def __init__(self, coro: Coroutine[Any, Any, None], awaited: Any) -> None:
        self.coro = coro
        self.awaited = awaited
        self.started = False

    def send(self, value: Any) -> Any:
        if not self.started:
            self.started = True
            return self.awaited
        return self.coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self.started = True
        return self.coro.throw(typ if val is None else val)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, Any, None]:
        """``await`` outside a task: the same hand-over as a task's steps."""
        value: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                out = self.send(value) if thrown is None else self.throw(thrown)
            except StopIteration:
                return
            value, thrown = None, None
            try:
                value = yield out
            except BaseException as exc:  # passed down, as a task would
                thrown = exc


def resume(coro: Coroutine[Any, Any, None], awaited: Any) -> Resumption:
    """The task body that finishes a coroutine suspended at ``awaited``."""
    return Resumption(coro, awaited)
