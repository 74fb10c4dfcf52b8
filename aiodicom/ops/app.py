"""Glue for server programs: ops command-line options and a runner with workers.

A server CLI adds :func:`add_ops_arguments` to its parser and hands :func:`run_app` an
async factory that builds its :class:`OpsServer` (plus reload/close callbacks) from the
:class:`OpsHooks`. ``run_app`` then runs one process, or ``--workers N`` forked
processes sharing the port with SO_REUSEPORT, each under a :class:`Lifecycle`.
With ``--metrics-port P`` worker *i* serves Prometheus metrics on port P + i.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiodicom.errors import AiodicomError, ConfigError, ListenError
from aiodicom.net.loop import run
from aiodicom.net.server import ServerConfig
from aiodicom.ops.audit import AuditLog
from aiodicom.ops.lifecycle import (
    Lifecycle,
    Reload,
    exit_cleanly_on_stop_signals,
    reuse_port_supported,
    run_workers,
)
from aiodicom.ops.metrics import Metrics
from aiodicom.ops.security import (
    AccessPolicy,
    SecuritySection,
    UserIdentityChecker,
    load_security,
    server_ssl_context,
)
from aiodicom.ops.server import OpsHooks, OpsServer


@dataclass(slots=True)
class OpsOptions:
    """The ops flags of a server program."""

    workers: int = 1
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    security: Path | None = None
    shutdown_deadline: float = 10.0
    audit: bool = True


def add_ops_arguments(
    parser: argparse.ArgumentParser, workers_help: str = "processes sharing the port"
) -> None:
    """The ops flags; ``workers_help`` says what ``--workers`` needs in this program."""
    group = parser.add_argument_group("operations")
    group.add_argument("--workers", type=int, default=1, help=workers_help)
    group.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics here")
    group.add_argument("--metrics-host", default="127.0.0.1", help="address for /metrics")
    group.add_argument("--security", type=Path, help="YAML file with a 'security' section")
    group.add_argument("--shutdown-deadline", type=float, default=10.0, help="drain seconds")
    group.add_argument("--no-audit", action="store_true", help="no audit log lines")


def ops_options(args: argparse.Namespace) -> OpsOptions:
    """OpsOptions from parsed flags; ConfigError names the bad flag."""
    if args.workers < 1:
        raise ConfigError(None, "--workers", "an integer >= 1", args.workers)
    if args.workers > 1 and not reuse_port_supported():
        raise ConfigError(None, "--workers", "1 on a platform without SO_REUSEPORT", args.workers)
    if args.shutdown_deadline < 0:
        raise ConfigError(None, "--shutdown-deadline", "seconds >= 0", args.shutdown_deadline)
    return OpsOptions(
        workers=args.workers,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        security=args.security,
        shutdown_deadline=args.shutdown_deadline,
        audit=not args.no_audit,
    )


def secure_config(
    config: ServerConfig, section: SecuritySection | None, file: str | None = None
) -> ServerConfig:
    """``config`` with the TLS context and user identity checker of ``section``."""
    if section is None:
        return config
    ssl_context = server_ssl_context(section.tls, file) if section.tls else config.ssl
    identity = config.user_identity
    if section.user_identity is not None:
        identity = UserIdentityChecker(section.user_identity, file)
    return dataclasses.replace(config, ssl=ssl_context, user_identity=identity)


def build_hooks(options: OpsOptions, section: SecuritySection | None) -> OpsHooks:
    """Access list, identity checker, audit log and metrics for one process."""
    file = str(options.security) if options.security else None
    access = AccessPolicy(section.access) if section and section.access is not None else None
    identity = (
        UserIdentityChecker(section.user_identity, file)
        if section and section.user_identity is not None
        else None
    )
    metrics = Metrics() if options.metrics_port is not None else None
    return OpsHooks(
        access=access, identity=identity, audit=AuditLog(enabled=options.audit), metrics=metrics
    )


@dataclass(slots=True)
class AppParts:
    """What an app factory returns: the server, where to listen, reload and close hooks."""

    server: OpsServer
    host: str
    port: int
    reload: Reload | None = None
    close: Callable[[], Awaitable[None]] | None = None


AppFactory = Callable[[OpsHooks, SecuritySection | None], Awaitable[AppParts]]


def run_app(factory: AppFactory, options: OpsOptions) -> int:
    """Run the app in this process, or in ``options.workers`` forked processes."""
    section = load_security(options.security) if options.security else None
    if options.workers == 1:
        exit_cleanly_on_stop_signals()
        try:
            return run(_serve(factory, options, section, 0, reuse_port=False))
        except SystemExit as stop:  # a stop signal while starting: nothing to drain
            return stop.code if isinstance(stop.code, int) else 1

    def worker(index: int) -> int:
        try:
            return run(_serve(factory, options, section, index, reuse_port=True))
        except AiodicomError as exc:  # one line per worker, no traceback; exit 2
            print(f"worker {index}: {exc}", file=sys.stderr)
            return 2

    return run_workers(options.workers, worker)


async def _serve(
    factory: AppFactory,
    options: OpsOptions,
    section: SecuritySection | None,
    index: int,
    *,
    reuse_port: bool,
) -> int:
    hooks = build_hooks(options, section)
    parts = await factory(hooks, section)
    try:
        try:
            await parts.server.start(parts.host, parts.port, reuse_port=reuse_port)
        except OSError as exc:  # the port is taken, privileged, or the address is not ours
            setting = "DICOM port: --port or server.port"
            raise ListenError(setting, parts.host, parts.port, exc) from None
        if hooks.metrics is not None and options.metrics_port is not None:
            port = options.metrics_port + index
            try:
                hooks.metrics.serve(port, options.metrics_host)
            except OSError as exc:
                raise ListenError("--metrics-port", options.metrics_host, port, exc) from None
        lifecycle = Lifecycle(
            parts.server, reload=parts.reload, shutdown_deadline=options.shutdown_deadline
        )
        return await lifecycle.run()
    finally:
        if parts.close is not None:
            await parts.close()
