"""The worklist SCP with the ops features, as the hardening tests run it in a subprocess.

    python -m tests.hardening.worklist_ops --config CONFIG.yaml [--security SEC.yaml]
        [--workers N] [--metrics-port P] [--shutdown-deadline S] [worklist flags]

It is ``aiodicom-worklist`` (servers/worklist) built on :class:`aiodicom.ops.OpsServer`
and run by :func:`aiodicom.ops.app.run_app`: SIGTERM drains, SIGHUP reloads the config
file and the data, ``--workers`` shares the port. This is the integration the worklist
CLI needs; it lives here until that CLI adopts it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aiodicom import log as aiodicom_log
from aiodicom.errors import AiodicomError
from aiodicom.ops.app import AppParts, add_ops_arguments, ops_options, run_app, secure_config
from aiodicom.ops.security import SecuritySection
from aiodicom.ops.server import OpsHooks, OpsServer
from servers.worklist.__main__ import build_config, build_service, server_config


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="worklist-ops")
    for flag in ("--config", "--data", "--host", "--ae-title", "--log-level", "--log-format"):
        parser.add_argument(flag)
    parser.add_argument("--port", type=int)
    parser.add_argument("--max-matches", type=int)
    parser.add_argument("--no-watch", action="store_true")
    add_ops_arguments(parser)
    return parser.parse_args(argv)


def _worklist_args(args: argparse.Namespace) -> argparse.Namespace:
    values = vars(args).copy()
    for key in ("config", "data"):
        if values[key] is not None:
            values[key] = Path(values[key])
    return argparse.Namespace(**values)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        options = ops_options(args)
        config = build_config(_worklist_args(args))
    except AiodicomError as exc:
        print(f"worklist-ops: {exc}", file=sys.stderr)
        return 2
    aiodicom_log.configure(config.logging.format, config.logging.level)
    security_file = str(options.security) if options.security else None

    async def factory(hooks: OpsHooks, section: SecuritySection | None) -> AppParts:
        store, service = build_service(config)
        store.reload()
        server = OpsServer(
            secure_config(server_config(config, store), section, security_file),
            service.handlers(),
            hooks,
        )

        async def reload() -> None:
            fresh = build_config(_worklist_args(args))
            server.reconfigure(secure_config(server_config(fresh, store), section, security_file))
            await store.reload_async()

        return AppParts(server, config.server.host, config.server.port, reload=reload)

    try:
        return run_app(factory, options)
    except AiodicomError as exc:
        print(f"worklist-ops: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
