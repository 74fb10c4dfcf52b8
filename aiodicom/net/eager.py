"""Finish on a task a coroutine that was first stepped by hand, outside any task.

Python 3.11 has no eager task factory: a task always starts at the next loop iteration.
The server steps a C-FIND coroutine at once inside ``data_received`` (most keyed queries
complete right there) and only when it suspends hands it to a task running
:func:`resume`, which continues it exactly as a task running it from the start would.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Resumption:
    """Awaitable continuing a coroutine that was stepped outside any task.

    Awaited by the task that takes over, it hands up what the coroutine yielded (a
    future, or None for a bare yield) and passes every value, exception and close back
    down, as the task would have done had it run the coroutine from the start.
    """

    __slots__ = ("awaited", "coro")

    def __init__(self, coro: Coroutine[Any, Any, None], awaited: Any) -> None:
        self.coro = coro
        self.awaited = awaited

    def __await__(self) -> Generator[Any, Any, None]:
        coro, awaited = self.coro, self.awaited
        while True:
            try:
                sent = yield awaited
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # the task threw in (CancelledError, ...)
                try:
                    awaited = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    awaited = coro.send(sent)
                except StopIteration:
                    return


async def resume(coro: Coroutine[Any, Any, None], awaited: Any) -> None:
    """The task body that finishes a coroutine suspended at ``awaited``."""
    await Resumption(coro, awaited)
