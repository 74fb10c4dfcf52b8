"""Structured logging for aiodicom, through structlog.

Every association logs with ``assoc`` (association id), ``peer`` ("host:port"),
``calling_ae`` and ``called_ae`` bound to the logger, so one grep finds a whole
association. Call :func:`configure` once at program start; a library user who never
calls it gets console output at level ``warning`` the first time aiodicom logs.
"""

from __future__ import annotations

import logging
import operator
import sys
from typing import Any, Literal

import structlog
from structlog.typing import FilteringBoundLogger

__all__ = [
    "LogFormat",
    "configure",
    "enabled",
    "get_logger",
    "level_enabled",
    "level_number",
]


LogFormat = Literal["console", "json"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def level_number(level: str | int) -> int:
    """Return the numeric level for a name such as ``"info"`` (ValueError if unknown)."""
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        expected = ", ".join(sorted(_LEVELS))
        raise ValueError(f"unknown log level {level!r}; expected one of {expected}") from None


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Resolve ``sys.stderr`` when a logger is made, so a replaced stderr is honoured."""
    return structlog.PrintLogger(sys.stderr)


def configure(fmt: LogFormat = "console", level: str | int = "info") -> None:
    """Configure structlog for aiodicom programs: ``console`` (human) or ``json`` lines.

    Output goes to stderr. Filtering happens in the bound logger itself, so a debug call
    at level ``info`` costs almost nothing.
    """
    if fmt not in ("console", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected 'console' or 'json'")
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_number(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


_base: tuple[tuple[object, ...], FilteringBoundLogger] | None = None
"""The assembled "aiodicom" logger and the configuration it was assembled under."""


def _config_key() -> tuple[object, ...]:
    """What an assembled logger depends on: the structlog configuration and the streams
    a logger factory resolves when called (``_stderr_logger``, ``PrintLoggerFactory``)."""
    config = structlog.get_config()
    return (
        config["processors"],
        config["wrapper_class"],
        config["context_class"],
        config["logger_factory"],
        sys.stdout,
        sys.stderr,
    )


def get_logger(**bindings: Any) -> FilteringBoundLogger:
    """Return a structlog bound logger with ``bindings``; configures a default if needed.

    The base logger is assembled once per configuration (one per association was a
    measurable share of the server's per-association CPU); binding copies its context.
    """
    logger: FilteringBoundLogger = _base_logger().bind(**bindings)
    return logger


def _base_logger() -> FilteringBoundLogger:
    """The assembled logger of the current configuration (configures a default if none)."""
    global _base
    if not structlog.is_configured():
        configure("console", "warning")
    key = _config_key()
    cached = _base
    if cached is None or not all(map(operator.is_, cached[0], key)):
        base: FilteringBoundLogger = structlog.get_logger("aiodicom").bind()
        cached = _base = (key, base)
    return cached[1]


_FILTERING_MINIMUM: dict[object, int] = {
    structlog.make_filtering_bound_logger(minimum): minimum
    for minimum in (logging.NOTSET, *_LEVELS.values())
}
"""structlog's filtering wrapper classes (one per level, shared) -> their minimum level."""


def level_enabled(level: int) -> bool:
    """Whether the configured loggers emit ``level``, without binding a logger.

    A module-level ``structlog.get_logger()`` proxy assembles a whole logger on every
    attribute read, so ``enabled(proxy, level)`` costs microseconds on a hot path. A
    filtering wrapper class (:func:`structlog.make_filtering_bound_logger`, as
    :func:`configure` installs) emits exactly the levels at or above its minimum, so
    the configured class answers without any logger; other classes are asked.
    """
    if structlog.is_configured():
        minimum = _FILTERING_MINIMUM.get(structlog.get_config()["wrapper_class"])
        if minimum is not None:
            return level >= minimum
    return enabled(_base_logger(), level)


def enabled(logger: Any, level: int) -> bool:
    """Whether ``logger`` emits ``level``: build costly log arguments only then.

    Loggers without ``is_enabled_for`` (a non-filtering wrapper class) count as enabled.
    """
    check = getattr(logger, "is_enabled_for", None)
    return True if check is None else bool(check(level))
