"""``aiodicom-worklist``: a Modality Worklist SCP (PS3.4 Annex K) serving a data folder.

With no arguments it serves the bundled sample worklist, dated from today, from a working
copy (see :mod:`.sample`), with the bundled ``config/worklist.yaml``. Command-line flags
override the config file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from aiodicom.config import (
    WorklistServerConfig,
    flag_error,
    load_worklist_config,
    validate_worklist_config,
)
from aiodicom.errors import ConfigError, DataError, ListenError
from aiodicom.log import configure as configure_logging
from aiodicom.matching import MatchOptions
from aiodicom.net import ServerConfig
from aiodicom.ops import add_ops_arguments
from aiodicom.resources import bundled_folder
from aiodicom.store import WorklistStore, enumerate_ae_folders, is_item_name
from aiodicom.worklist import WorklistOptions, WorklistService

from ..network import network_policy
from . import (  # worklist management API + CLI
    hl7glue,  # HL7 v2 order feed (MLLP)
    manage,
    opsglue,  # signals, workers, security, metrics
    sample,
    webglue,
)

CONFIG_DIR = bundled_folder()
"""The bundled configs (the repository's ``config/``, installed as ``aiodicom.bundled``)."""
DEFAULT_CONFIG = CONFIG_DIR / "worklist.yaml"
FLAG_KEYS = {
    "server.host": "host",
    "server.port": "port",
    "server.ae_title": "ae_title",
    "server.max_associations": "max_associations",
    "worklist.max_matches": "max_matches",
    "http.host": "http_host",
    "http.port": "http_port",
    "hl7.port": "hl7_port",
    "hl7.host": "hl7_host",
}
"""Config keys set by a flag (argparse destination): their errors name the flag."""

COMMANDS_HELP = """commands (manage item files; no server needed):
  aiodicom-worklist add --patient-name N --patient-id ID --modality MR --start 2026-11-25T14:30
  aiodicom-worklist list [--date today] [--json]
  aiodicom-worklist remove ID [ID ...]
  aiodicom-worklist COMMAND --help    every option of a command and its format"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="aiodicom-worklist",
        description="Modality Worklist C-FIND SCP serving DATA/<AE title>/*.wl|*.yaml",
        epilog=COMMANDS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help=f"YAML config (default {DEFAULT_CONFIG})")
    parser.add_argument("--data", type=Path, help="data folder with one sub-folder per AE title")
    parser.add_argument("--host", help="address to bind (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default from config: 11112)")
    parser.add_argument("--ae-title", help="our own AE title (default from config: WLMSCP)")
    parser.add_argument("--max-matches", type=int, help="refuse queries with more matches")
    parser.add_argument("--max-associations", type=int, help="concurrent associations (100)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["console", "json"])
    parser.add_argument("--no-watch", action="store_true", help="do not reload on changes")
    webglue.add_arguments(parser)  # --http-host/--http-port/--http-token/--no-http
    hl7glue.add_arguments(parser)  # --hl7-port/--hl7-host
    workers = "processes sharing the port; more than 1 needs --no-http (one HTTP API)"
    add_ops_arguments(parser, workers)  # --workers/--metrics-port/--security/...
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> WorklistServerConfig:
    """Config file (bundled one by default), then flags on top (ConfigError on bad values)."""
    path = args.config if args.config is not None else DEFAULT_CONFIG
    config = load_worklist_config(path if path.exists() or args.config else None)
    server = dataclasses.replace(
        config.server,
        **{
            key: value
            for key, value in (
                ("host", args.host),
                ("port", args.port),
                ("ae_title", args.ae_title),
                ("max_associations", args.max_associations),
            )
            if value is not None
        },
    )
    worklist = config.worklist
    if args.data is not None:
        worklist = dataclasses.replace(worklist, data=args.data.resolve())
    elif sample.is_template(worklist.data):  # the bundled sample itself is never written to
        worklist = dataclasses.replace(worklist, data=sample.prepare())
    if args.max_matches is not None:
        worklist = dataclasses.replace(worklist, max_matches=args.max_matches)
    if args.no_watch:
        worklist = dataclasses.replace(worklist, watch=False)
    logging = config.logging
    if args.log_level is not None:
        logging = dataclasses.replace(logging, level=args.log_level)
    if args.log_format is not None:
        logging = dataclasses.replace(logging, format=args.log_format)
    config = dataclasses.replace(config, server=server, worklist=worklist, logging=logging)
    config = webglue.apply_arguments(config, args)  # the http: section flags
    config = hl7glue.apply_arguments(config, args)  # the hl7: section flags
    try:
        return validate_worklist_config(config)
    except ConfigError as exc:  # a value from a flag is blamed on the flag
        raise flag_error(exc, args, FLAG_KEYS) from None


def check_data_folder(config: WorklistServerConfig, args: argparse.Namespace) -> str | None:
    """Refuse a data folder that cannot serve any AE title; return a warning, if any.

    The folder holds one sub-folder per called AE title (PS3.8 9.3.4: any other called
    AE title is rejected). An AE folder given in its place (it holds item files and no
    sub-folders) is refused with the likely fix; an empty folder or item files lying
    beside the AE folders give a warning. Errors name ``--data`` when the flag set it.
    """
    data = config.worklist.data
    file, key = (None, "--data") if args.data is not None else (config.source, "worklist.data")
    if not data.is_dir():
        raise ConfigError(file, key, "an existing folder", str(data))
    titles = enumerate_ae_folders(data)
    loose = sorted(p.name for p in data.iterdir() if is_item_name(p.name) and p.is_file())
    if loose and not titles:
        fix = f"--data {data.parent}" if key == "--data" else f"worklist.data: {data.parent}"
        raise ConfigError(
            file,
            key,
            f"the folder holding one sub-folder per AE title, not an AE folder ({data} holds "
            f"item files itself; to serve them as AE title {data.name} use {fix})",
        )
    if not titles:
        return f"{data}: no AE title sub-folders: every association is rejected until one exists"
    if loose:
        shown = ", ".join(loose[:3]) + (" ..." if len(loose) > 3 else "")
        return f"{data}: item files outside any AE folder are not served: {shown}"
    return None


def server_config(config: WorklistServerConfig, store: WorklistStore) -> ServerConfig:
    """PS3.8 9.3.4: unknown called AE titles are rejected (reason 7) by ``has_ae``."""
    return network_policy(config.server, accept_called_ae=store.has_ae)


def build_service(config: WorklistServerConfig) -> tuple[WorklistStore, WorklistService]:
    if not config.worklist.data.is_dir():
        raise ConfigError(
            config.source, "worklist.data", "an existing folder", str(config.worklist.data)
        )
    store = WorklistStore(config.worklist.data)
    matching = MatchOptions(
        pn_case_sensitive=config.matching.pn_case_sensitive, fuzzy_pn=config.matching.fuzzy_pn
    )
    options = WorklistOptions(
        max_matches=config.worklist.max_matches,
        matching=matching,
        answer_cache_bytes=config.worklist.answer_cache_mb << 20,
    )
    return store, WorklistService(store, options)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in manage.COMMANDS:  # add / list / remove
        return manage.main(arguments)
    args = parse_args(arguments)
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"aiodicom-worklist: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.logging.format, config.logging.level)
    try:
        warning = check_data_folder(config, args)
    except ConfigError as exc:
        print(f"aiodicom-worklist: {exc}", file=sys.stderr)
        return 2
    if warning is not None:
        print(f"aiodicom-worklist: warning: {warning}", file=sys.stderr)
    try:  # served by aiodicom.ops (SIGHUP reload, --workers, drain deadline)
        return opsglue.serve(
            config,
            args,
            build_config=build_config,
            build_service=build_service,
            server_config=server_config,
        )
    except (ConfigError, DataError, ListenError) as exc:
        print(f"aiodicom-worklist: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
