"""Operations pieces for aiodicom servers: security from config, audit log, metrics,
lifecycle (signals, drain, reload, SO_REUSEPORT workers) and a C-ECHO health check.

* :mod:`aiodicom.ops.security`: TLS server context, user identity checker (PS3.7
  D.3.3.7), calling-AE allow-list per called AE and peer address.
* :mod:`aiodicom.ops.server`: :class:`OpsServer`, a Server whose association policy
  includes those checks and whose observer writes audit lines and metrics.
* :mod:`aiodicom.ops.lifecycle`: SIGTERM/SIGINT drain, SIGHUP reload, worker processes.
* :mod:`aiodicom.ops.app`: ``--workers/--metrics-port/--security/--shutdown-deadline``
  flags and :func:`run_app` for server programs.
* :mod:`aiodicom.ops.healthcheck`: ``python -m aiodicom.ops.healthcheck HOST PORT``
  (not imported here, so ``-m`` runs it fresh).
"""

from aiodicom.ops.app import (
    AppParts,
    OpsOptions,
    add_ops_arguments,
    ops_options,
    run_app,
    secure_config,
)
from aiodicom.ops.security import SecuritySection
from aiodicom.ops.server import OpsHooks, OpsServer

__all__ = [
    "AppParts",
    "OpsHooks",
    "OpsOptions",
    "OpsServer",
    "SecuritySection",
    "add_ops_arguments",
    "ops_options",
    "run_app",
    "secure_config",
]
