"""``aiodicom-worklist``: a Modality Worklist SCP (PS3.4 Annex K) serving a data folder.

With no arguments it serves the bundled sample worklist, dated from today, from a working
copy (see :mod:`.sample`), with the bundled ``config/worklist.yaml``. Command-line flags override the config file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from aiodicom import log as aiodicom_log
from aiodicom.config import (
    WorklistServerConfig,
    flag_error,
    load_worklist_config,
    validate_worklist_config,
)
from aiodicom.errors import ConfigError, DataError, ListenError
from aiodicom.matching import MatchOptions
from aiodicom.net.server import ServerConfig
from aiodicom.ops.app import add_ops_arguments
from aiodicom.resources import bundled_folder
from aiodicom.services.worklist import WorklistOptions, WorklistService
from aiodicom.store.worklist import WorklistStore

from ..network import network_policy
from . import (  # worklist management API + CLI
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
    "http.port": "http_port",
}
"""Config keys set by a flag (argparse destination): their errors name the flag."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="aiodicom-worklist",
        description="Modality Worklist C-FIND SCP serving DATA/<AE title>/*.wl|*.yaml",
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
    try:
        return validate_worklist_config(config)
    except ConfigError as exc:  # a value from a flag is blamed on the flag
        raise flag_error(exc, args, FLAG_KEYS) from None


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
    aiodicom_log.configure(config.logging.format, config.logging.level)
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
