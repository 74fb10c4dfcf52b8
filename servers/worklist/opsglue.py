"""Glue between ``aiodicom-worklist`` and :mod:`aiodicom.ops`.

Kept out of ``__main__`` so the server module only gains two marked calls: the ops
command-line flags and :func:`serve`, which runs the server under
:func:`aiodicom.ops.app.run_app` - SIGTERM/SIGINT drain, SIGHUP reloads the config file
and the data, ``--workers N`` shares the port (SO_REUSEPORT), ``--metrics-port``,
``--security`` (TLS, user identity, access list) and the audit log.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aiodicom.config import WorklistServerConfig
from aiodicom.errors import ConfigError
from aiodicom.log import get_logger
from aiodicom.net import ServerConfig
from aiodicom.ops import (
    AppParts,
    OpsHooks,
    OpsServer,
    SecuritySection,
    ops_options,
    run_app,
    secure_config,
)
from aiodicom.store import WorklistStore
from aiodicom.worklist import WorklistService

from . import hl7glue, mppsglue, webglue

BuildConfig = Callable[[argparse.Namespace], WorklistServerConfig]
BuildService = Callable[[WorklistServerConfig], tuple[WorklistStore, WorklistService]]
MakeServerConfig = Callable[[WorklistServerConfig, WorklistStore], ServerConfig]


def serve(
    config: WorklistServerConfig,
    args: argparse.Namespace,
    *,
    build_config: BuildConfig,
    build_service: BuildService,
    server_config: MakeServerConfig,
) -> int:
    """Run the worklist SCP until SIGTERM/SIGINT; returns the exit code."""
    options = ops_options(args)
    if options.workers > 1 and config.http.enabled:
        raise ConfigError(None, "--workers", "1 while the HTTP API is on (add --no-http)", 2)
    if options.workers > 1 and config.hl7.port is not None:
        raise ConfigError(None, "--workers", "1 while the HL7 listener is on (one writer)", 2)
    security_file = str(options.security) if options.security else None

    async def factory(hooks: OpsHooks, section: SecuritySection | None) -> AppParts:
        get_logger(app="worklist").info("loading worklist", data=str(config.worklist.data))
        store, service = build_service(config)  # the one full load before listening
        store.log_snapshot()
        query_log, handlers = webglue.handlers(config, service)
        server_settings = secure_config(server_config(config, store), section, security_file)
        server = OpsServer(server_settings, handlers, hooks)
        mpps = mppsglue.attach(config, store, server, query_log)  # MPPS SCP, same port
        http = await webglue.start(config, store, query_log, mpps)
        try:
            hl7 = await hl7glue.start(config, store)
        except BaseException:
            if http is not None:
                await http.stop()
            raise
        if config.worklist.watch:
            store.start_watching(poll_interval=config.worklist.poll_interval)

        async def reload() -> None:
            fresh = build_config(args)
            server.reconfigure(secure_config(server_config(fresh, store), section, security_file))
            await store.reload_async()

        async def close() -> None:
            if hl7 is not None:
                await hl7.stop()
            if http is not None:
                await http.stop()
            await store.stop_watching()

        return AppParts(server, config.server.host, config.server.port, reload, close)

    return run_app(factory, options)
