"""Command line of ``aiodicom-findscu``: DCMTK findscu's options, defaults and exit codes.

Options follow DCMTK findscu 3.6.7 (same names, same defaults); ``@file`` arguments are
expanded first, as DCMTK does (whitespace-separated tokens, double quotes group, no
nesting). Additions: ``--json``, ``--json-array`` and ``--concurrency``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from aiodicom.errors import ConfigError

from .console import ConsoleLog
from .dictionary import load_dictionary_path
from .keys import OverrideKey, parse_keys


class ExitCode(IntEnum):
    """Exit status of aiodicom-findscu (documented in ``--help`` and docs/clients.md)."""

    SUCCESS = 0  # final status Success (or Cancel when --cancel asked for it)
    FIND_FAILED = 1  # a final Failure / Refused status (PS3.7 Annex C)
    USAGE = 2  # bad option, bad -k syntax, unreadable @command file
    REJECTED = 3  # A-ASSOCIATE-RJ (PS3.8 9.3.4)
    ABORTED = 4  # A-ABORT / A-P-ABORT / connection lost (PS3.8 9.3.8)
    TIMEOUT = 5  # connect, ACSE or DIMSE timeout
    CONNECTION = 6  # TCP connect failed, TLS handshake failed, no usable context
    UNEXPECTED_CANCEL = 7  # 0xFE00 although we did not ask to cancel
    DATA = 8  # unreadable query file, output not writable
    INTERNAL = 9  # anything else (a bug)
    INTERRUPTED = 130  # Ctrl-C


EXIT_EPILOG = """exit status:
  0  every C-FIND ended with Success (or Cancel after --cancel n)
  1  a C-FIND ended with a Failure or Refused status (e.g. A700, A900, Cxxx)
  2  usage error: unknown option, bad -k key, bad @command file, bad TLS key/cert
  3  association rejected by the peer (A-ASSOCIATE-RJ)
  4  association aborted (A-ABORT, A-P-ABORT or connection lost)
  5  timeout (-to connect, -ta ACSE, -td DIMSE)
  6  connection error (refused, unreachable, TLS handshake, no accepted context)
  7  the peer answered Cancel (FE00) although --cancel was not given
  8  data error: unreadable query file, output directory not writable
  9  internal error
  130  interrupted (Ctrl-C)
With several query files the exit status is that of the first one that failed."""

MODEL_WORKLIST = "worklist"
TS_DEFAULT = "uncompr"


def read_command_file(path: str) -> list[str]:
    """DCMTK command file: tokens split on whitespace, ``"..."`` groups, quotes removed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "@command file", "a readable text file", str(exc)) from exc
    tokens: list[str] = []
    current: list[str] = []
    in_quotes = had_token = False
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
            had_token = True
        elif char.isspace() and not in_quotes:
            if had_token:
                tokens.append("".join(current))
            current, had_token = [], False
        else:
            current.append(char)
            had_token = True
    if in_quotes:
        raise ConfigError(path, "@command file", "balanced double quotes")
    if had_token:
        tokens.append("".join(current))
    if any(token.startswith("@") for token in tokens):
        raise ConfigError(path, "@command file", "no nested @command file")
    return tokens


def expand_arguments(argv: Sequence[str]) -> list[str]:
    """Replace every ``@file`` argument with the tokens of that file."""
    out: list[str] = []
    for arg in argv:
        if arg.startswith("@") and len(arg) > 1:
            out.extend(read_command_file(arg[1:]))
        else:
            out.append(arg)
    return out


UNSUPPORTED_OPTIONS: dict[str, int] = {
    # DCMTK findscu (3.6.7, and --dhparam of the TLS tools) options we do not implement,
    # with the number of values each takes: named in the error instead of misparsed.
    "+crv": 0, "--enable-crl-vfy": 0, "+cra": 0, "--enable-crl-all": 0,
    "+pa": 0, "--profile-aes": 0, "+pn": 0, "--profile-null": 0,
    "+cc": 0, "--list-ciphers": 0, "--dhparam": 1,
    "+rs": 1, "--seed": 1, "+ws": 0, "--write-seed": 0, "+wf": 1, "--write-seed-file": 1,
    "-Xx": 0, "--extract-xml": 0, "-Xs": 1, "--extract-xml-single": 1,
}  # fmt: skip


def _looks_like_option(token: str) -> bool:
    if len(token) < 2 or token[0] not in "-+":
        return False
    return not token[1:].replace(".", "", 1).isdigit()  # -5, +1.5 are values


def _value_count(action: argparse.Action) -> int:
    nargs = action.nargs
    if nargs is None:
        return 1
    return nargs if isinstance(nargs, int) else 0


