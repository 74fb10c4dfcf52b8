"""``aiodicom-worklist add|list|remove``: manage item files without the HTTP server.

Writes go straight to the data folder with the same rules as the HTTP API
(:mod:`aiodicom.webapi`): values checked against PS3.5 6.2, generated identifiers,
atomic ``os.replace`` writes. A running server picks the change up by hot reload.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiodicom.config import load_worklist_config
from aiodicom.errors import ConfigError, DataError
from aiodicom.resources import bundled_folder
from aiodicom.store import WorklistStore
from aiodicom.webapi import (
    PRIORITIES,
    STATUSES,
    ItemFiles,
    ItemInvalid,
    Listing,
    item_from_body,
    parse_iso_date,
)

from . import sample

COMMANDS = ("add", "list", "remove")
DEFAULT_CONFIG = bundled_folder() / "worklist.yaml"
ADD_OPTIONS = ("patient_name", "patient_id", "birth_date", "sex", "modality", "station_ae",
               "station_name", "start", "description", "accession_number", "priority",
               "performing_physician", "referring_physician", "location", "status")  # fmt: skip
ADD_HELP = {
    "start": "scheduled start, ISO 8601 date-time, e.g. 2026-11-25T14:30",
    "birth_date": "YYYY-MM-DD (or YYYYMMDD)",
    "priority": "one of " + ", ".join(PRIORITIES),
    "status": "one of " + ", ".join(STATUSES) + " (default SCHEDULED)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodicom-worklist", description="Manage worklist item files (no server needed)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help=f"YAML config (default {DEFAULT_CONFIG})")
    common.add_argument("--data", type=Path, help="data folder (overrides worklist.data)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", parents=[common], help="write a new item YAML file")
    for name in ADD_OPTIONS:
        required = name in {"patient_name", "patient_id", "modality", "start"}
        flag = "--" + name.replace("_", "-")
        add.add_argument(flag, dest=name, required=required, help=ADD_HELP.get(name))
    add.add_argument("--id", help="item id = file name stem (generated if absent)")
    add.add_argument("--ae-title", help="called AE folder (default: server.ae_title)")
    add.add_argument(
        "--create-ae", action="store_true", help="create the --ae-title folder if it is new"
    )
    listing = sub.add_parser("list", parents=[common], help="list items")
    for name in ("date", "modality", "station_ae", "patient", "status", "ae_title"):
        listing.add_argument("--" + name.replace("_", "-"), dest=name, default="")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    remove = sub.add_parser("remove", parents=[common], help="delete item files by id")
    remove.add_argument("ids", nargs="+", metavar="ID")
    return parser


def _folder(args: argparse.Namespace) -> tuple[Path, str]:
    path = args.config if args.config is not None else DEFAULT_CONFIG
    config = load_worklist_config(path if path.exists() or args.config else None)
    root = args.data.resolve() if args.data is not None else config.worklist.data
    if args.data is None and sample.is_template(root):  # as the server does: the working copy
        root = sample.prepare()
    if not root.is_dir():
        raise ConfigError(config.source, "worklist.data", "an existing folder", str(root))
    return root, config.server.ae_title


def add(args: argparse.Namespace) -> int:
    root, default_ae = _folder(args)
    body = {name: getattr(args, name) for name in ADD_OPTIONS if getattr(args, name)}
    if args.id:
        body["id"] = args.id
    ds, meta = item_from_body(body)
    item_id = meta.get("id") or ItemFiles.new_id()
    item = ItemFiles(root, default_ae).create_now(ds, item_id, args.ae_title, args.create_ae)
    print(f"{item.item_id}\t{item.path}")
    return 0


def list_items(args: argparse.Namespace) -> int:
    root, _ = _folder(args)
    filters = {name: getattr(args, name) for name in
               ("date", "modality", "station_ae", "patient", "status", "ae_title")}  # fmt: skip
    if filters["date"]:
        text = filters["date"]
        today = datetime.date.today().strftime("%Y%m%d")
        date = today if text == "today" else parse_iso_date(text)
        if date is None:
            raise ConfigError(None, "--date", "a date YYYY-MM-DD, YYYYMMDD or today", text)
        filters["date"] = date
    rows = Listing(WorklistStore(root)).select(filters)
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=1, ensure_ascii=False))
        return 0
    for row in rows:
        f = row.fields
        columns = [row.item_id or row.file, f["start"] or "-", f["patient_name"]]
        columns += [f["patient_id"], f["modality"], f["station_ae"], f["status"]]
        print("\t".join(columns))
    return 0


def remove(args: argparse.Namespace) -> int:
    root, default_ae = _folder(args)
    files = ItemFiles(root, default_ae)
    for item_id in args.ids:
        files.delete_now(item_id, "*")
        print(f"removed {item_id}")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point for ``aiodicom-worklist add|list|remove ...`` (exit 2 on bad input)."""
    args = _parser().parse_args(argv)
    command = {"add": add, "list": list_items, "remove": remove}[args.command]
    try:
        code = command(args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below, not at exit
        return code
    except ItemInvalid as exc:
        for error in exc.errors:
            print(f"aiodicom-worklist: {error.field}: {error.rule}", file=sys.stderr)
        return 2
    except (ConfigError, DataError) as exc:
        print(f"aiodicom-worklist: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `list | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
