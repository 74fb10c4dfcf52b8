"""Container health check: one C-ECHO (PS3.7 9.1.5) against a running SCP.

    python -m aiodicom.ops.healthcheck [--called-ae ANY-SCP] [--timeout 5] HOST PORT

Exit code 0 when the SCP answers C-ECHO with Success (0x0000), 1 otherwise; one line on
stdout/stderr says what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from aiodicom.errors import AiodicomError
from aiodicom.net.client import connect
from aiodicom.proto.status import SUCCESS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aiodicom-healthcheck", description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--called-ae", default="ANY-SCP", help="called AE title")
    parser.add_argument("--calling-ae", default="HEALTHCHECK", help="our AE title")
    parser.add_argument("--timeout", type=float, default=5.0, help="whole check, seconds")
    return parser.parse_args(argv)


async def echo(host: str, port: int, called_ae: str, calling_ae: str, seconds: float) -> int:
    """Associate, C-ECHO, release; return the C-ECHO status."""
    async with asyncio.timeout(seconds):
        association = connect(
            host,
            port,
            calling_ae=calling_ae,
            called_ae=called_ae,
            models=(),
            connect_timeout=seconds,
            acse_timeout=seconds,
            dimse_timeout=seconds,
        )
        async with association as assoc:
            return await assoc.echo()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        status = asyncio.run(
            echo(args.host, args.port, args.called_ae, args.calling_ae, args.timeout)
        )
    except (AiodicomError, OSError, TimeoutError) as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if status != SUCCESS:
        print(f"unhealthy: C-ECHO status 0x{status:04X}", file=sys.stderr)
        return 1
    print(f"healthy: C-ECHO 0x{status:04X} from {args.host}:{args.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
