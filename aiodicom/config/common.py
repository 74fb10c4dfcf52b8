"""Shared pieces of the servers' YAML configuration: the ``server``, ``matching`` and
``logging`` sections, the typed section builder and the YAML reader.

Each section is a frozen dataclass; values are checked against the field types and
errors name the file, the dotted key and what was expected (``ConfigError``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from aiodicom.errors import ConfigError

T = TypeVar("T")
LogFormat = Literal["console", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class NetworkSection:
    """Listening socket and association limits (PS3.8 9.1.1: the ARTIM timer).

    ``async_ops_window``: C-FIND operations a requestor may have outstanding on one
    association (PS3.7 D.3.3.3); 1 = one at a time (PS3.7 A.4). ``pdu_timeout`` /
    ``message_timeout``: seconds one PDU / one DIMSE message may take to arrive;
    ``max_associations_per_address`` / ``..._per_calling_ae``: associations one peer may
    hold, null = 3/4 of ``max_associations`` (see :class:`aiodicom.net.server.ServerConfig`).
    """

    host: str = "127.0.0.1"
    port: int = 11112
    ae_title: str = "WLMSCP"
    max_associations: int = 100
    max_pdu_length: int = 16384
    artim_timeout: float = 30.0
    idle_timeout: float = 300.0
    allowed_calling_aes: tuple[str, ...] | None = None
    async_ops_window: int = 1
    pdu_timeout: float = 60.0
    message_timeout: float = 180.0
    max_associations_per_address: int | None = None
    max_associations_per_calling_ae: int | None = None


@dataclass(frozen=True, slots=True)
class MatchingSection:
    """PS3.4 C.2.2.2.1: person name matching may be case insensitive (our default)."""

    pn_case_sensitive: bool = False
    fuzzy_pn: bool = False


@dataclass(frozen=True, slots=True)
class LoggingSection:
    format: LogFormat = "console"
    level: LogLevel = "info"


def _type_name(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")


def _coerce(value: Any, expected: Any, file: str | None, key: str) -> Any:
    """Check ``value`` against a field type; containers and Optionals are unpacked."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        inner = [option for option in options if option is not type(None)]
        return _coerce(value, inner[0], file, key)
    if origin is Literal:
        allowed = typing.get_args(expected)
        if value not in allowed:
            raise ConfigError(file, key, "one of " + ", ".join(map(str, allowed)), value)
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(file, key, "a list", value)
        item_type = typing.get_args(expected)[0]
        return tuple(_coerce(item, item_type, file, f"{key}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(file, key, "a mapping", value)
        value_type = typing.get_args(expected)[1]
        return {
            str(name): _coerce(item, value_type, file, f"{key}.{name}")
            for name, item in value.items()
        }
    if dataclasses.is_dataclass(expected):
        return build_section(expected, value, file, key)  # type: ignore[arg-type]
    return _coerce_scalar(value, expected, file, key)


def _coerce_scalar(value: Any, expected: Any, file: str | None, key: str) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(file, key, "true or false", value)
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(file, key, "an integer", value)
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(file, key, "a number", value)
        return float(value)
    if expected is str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(file, key, "a text value", value)
        return str(value)
    if expected is Path:
        if not isinstance(value, str):
            raise ConfigError(file, key, "a path", value)
        return Path(value)
    raise ConfigError(file, key, _type_name(expected), value)  # pragma: no cover


def build_section(cls: type[T], mapping: Any, file: str | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys are errors, missing = default."""
    where = prefix or "<top level>"
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(file, where, "a mapping", mapping)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init and f.name != "source"]  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(file, dotted, "one of " + ", ".join(names), None)
        values[str(key)] = _coerce(value, hints[str(key)], file, dotted)
    return cls(**values)


def check_range(file: str | None, key: str, value: float, low: float, high: float) -> None:
    """``value`` within ``[low, high]``, else a ConfigError naming ``key``."""
    if not low <= value <= high:
        raise ConfigError(file, key, f"a value from {low:g} to {high:g}", value)


def flag_error(exc: ConfigError, args: Any, keys: Mapping[str, str]) -> ConfigError:
    """``exc`` blamed on the command-line flag that set its key, when a flag did.

    ``keys`` maps dotted config keys to ``argparse`` destinations (``"server.port":
    "port"`` -> ``--port``); a key whose flag was not given keeps the file's error.
    """
    dest = keys.get(exc.key)
    if dest is None or getattr(args, dest, None) is None:
        return exc
    return ConfigError(None, "--" + dest.replace("_", "-"), exc.expected, getattr(args, dest))


def yaml_error_text(exc: yaml.YAMLError) -> tuple[str, str]:
    """Where a YAML parse failed (``line L, column C``, 1-based) and the problem, one line.

    pyyaml's marks are 0-based; the context (e.g. an unclosed ``[``) and where it started
    are added when pyyaml gives them. Errors without a mark are placed at ``<file>``.
    """
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark, problem = exc.problem_mark, exc.problem or exc.context or "malformed YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            start = exc.context_mark
            problem += f" ({exc.context} started at line {start.line + 1}, "
            problem += f"column {start.column + 1})"
        return f"line {mark.line + 1}, column {mark.column + 1}", problem
    return "<file>", str(exc).splitlines()[0]


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; unreadable or malformed files raise ConfigError naming it
    (and, for malformed YAML, the line and column)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "<file>", "a readable file", exc.strerror) from exc
    except yaml.YAMLError as exc:
        where, problem = yaml_error_text(exc)
        raise ConfigError(str(path), where, f"valid YAML: {problem}") from exc
