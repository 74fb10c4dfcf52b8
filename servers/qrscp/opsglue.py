"""Glue between ``aiodicom-qrscp`` and :mod:`aiodicom.ops`.

:func:`serve` runs the :class:`QRApp` under :func:`aiodicom.ops.app.run_app`: SIGTERM /
SIGINT drain the associations, SIGHUP re-reads the config file and rescans the data
folder, ``--metrics-port`` and ``--security`` (TLS, user identity, access list) apply,
and the audit log records every association and query. ``--workers`` must stay 1 on an
SQLite index (a single writer); on a PostgreSQL index each worker is a node sharing it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aiodicom.config import QRServerConfig
from aiodicom.errors import ConfigError
from aiodicom.ops import (
    AppParts,
    OpsHooks,
    OpsServer,
    SecuritySection,
    ops_options,
    run_app,
    secure_config,
)

from .app import QRApp, server_config

BuildConfig = Callable[[argparse.Namespace], QRServerConfig]


def serve(config: QRServerConfig, args: argparse.Namespace, *, build_config: BuildConfig) -> int:
    """Run the Q/R SCP until SIGTERM/SIGINT; returns the exit code."""
    options = ops_options(args)
    if options.workers != 1 and config.index_url() is None:
        expected = "1 for aiodicom-qrscp on SQLite (one index writer; use a PostgreSQL --index)"
        raise ConfigError(None, "--workers", expected, options.workers)
    security_file = str(options.security) if options.security else None

    async def factory(hooks: OpsHooks, section: SecuritySection | None) -> AppParts:
        app = QRApp(config, reindex=args.reindex)
        settings = secure_config(
            server_config(config, app.service.options.extended_negotiation), section, security_file
        )
        server = OpsServer(settings, app.service.handlers(), hooks)
        app.serve_storage(server)
        app.server = server
        await _start_index(app)

        async def reload() -> None:
            fresh = build_config(args)
            extended = app.service.options.extended_negotiation
            server.reconfigure(
                secure_config(server_config(fresh, extended), section, security_file)
            )
            await app.index.scan()

        async def close() -> None:
            app.storage.close()
            await app.index.close()
            app.store.close()

        net = config.server
        return AppParts(server, net.host, net.port, reload, close)

    return run_app(factory, options)


async def _start_index(app: QRApp) -> None:
    """What :meth:`QRApp.start` does before listening: check the folder, (re)index, watch."""
    report = await app.start_index()
    app.log.info("qr_index_ready", data=str(app.config.qr.data), seconds=round(report.seconds, 3))
