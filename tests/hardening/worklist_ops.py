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

from aiodicom import log as aiodicom_log
from aiodicom.errors import AiodicomError
from aiodicom.ops.app import AppParts, add_ops_arguments, ops_options, run_app, secure_config
from aiodicom.ops.security import SecuritySection
from aiodicom.ops.server import OpsHooks, OpsServer
from servers.worklist.__main__ import build_config, build_service, server_config
from servers.worklist.__main__ import parse_args as worklist_parse_args


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, argparse.Namespace]:
    """(ops flags, worklist flags): the worklist CLI parses everything that is not ours."""
    parser = argparse.ArgumentParser(prog="worklist-ops", add_help=False)
    add_ops_arguments(parser)
    ops, rest = parser.parse_known_args(argv)
    return ops, worklist_parse_args(rest)


def main(argv: Sequence[str] | None = None) -> int:
    args, worklist_args = parse_args(argv)
    try:
        options = ops_options(args)
        config = build_config(worklist_args)
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
            fresh = build_config(worklist_args)
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