def check_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """Name unknown and unsupported options before argparse sees them.

    argparse would take ``--dhparam file host 104`` as peer ``file`` and port ``host``.
    A value of a known option is glued to it (``-aet=-ME-``) so a value that starts with
    ``-`` or ``+`` stays a value, as in DCMTK.
    """
    known = parser._option_string_actions  # argparse has no public map of options
    out: list[str] = []
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        action = known.get(token) or known.get(token.split("=", 1)[0])
        if action is not None:
            count = _value_count(action) if token in known else 0
            values = tokens[index : index + count]
            index += count
            out.append(f"{token}={values[0]}" if count == 1 and values else token)
            out.extend(values[1:] if count == 1 else values)
        elif token in UNSUPPORTED_OPTIONS:
            parser.error(f"{token}: DCMTK findscu option not supported by aiodicom-findscu")
        elif _looks_like_option(token):
            parser.error(f"{token}: unknown option (see --help)")
        else:
            out.append(token)
    return out


def _add_general(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("general options")
    group.add_argument("-h", "--help", action="help", help="print this help text and exit")
    group.add_argument("--version", action="version", version="aiodicom-findscu 0.1.0")
    group.add_argument("--arguments", action="store_true", help="print expanded arguments")
    group.add_argument("-q", "--quiet", dest="log_level", action="store_const", const="fatal")
    group.add_argument("-v", "--verbose", dest="log_level", action="store_const", const="info")
    group.add_argument("-d", "--debug", dest="log_level", action="store_const", const="debug")
    group.add_argument(
        "-ll",
        "--log-level",
        dest="log_level",
        choices=("fatal", "error", "warn", "info", "debug", "trace"),
    )
    group.add_argument("-lc", "--log-config", metavar="FILE", help="ignored (no oflog config)")


def _add_network(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network options")
    group.add_argument(
        "-k",
        "--key",
        action="append",
        default=[],
        metavar="KEY",
        help='override matching key: gggg,eeee="str", path or dict. name="str"',
    )
    for flag, long, model in (
        ("-W", "--worklist", MODEL_WORKLIST),
        ("-P", "--patient", "patient"),
        ("-S", "--study", "study"),
        ("-O", "--psonly", "patient-study"),
    ):
        group.add_argument(
            flag,
            long,
            dest="model",
            action="store_const",
            const=model,
            help=f"use the {model} information model",
        )
    group.add_argument("-aet", "--aetitle", default="FINDSCU", help="calling AE (FINDSCU)")
    group.add_argument("-aec", "--call", default="ANY-SCP", help="called AE (ANY-SCP)")
    group.add_argument(
        "+u",
        "--enable-new-vr",
        dest="new_vr",
        action="store_true",
        default=True,
        help="enable new VRs (UN/UT) (default)",
    )
    group.add_argument(
        "-u",
        "--disable-new-vr",
        dest="new_vr",
        action="store_false",
        help="accepted for compatibility; pydicom always knows UN/UT",
    )
    for flag, long, mode in (
        ("-x=", "--propose-uncompr", TS_DEFAULT),
        ("-xe", "--propose-little", "little"),
        ("-xb", "--propose-big", "big"),
        ("-xd", "--propose-deflated", "deflated"),
        ("-xi", "--propose-implicit", "implicit"),
    ):
        group.add_argument(flag, long, dest="ts_mode", action="store_const", const=mode)
    group.add_argument("+cl", "--compression-level", type=int, default=6, choices=range(10))
    group.add_argument("-to", "--timeout", type=int, default=None, help="connect timeout")
    group.add_argument("-ts", "--socket-timeout", type=int, default=60)
    group.add_argument("-ta", "--acse-timeout", type=int, default=30)
    group.add_argument("-td", "--dimse-timeout", type=int, default=None)
    group.add_argument("-pdu", "--max-pdu", type=int, default=16384, help="4096..131072")
    group.add_argument("--repeat", type=int, default=1, metavar="N")
    group.add_argument("--abort", action="store_true", help="abort instead of release")
    group.add_argument(
        "--cancel", type=int, default=None, metavar="N", help="cancel after N responses"
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="run query files over N parallel associations",
    )


def _add_tls(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("transport layer security (TLS) options")
    group.add_argument("-tls", "--disable-tls", dest="tls", action="store_const", const=None)
    group.add_argument("+tls", "--enable-tls", dest="tls", nargs=2, metavar=("KEY", "CERT"))
    group.add_argument("+tla", "--anonymous-tls", dest="tls", action="store_const", const=())
    group.add_argument("+ps", "--std-passwd", dest="password", action="store_const", const=None)
    group.add_argument("+pw", "--use-passwd", dest="password", metavar="PASSWORD")
    group.add_argument("-pw", "--null-passwd", dest="password", action="store_const", const="")
    group.add_argument(
        "-pem",
        "+pem",
        "--pem-keys",
        dest="key_format",
        action="store_const",
        const="pem",
        default="pem",
    )
    group.add_argument(
        "-der", "+der", "--der-keys", dest="key_format", action="store_const", const="der"
    )
    group.add_argument("+cf", "--add-cert-file", dest="cert_files", action="append", default=[])
    group.add_argument("+cd", "--add-cert-dir", dest="cert_dirs", action="append", default=[])
    group.add_argument("+crl", "--add-crl-file", dest="crl_files", action="append", default=[])
    for flag, long in (
        ("+py", "--profile-bcp195-nd"),
        ("+px", "--profile-bcp195"),
        ("+pz", "--profile-bcp195-ex"),
    ):
        group.add_argument(flag, long, dest="tls_profile", action="store_const", const=long[10:])
    group.add_argument("+cs", "--cipher", dest="ciphers", action="append", default=[])
    group.add_argument(
        "-rc",
        "--require-peer-cert",
        dest="peer_cert",
        action="store_const",
        const="require",
        default="require",
    )
    group.add_argument(
        "-vc", "+rv", "--verify-peer-cert", dest="peer_cert", action="store_const", const="verify"
    )
    group.add_argument(
        "-ic", "--ignore-peer-cert", dest="peer_cert", action="store_const", const="ignore"
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output options")
    group.add_argument("-od", "--output-directory", default=".", metavar="DIR")
    group.add_argument("+dc", "--enable-correction", dest="correction", action="store_true")
    group.add_argument("-dc", "--disable-correction", dest="correction", action="store_false")
    group.add_argument("+sr", "--show-responses", dest="show", action="store_const", const=True)
    group.add_argument("-sr", "--hide-responses", dest="show", action="store_const", const=False)
    group.add_argument("-X", "--extract", action="store_true", help="write rsp0001.dcm ...")
    group.add_argument("-Xlo", "--limit-output", type=int, default=None, metavar="N")
    group.add_argument(
        "--json",
        dest="json",
        action="store_const",
        const="lines",
        help="print responses as DICOM JSON (PS3.18 F.2), one per line",
    )
    group.add_argument(
        "--json-array",
        dest="json",
        action="store_const",
        const="array",
        help="print all responses as one DICOM JSON array",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser; ``+`` and ``-`` both start options, as in DCMTK."""
    parser = argparse.ArgumentParser(
        prog="aiodicom-findscu",
        description="DICOM query (C-FIND) SCU, DCMTK findscu compatible",
        usage="%(prog)s [options] peer port [dcmfile-in...]",
        epilog=EXIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prefix_chars="-+",
        allow_abbrev=False,
        add_help=False,
    )
    parser.add_argument("peer", help="hostname of DICOM peer")
    parser.add_argument("port", type=int, help="tcp/ip port number of peer")
    parser.add_argument("files", nargs="*", metavar="dcmfile-in", help="DICOM query file(s)")
    _add_general(parser)
    _add_network(parser)
    _add_tls(parser)
    _add_output(parser)
    parser.set_defaults(
        model=MODEL_WORKLIST,
        ts_mode=TS_DEFAULT,
        log_level="warn",
        tls=None,
        password=None,
        tls_profile="bcp195-nd",
        show=None,
        json=None,
        correction=False,
    )
    return parser


def _check_ranges(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    if not 4096 <= ns.max_pdu <= 131072:
        parser.error(f"-pdu/--max-pdu: expected 4096..131072, got {ns.max_pdu}")
    if not 1 <= ns.port <= 65535:
        parser.error(f"port: expected 1..65535, got {ns.port}")
    for name in ("repeat", "concurrency"):
        if getattr(ns, name) < 1:
            parser.error(f"--{name}: expected a positive number, got {getattr(ns, name)}")
    if ns.cancel is not None and ns.cancel < 0:
        parser.error(f"--cancel: expected a number >= 0, got {ns.cancel}")
    for name in ("timeout", "acse_timeout", "dimse_timeout"):
        value = getattr(ns, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')}: expected seconds > 0, got {value}")
    if not ns.files and not ns.key:
        parser.error("no query: give a query file (dcmfile-in) or at least one -k key")


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[OverrideKey]]:
    """Parse (and ``@``-expand) ``argv``; exits with status 2 on usage errors."""
    parser = build_parser()
    try:
        expanded = expand_arguments(argv)
    except ConfigError as exc:
        parser.error(str(exc))
    ns = parser.parse_args(check_options(parser, expanded))
    _check_ranges(parser, ns)
    try:
        problems = load_dictionary_path(os.environ.get("DCMDICTPATH"))
    except ConfigError as exc:
        parser.error(f"DCMDICTPATH: {exc}")
    for problem in problems:
        ConsoleLog(ns.log_level).warn(problem)
    try:
        keys = parse_keys(ns.key)
    except ConfigError as exc:
        parser.error(f"bad override key: {exc}")
    if ns.arguments:
        print("expanded command line arguments:")
        print("\n".join(expanded))
    return ns, keys
