"""Whole answers to repeated worklist queries, kept per snapshot (PS3.4 K.4.1.3).

Modalities poll their worklist with the same identifier every few seconds, and several
modalities of one kind often send the same one. The answer is a function of the
identifier bytes, their transfer syntax and the worklist snapshot alone: snapshots never
change (a reload builds a new one, :mod:`aiodicom.store.worklist`), and the service's
options are fixed. So a completed answer is kept, as the encoded response identifiers,
and replayed while the snapshot it came from is still the current one.

Only answers that were sent in full are kept (a cancelled one is not), within a byte
budget (least recently used first out); one answer never takes more than a quarter of it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from aiodicom.store.worklist import AeWorklist

RESPONSE_OVERHEAD = 48
"""Approximate bytes a kept response costs beyond its length (object header, pointer)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The responses to one identifier on one snapshot of one AE title's worklist."""

    worklist: AeWorklist
    responses: tuple[bytes, ...]
    size: int


class AnswerCache:
    """Completed answers by (identifier bytes, transfer syntax), within ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self._answers: OrderedDict[tuple[bytes, str], Answer] = OrderedDict()

    def get(self, raw: bytes, syntax: str, worklist: AeWorklist) -> tuple[bytes, ...] | None:
        """The kept responses, or None when there are none for this snapshot."""
        if not raw or self.max_bytes <= 0:
            return None
        key = (raw, syntax)
        answer = self._answers.get(key)
        if answer is None:
            return None
        if answer.worklist is not worklist:  # the folder was reloaded since
            self._drop(key)
            return None
        self._answers.move_to_end(key)
        self.hits += 1
        return answer.responses

    def put(self, raw: bytes, syntax: str, worklist: AeWorklist, responses: list[bytes]) -> None:
        """Keep a completed answer when it fits in a quarter of the budget."""
        if not raw or self.max_bytes <= 0:
            return
        size = len(raw) + sum(len(data) + RESPONSE_OVERHEAD for data in responses)
        if size > self.max_bytes // 4:
            return
        key = (raw, syntax)
        if key in self._answers:
            self._drop(key)
        while self._answers and self.size + size > self.max_bytes:
            self._drop(next(iter(self._answers)))
        self._answers[key] = Answer(worklist, tuple(responses), size)
        self.size += size

    def _drop(self, key: tuple[bytes, str]) -> None:
        self.size -= self._answers.pop(key).size

    def __len__(self) -> int:
        return len(self._answers)
