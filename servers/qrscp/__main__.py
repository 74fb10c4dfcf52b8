"""``aiodicom-qrscp``: a Query/Retrieve C-FIND SCP over a folder of DICOM files, which also
stores and indexes what it receives by C-STORE.

Usage: ``aiodicom-qrscp --data DIR --port 11113 [--config config/qrscp.yaml] [--reindex]
[--index FILE | --index postgresql://user@host:port/db]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from aiodicom.config import (
    QRServerConfig,
    flag_error,
    is_database_url,
    load_qr_config,
    validate_qr_config,
)
from aiodicom.errors import AiodicomError, ConfigError
from aiodicom.log import configure
from aiodicom.ops import add_ops_arguments

from . import opsglue, sample  # opsglue: signals, security, metrics, audit

FLAG_KEYS = {
    "server.host": "host",
    "server.port": "port",
    "server.ae_title": "ae_title",
    "server.max_associations": "max_associations",
    "qr.max_matches": "max_matches",
}
"""Config keys set by a flag (argparse destination): their errors name the flag."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options; they override the config file."""
    parser = argparse.ArgumentParser(
        prog="aiodicom-qrscp",
        description="DICOM Query/Retrieve C-FIND SCP (Patient Root, Study Root, "
        "Patient/Study Only) over an index (SQLite or PostgreSQL) of a folder of DICOM files, "
        "and a Storage SCP (C-STORE into the folder and the index; config section storage).",
    )
    parser.add_argument("--data", type=Path, help="folder of DICOM files (recursive)")
    parser.add_argument("--port", type=int, help="TCP port (default 11113)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--ae-title", help="our AE title (default QRSCP)")
    parser.add_argument("--aet", dest="aet", help=argparse.SUPPRESS)  # deprecated alias
    parser.add_argument("--max-matches", type=int, help="refuse queries with more (0 = no limit)")
    parser.add_argument("--max-associations", type=int, help="concurrent associations (100)")
    parser.add_argument("--config", type=Path, help="YAML config (see config/qrscp.yaml)")
    parser.add_argument(
        "--index", help="SQLite index file, or postgresql://user@host:port/db (shared index)"
    )
    parser.add_argument("--reindex", action="store_true", help="rebuild the index from scratch")
    parser.add_argument("--no-watch", action="store_true", help="do not watch the folder")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--log-format", choices=("console", "json"))
    workers = "processes sharing the port; more than 1 needs a PostgreSQL --index"
    add_ops_arguments(parser, workers)  # --metrics-port/--security/--shutdown-deadline
    args = parser.parse_args(argv)
    if args.aet is not None:
        print("aiodicom-qrscp: --aet is deprecated, use --ae-title", file=sys.stderr)
        args.ae_title = args.ae_title or args.aet
    return args


def build_config(args: argparse.Namespace) -> QRServerConfig:
    """The config file (or defaults) with the command line options applied."""
    config = load_qr_config(args.config)
    net, qr, logging = config.server, config.qr, config.logging
    if args.port is not None:
        net = dataclasses.replace(net, port=args.port)
    if args.host is not None:
        net = dataclasses.replace(net, host=args.host)
    if args.ae_title is not None:
        net = dataclasses.replace(net, ae_title=args.ae_title)
    if args.max_associations is not None:
        net = dataclasses.replace(net, max_associations=args.max_associations)
    if args.max_matches is not None:
        qr = dataclasses.replace(qr, max_matches=args.max_matches)
    if args.data is not None:
        qr = dataclasses.replace(qr, data=args.data.resolve())
    elif args.config is None:
        qr = dataclasses.replace(qr, data=sample.template_folder())
    if sample.is_template(qr.data):  # the bundled sample itself is never written to
        qr = dataclasses.replace(qr, data=sample.prepare())
    if args.index is not None:
        index = args.index if is_database_url(args.index) else Path(args.index).resolve()
        qr = dataclasses.replace(qr, index=index)
    if args.no_watch:
        qr = dataclasses.replace(qr, watch=False)
    if args.log_level is not None:
        logging = dataclasses.replace(logging, level=args.log_level)
    if args.log_format is not None:
        logging = dataclasses.replace(logging, format=args.log_format)
    config = dataclasses.replace(config, server=net, qr=qr, logging=logging)
    if args.data is not None and not qr.data.is_dir():
        raise ConfigError(None, "--data", "an existing folder", str(args.data))
    try:
        return validate_qr_config(config)
    except ConfigError as exc:  # a value from a flag is blamed on the flag
        raise flag_error(exc, args, FLAG_KEYS) from None


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``aiodicom-qrscp``."""
    args = parse_args(argv)
    try:
        config = build_config(args)
        configure(config.logging.format, config.logging.level)
        code = opsglue.serve(config, args, build_config=build_config)  # aiodicom.ops
        if code:
            sys.exit(code)
    except AiodicomError as exc:
        print(f"aiodicom-qrscp: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
