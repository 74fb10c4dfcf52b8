"""DCMTK-style console log: ``I:``/``W:``/``E:`` prefixed lines on stderr (oflog levels)."""

from __future__ import annotations

import sys
from typing import IO

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
_PREFIX = {"trace": "T", "debug": "D", "info": "I", "warn": "W", "error": "E", "fatal": "F"}


class ConsoleLog:
    """Writes each line of a message with its level prefix when the level is enabled."""

    def __init__(self, level: str = "warn", stream: IO[str] | None = None) -> None:
        self.threshold = LEVELS.index(level)
        self.stream = stream if stream is not None else sys.stderr

    def enabled(self, level: str) -> bool:
        """True when ``level`` messages are printed."""
        return LEVELS.index(level) >= self.threshold

    def log(self, level: str, message: str, *, force: bool = False) -> None:
        """Print ``message`` (possibly several lines) at ``level``; ``force`` ignores the level.

        ``force`` is how DCMTK findscu shows responses (as ``I:`` lines) without ``-v``.
        """
        if not (force or self.enabled(level)):
            return
        prefix = _PREFIX[level]
        for line in message.split("\n"):
            self.stream.write(f"{prefix}: {line}\n" if line else f"{prefix}: \n")
        self.stream.flush()

    def debug(self, message: str) -> None:
        """Debug level (``-d``)."""
        self.log("debug", message)

    def info(self, message: str) -> None:
        """Info level (``-v``)."""
        self.log("info", message)

    def warn(self, message: str) -> None:
        """Warning level (default)."""
        self.log("warn", message)

    def error(self, message: str) -> None:
        """Error level."""
        self.log("error", message)
