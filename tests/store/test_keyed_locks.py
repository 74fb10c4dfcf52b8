"""KeyedLocks: one writer per key in order, different keys at once, an exclusive holder
excluding all of them, and no lock kept once nobody uses it."""

from __future__ import annotations

import asyncio

from aiodicom.store.locks import KeyedLocks


async def _hold(locks: KeyedLocks, key: str, log: list[str], name: str, delay: float) -> None:
    async with locks.hold(key):
        log.append(f"{name}+")
        await asyncio.sleep(delay)
        log.append(f"{name}-")


async def test_one_key_in_order_other_keys_at_once() -> None:
    locks = KeyedLocks()
    log: list[str] = []
    async with asyncio.timeout(5):
        await asyncio.gather(
            _hold(locks, "a", log, "a1", 0.02),
            _hold(locks, "a", log, "a2", 0.0),
            _hold(locks, "b", log, "b1", 0.0),
        )
    assert log.index("a1-") < log.index("a2+")  # same key: FIFO, one at a time
    assert log.index("b1-") < log.index("a1-")  # other key: not behind "a"
    assert len(locks) == 0


async def test_exclusive_waits_for_holders_and_blocks_new_ones() -> None:
    locks = KeyedLocks()
    log: list[str] = []

    async def exclusive() -> None:
        async with locks.exclusive():
            log.append("x+")
            await asyncio.sleep(0.02)
            log.append("x-")

    async with asyncio.timeout(5):
        first = asyncio.create_task(_hold(locks, "a", log, "a1", 0.02))
        await asyncio.sleep(0)  # a1 holds "a"
        whole = asyncio.create_task(exclusive())
        await asyncio.sleep(0)  # the exclusive holder waits for a1
        await asyncio.gather(first, whole, _hold(locks, "b", log, "b1", 0.0))
    assert log == ["a1+", "a1-", "x+", "x-", "b1+", "b1-"]
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_no_lock_behind() -> None:
    locks = KeyedLocks()
    log: list[str] = []
    async with asyncio.timeout(5):
        holder = asyncio.create_task(_hold(locks, "a", log, "a1", 0.05))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(_hold(locks, "a", log, "a2", 0.0))
        await asyncio.sleep(0.01)
        waiter.cancel()
        await holder
        await asyncio.gather(waiter, return_exceptions=True)
    assert log == ["a1+", "a1-"] and len(locks) == 0
