"""The command line of ``aiodicom-modality``: options, their checks, the run they describe.

Every usage error names its flag (exit status 2).
"""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Callable
from pathlib import Path

from aiodicom.errors import ConfigError

from ..loadtest.stages import parse_duration
from .emulator import EmulatorSettings, Peer

DEFAULT_CALLED_AE = "ANY-SCP"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
"""PS3.5 Table 6.2-1, AE: 1-16 characters of the default repertoire, no backslash and
no control character (leading and trailing spaces are not significant)."""
_DATE = re.compile(r"^\d{8}$")

EPILOG = """bounds: the run stops after --steps steps (all modalities together), after
--duration (exams then running end at once and send their N-SET), or with --until-empty
when every modality finds no step left in its worklist; without --steps and --duration,
--until-empty is implied. A modality whose C-FIND fails stops.

exit status: 0 = every operation succeeded, 1 = a C-FIND, N-CREATE or N-SET failed
(see --report), 2 = usage error."""


def _duration_arg(flag: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return parse_duration(text, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(f"expected {exc.expected}, got {text!r}") from exc

    return parse


def build_parser() -> argparse.ArgumentParser:
    """Command line parser."""
    parser = argparse.ArgumentParser(
        prog="aiodicom-modality",
        description="Modality emulator: MWL C-FIND, then MPPS N-CREATE / N-SET per step",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add = parser.add_argument
    add("host", help="worklist SCP host")
    add("port", type=int, help="worklist SCP port")
    add("-aec", "--call", default=DEFAULT_CALLED_AE, help="worklist SCP AE title (ANY-SCP)")
    add("--mpps", metavar="HOST:PORT", help="MPPS SCP, when not the worklist SCP's address")
    add("--mpps-aec", metavar="AE", help="MPPS SCP AE title (default: -aec)")
    add(
        "--station-ae",
        action="append",
        default=[],
        metavar="AE",
        help="an emulated modality's AE title (Scheduled Station AE Title); repeatable",
    )
    add("--modalities", type=int, metavar="N", help="N modalities named MOD001, MOD002, ...")
    add("--modality", metavar="CS", help="Modality to ask for (default any) and to report")
    add("--date", metavar="YYYYMMDD", help="Scheduled Procedure Step Start Date (today)")
    add("--exam-time", type=_duration_arg("--exam-time"), default=5.0, help="e.g. 5s, 2m (5s)")
    add("--discontinue-rate", type=float, default=0.0, help="0..1 of steps DISCONTINUED (0)")
    add("--series", type=int, default=1, help="series per performed step (1)")
    add("--images", type=int, default=3, help="images per series (3)")
    add("--steps", type=int, metavar="N", help="stop after N steps in all")
    add("--duration", type=_duration_arg("--duration"), help="stop after this long, e.g. 10m")
    add("--until-empty", action="store_true", help="a modality stops when it finds no step")
    add("--poll", type=_duration_arg("--poll"), default=1.0, help="idle re-query interval (1s)")
    add("--timeout", type=_duration_arg("--timeout"), default=30.0, help="per operation (30s)")
    add("--seed", type=int, help="random seed of the DISCONTINUED choice")
    add("--report", metavar="FILE", help="write the JSON report")
    add("--no-table", action="store_true", help="no live table (default: on a terminal)")
    return parser


def _ae(flag: str, value: str) -> str:
    if not _AE_TITLE.match(value) or not value.strip():
        raise ConfigError(None, flag, "an AE title of 1-16 characters, no backslash", value)
    return value.strip()


def _stations(ns: argparse.Namespace) -> tuple[str, ...]:
    if ns.station_ae and ns.modalities is not None:
        raise ConfigError(None, "--modalities", "either --modalities or --station-ae, not both")
    if ns.modalities is not None:
        if ns.modalities <= 0:
            raise ConfigError(None, "--modalities", "a positive number", ns.modalities)
        width = max(3, len(str(ns.modalities)))
        return tuple(f"MOD{number:0{width}d}" for number in range(1, ns.modalities + 1))
    if not ns.station_ae:
        raise ConfigError(None, "--station-ae", "at least one --station-ae AE or --modalities N")
    stations = tuple(_ae("--station-ae", value) for value in ns.station_ae)
    if len(set(stations)) != len(stations):
        raise ConfigError(None, "--station-ae", "distinct AE titles", list(stations))
    return stations


def _mpps_peer(ns: argparse.Namespace, worklist: Peer) -> Peer:
    called = _ae("--mpps-aec", ns.mpps_aec) if ns.mpps_aec else worklist.called_ae
    if not ns.mpps:
        return Peer(worklist.host, worklist.port, called)
    host, sep, port = ns.mpps.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(None, "--mpps", "HOST:PORT with a port 1-65535", ns.mpps)
    return Peer(host, int(port), called)


def _date(text: str | None) -> str:
    if text is None:
        return datetime.date.today().strftime("%Y%m%d")
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        datetime.datetime.strptime(text, "%Y%m%d")
    except ValueError as exc:
        raise ConfigError(None, "--date", "a date YYYYMMDD", text) from exc
    return text


def _check_numbers(ns: argparse.Namespace) -> None:
    if not 0 < ns.port < 65536:
        raise ConfigError(None, "port", "a port 1-65535", ns.port)
    if not 0.0 <= ns.discontinue_rate <= 1.0:
        raise ConfigError(None, "--discontinue-rate", "a rate 0..1", ns.discontinue_rate)
    for name in ("series", "images", "steps"):
        value = getattr(ns, name)
        if value is not None and value <= 0:
            raise ConfigError(None, f"--{name}", "a positive number", value)
    for name in ("duration", "poll", "timeout"):
        value = getattr(ns, name)
        if value is not None and value <= 0:
            raise ConfigError(None, f"--{name}", "a duration above 0", value)


def configure(ns: argparse.Namespace) -> EmulatorSettings:
    """The checked settings of the command line (ConfigError names the flag)."""
    _check_numbers(ns)
    stations = _stations(ns)
    worklist = Peer(ns.host, ns.port, _ae("-aec", ns.call))
    if ns.report and not Path(ns.report).resolve().parent.is_dir():
        raise ConfigError(None, "--report", "a file in an existing folder", ns.report)
    modality = ns.modality.strip().upper() if ns.modality else None
    if modality is not None and not re.fullmatch(r"[A-Z0-9_ ]{1,16}", modality):
        raise ConfigError(None, "--modality", "a Modality code such as CT", ns.modality)
    return EmulatorSettings(
        stations=stations,
        worklist=worklist,
        mpps=_mpps_peer(ns, worklist),
        date=_date(ns.date),
        modality=modality,
        exam_time=ns.exam_time,
        discontinue_rate=ns.discontinue_rate,
        series=ns.series,
        images=ns.images,
        steps=ns.steps,
        duration=ns.duration,
        until_empty=ns.until_empty or (ns.steps is None and ns.duration is None),
        poll=ns.poll,
        timeout=ns.timeout,
        seed=ns.seed,
    )
